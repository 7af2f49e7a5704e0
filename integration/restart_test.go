package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/mrredis/mrredis/internal/model"
)

// TestSchedulerKilledAndRestarted kills -9 the scheduler once right after a
// create was accepted and once with everything running; each restarted
// scheduler must find every instance, keep the framework id, and finish
// what the dead one started, while the data stays.
func TestSchedulerKilledAndRestarted(t *testing.T) {
	s := newSystem(t, options{agents: 3})
	s.startProxy()
	ctx := s.ctx()
	fwID := frameworkIDs(t, s)
	if len(fwID) != 1 {
		t.Fatalf("want one framework, got %v", fwID)
	}

	v := s.create(model.Spec{Name: "steady", MemoryMB: 32, Replicas: 1})
	if err := redisAt(t, v.Master, "").Set(ctx, "survives", "yes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	members := memberSet(v)

	// Kill mid-create: the create is accepted (202) but nothing runs yet.
	if _, err := s.api.Create(ctx, model.Spec{Name: "midway", MemoryMB: 32, Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	s.killSched()
	s.startSched()
	// The new scheduler answers with every instance at once.
	list, err := s.api.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("after restart: %d instances, %v; want steady and midway", len(list), err)
	}
	s.waitFor("midway", "RUNNING after a restart mid-create", func(v model.InstanceView) bool {
		return v.State == model.StateRunning && v.ReplicasInSync == 2
	})

	// Kill with everything running: members are untouched.
	s.killSched()
	s.startSched()
	after := s.waitFor("steady", "RUNNING after restart", func(v model.InstanceView) bool { return v.State == model.StateRunning })
	if got := memberSet(after); fmt.Sprint(got) != fmt.Sprint(members) {
		t.Fatalf("members changed across restarts: before %v after %v", members, got)
	}
	if got, err := redisAt(t, after.Master, "").Get(ctx, "survives").Result(); err != nil || got != "yes" {
		t.Fatalf("data after restart: %q, %v", got, err)
	}
	if ids := frameworkIDs(t, s); fmt.Sprint(ids) != fmt.Sprint(fwID) {
		t.Fatalf("framework id changed: before %v after %v", fwID, ids)
	}
}

func memberSet(v model.InstanceView) map[string]string {
	m := map[string]string{}
	for _, mem := range v.Members {
		m[mem.TaskID] = mem.Addr()
	}
	return m
}

// frameworkIDs reads the local master's /state: the frameworks it knows,
// active or disconnected, but not completed ones.
func frameworkIDs(t *testing.T, s *system) []string {
	t.Helper()
	resp, err := http.Get(s.mesos.URL() + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Frameworks []struct {
			ID string `json:"id"`
		} `json:"frameworks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("decode /state: %v", err)
	}
	var ids []string
	for _, f := range st.Frameworks {
		ids = append(ids, f.ID)
	}
	return ids
}
