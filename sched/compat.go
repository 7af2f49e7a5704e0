package sched

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/mrredis/mrredis/internal/model"
)

// compatRoutes serves the MrRedis (mesos/mr-redis) v1 API so that its
// users' scripts keep working. mrredis runs one master per instance, so
// CREATE accepts only masters = 1.
func (s *Scheduler) compatRoutes(r *mux.Router) {
	r.HandleFunc("/v1/CREATE/{name}/{capacity}/{masters}/{slaves}", s.compatCreate).Methods(http.MethodPost)
	r.HandleFunc("/v1/STATUS/{name}", s.compatStatus).Methods(http.MethodGet)
	r.HandleFunc("/v1/DELETE/{name}", s.compatDelete).Methods(http.MethodDelete)
}

func (s *Scheduler) compatCreate(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	capacity, err1 := strconv.Atoi(v["capacity"])
	masters, err2 := strconv.Atoi(v["masters"])
	slaves, err3 := strconv.Atoi(v["slaves"])
	switch {
	case err1 != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("capacity %q is not a number of MB", v["capacity"]))
		return
	case err2 != nil || masters != 1:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("masters %q is not supported: mrredis runs exactly 1 master per instance", v["masters"]))
		return
	case err3 != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("slaves %q is not a number", v["slaves"]))
		return
	}
	s.create(w, r, model.Spec{Name: v["name"], MemoryMB: capacity, Replicas: slaves})
}

func (s *Scheduler) compatDelete(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	s.onLeader(w, r, func(ctx context.Context, l *leaderLoop) (any, error) { return l.delete(ctx, name) })
}

// compatMember and compatStatus follow the shape of MrRedis' STATUS answer.
type compatMember struct {
	IP    string `json:"IP"`
	Port  string `json:"Port"`
	State string `json:"State"`
	Type  string `json:"Type"`
	ID    string `json:"ID"`
}

type compatStatus struct {
	Name       string         `json:"Name"`
	Type       string         `json:"Type"`
	Status     string         `json:"Status"`
	Capacity   int            `json:"Capacity"`
	Masters    int            `json:"Masters"`
	Slaves     int            `json:"Slaves"`
	ExpMasters int            `json:"ExpMasters"`
	ExpSlaves  int            `json:"ExpSlaves"`
	ProxyPort  int            `json:"ProxyPort"`
	Master     *compatMember  `json:"Master"`
	Slaveslist []compatMember `json:"Slaveslist"`
}

func (s *Scheduler) compatStatus(w http.ResponseWriter, r *http.Request) {
	v, err := s.getView(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		s.fail(w, err)
		return
	}
	out := compatStatus{
		Name: v.Name, Type: "MS", Status: string(v.State), Capacity: v.MemoryMB,
		ExpMasters: 1, ExpSlaves: v.Replicas, ProxyPort: v.ProxyPort, Slaveslist: []compatMember{},
	}
	for _, m := range v.Members {
		cm := compatMember{IP: m.Host, Port: strconv.Itoa(m.Port), State: m.State, ID: m.TaskID, Type: "S"}
		if m.TaskID == v.MasterTask {
			cm.Type = "M"
			out.Master = &cm
			out.Masters++
			continue
		}
		out.Slaves++
		out.Slaveslist = append(out.Slaveslist, cm)
	}
	writeJSON(w, http.StatusOK, out)
}
