package sched

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/zkstore"
)

// This file is the leader's side of ZooKeeper: loading the state into the
// core, and carrying out the core's store writes with compare-and-set.

// loadAll reads every instance from ZooKeeper into a fresh core.
func (l *leaderLoop) loadAll(ctx context.Context) error {
	now := time.Now()
	core := NewCore(l.s.coreConfig())
	if l.core != nil {
		core.kills, core.wanting, core.seq, core.cmdSeq = l.core.kills, l.core.wanting, l.core.seq, l.core.cmdSeq
	}
	instVer, masterVer := map[string]int32{}, map[string]int32{}
	names, err := l.store.ListInstances(ctx)
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	for _, name := range names {
		inst, ver, err := l.store.GetInstance(ctx, name)
		if errors.Is(err, zkstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load instance %s: %w", name, err)
		}
		members, err := l.store.ListMembers(ctx, name)
		if err != nil {
			return fmt.Errorf("load members of %s: %w", name, err)
		}
		master, mver, err := l.store.GetMaster(ctx, name)
		if errors.Is(err, zkstore.ErrNotFound) {
			master, mver, err = "", -1, nil
		}
		if err != nil {
			return fmt.Errorf("load master of %s: %w", name, err)
		}
		history, err := l.store.ListFailovers(ctx, name)
		if err != nil {
			return fmt.Errorf("load failovers of %s: %w", name, err)
		}
		core.Load(inst, members, master, history, now)
		instVer[name], masterVer[name] = ver, mver
	}
	l.core, l.instVer, l.masterVer = core, instVer, masterVer
	l.s.log.Info("loaded state from zookeeper", "instances", len(names))
	l.releaseOrphanPorts(ctx)
	return nil
}

// releaseOrphanPorts frees port reservations whose instance is gone: left
// by a create or delete that stopped half way (scheduler killed between
// the two writes). Only the leader creates instances, on this goroutine,
// so no create is in flight here.
func (l *leaderLoop) releaseOrphanPorts(ctx context.Context) {
	ports, err := l.store.ListPorts(ctx)
	if err != nil {
		l.s.log.Warn("list ports", "err", err)
		return
	}
	for port, owner := range ports {
		if _, ok := l.core.Instance(owner); ok {
			continue
		}
		if err := l.store.ReleasePort(ctx, port, owner); err != nil {
			l.s.log.Warn("release orphan port", "port", port, "owner", owner, "err", err)
			continue
		}
		l.s.log.Info("released a port whose instance is gone", "port", port, "owner", owner)
	}
}

func (l *leaderLoop) reloadAll(ctx context.Context) {
	if err := l.loadAll(ctx); err != nil {
		l.s.metrics.zkErrors.Inc()
		l.s.log.Warn("reload from zookeeper failed; retrying", "err", err)
		return
	}
	l.reload = false
	if l.mesos != nil && l.mesos.connected.Load() {
		l.exec(ctx, l.core.Subscribed(time.Now()))
	}
}

func (l *leaderLoop) storeAction(ctx context.Context, a Action) error {
	s := l.store
	switch a.Kind {
	case ActUpdateInstance:
		v, err := s.UpdateInstance(ctx, a.Inst, l.instVer[a.Instance])
		if err != nil {
			return fmt.Errorf("update instance %s: %w", a.Instance, err)
		}
		l.instVer[a.Instance] = v
	case ActPutMember:
		return s.PutMember(ctx, a.Instance, a.Member)
	case ActDeleteMember:
		if err := s.DeleteMember(ctx, a.Instance, a.TaskID); err != nil && !errors.Is(err, zkstore.ErrNotFound) {
			return err
		}
	case ActSetMaster:
		ver, ok := l.masterVer[a.Instance]
		if !ok {
			ver = -1
		}
		v, err := s.SetMaster(ctx, a.Instance, a.Addr, ver)
		if err != nil {
			return fmt.Errorf("set master of %s to %s: %w", a.Instance, a.Addr, err)
		}
		l.masterVer[a.Instance] = v
		l.s.log.Info("master set", "instance", a.Instance, "addr", a.Addr)
	case ActSetReplicas:
		if err := s.SetReplicas(ctx, a.Instance, a.Addrs); err != nil {
			return fmt.Errorf("set replicas of %s: %w", a.Instance, err)
		}
	case ActAddFailover:
		l.s.metrics.failovers.Inc()
		l.s.broadcast(model.Event{Kind: model.EventFailover, Name: a.Instance, Failover: &a.Failover, At: time.Now()})
		l.s.log.Info("failover", "instance", a.Instance, "cause", a.Failover.Cause, "new", a.Failover.NewAddr,
			"detect_ms", a.Failover.DetectMS, "total_ms", a.Failover.TotalMS, "error", a.Failover.Error)
		return s.AddFailover(ctx, a.Instance, a.Failover)
	case ActDeleteInstance:
		if err := s.DeleteInstance(ctx, a.Instance); err != nil {
			return err
		}
		delete(l.instVer, a.Instance)
		delete(l.masterVer, a.Instance)
		if a.Inst.ProxyPort > 0 {
			if err := s.ReleasePort(ctx, a.Inst.ProxyPort, a.Instance); err != nil {
				return fmt.Errorf("release port %d of %s: %w", a.Inst.ProxyPort, a.Instance, err)
			}
		}
		l.s.log.Info("instance deleted", "instance", a.Instance, "port", a.Inst.ProxyPort)
	}
	return nil
}

// storeSpec writes an instance record planned from a request (CAS). On a
// conflict the instance is reloaded and the caller asked to retry.
func (l *leaderLoop) storeSpec(ctx context.Context, inst model.Instance) error {
	inst.Updated = time.Now()
	v, err := l.store.UpdateInstance(ctx, inst, l.instVer[inst.Name])
	if err != nil {
		l.s.metrics.zkErrors.Inc()
		l.reload = true
		if errors.Is(err, zkstore.ErrConflict) {
			return &apiError{code: http.StatusConflict, msg: fmt.Sprintf("instance %q was changed concurrently; retry", inst.Name)}
		}
		return fmt.Errorf("store instance %s: %w", inst.Name, err)
	}
	l.instVer[inst.Name] = v
	return nil
}
