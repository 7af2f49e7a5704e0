package sched

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/mrredis/mrredis/internal/model"
)

// publish makes the leader's current views visible to the API, sends
// events for what changed, and refreshes the pinger's targets and the
// metrics. It runs on the loop goroutine after each event.
func (l *leaderLoop) publish() {
	l.stored = false
	views := map[string]model.InstanceView{}
	rendered := map[string][]byte{}
	for _, v := range l.core.Views() {
		views[v.Name] = v
		rendered[v.Name], _ = json.Marshal(v)
	}
	l.pingMu.Lock()
	l.pingTargets = l.core.PingTargets()
	l.pingMu.Unlock()
	s := l.s
	s.mu.Lock()
	old := s.views
	s.views = views
	s.mu.Unlock()
	prev := l.published
	l.published = rendered
	now := time.Now()
	for name, v := range views {
		if p, ok := prev[name]; ok && bytes.Equal(p, rendered[name]) {
			continue
		}
		rv := v.Redacted()
		s.broadcast(model.Event{Kind: model.EventInstance, Name: name, Instance: &rv, At: now})
	}
	for name := range old {
		if _, ok := views[name]; !ok {
			s.broadcast(model.Event{Kind: model.EventDeleted, Name: name, At: now})
		}
	}
	s.metrics.observe(views)
	s.metrics.leader.Set(1)
	if l.mesos != nil && l.mesos.connected.Load() {
		s.metrics.mesosConnected.Set(1)
	} else {
		s.metrics.mesosConnected.Set(0)
	}
}

func sameView(a, b model.InstanceView) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// subscribe registers an event listener; cancel with unsubscribe.
func (s *Scheduler) subscribe() chan model.Event {
	ch := make(chan model.Event, 256)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch
}

func (s *Scheduler) unsubscribe(ch chan model.Event) {
	s.mu.Lock()
	delete(s.subs, ch)
	s.mu.Unlock()
}

// broadcast sends ev to every listener; a listener too slow to keep up
// loses the event (the dashboard reconnects and gets the full list).
func (s *Scheduler) broadcast(ev model.Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}
