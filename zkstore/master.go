package zkstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/go-zookeeper/zk"
	"github.com/mrredis/mrredis/internal/model"
)

// GetMaster returns the "host:port" in instances/<name>/master and the
// node's version. ErrNotFound when there is no master node.
func (s *Store) GetMaster(ctx context.Context, name string) (string, int32, error) {
	if err := model.ValidateName(name); err != nil {
		return "", 0, fmt.Errorf("get master: %w", err)
	}
	b, v, err := s.getData(ctx, s.instancePath(name, "master"))
	return string(b), v, err
}

// SetMaster writes addr ("host:port") to instances/<name>/master with
// compare-and-set and returns the new version:
//   - version -1 creates the node: ErrExists if it is already there,
//     ErrNotFound if the instance is not;
//   - version >= 0 updates it only if its version is still that:
//     ErrConflict otherwise, ErrNotFound if there is no master node.
func (s *Store) SetMaster(ctx context.Context, name, addr string, version int32) (int32, error) {
	if err := model.ValidateName(name); err != nil {
		return 0, fmt.Errorf("set master: %w", err)
	}
	if err := validAddr(addr); err != nil {
		return 0, fmt.Errorf("set master of %s: %w", name, err)
	}
	p := s.instancePath(name, "master")
	switch {
	case version == -1:
		if _, err := s.create(ctx, p, []byte(addr), 0); err != nil {
			return 0, err
		}
		return 0, nil
	case version >= 0:
		return s.set(ctx, p, []byte(addr), version)
	}
	return 0, fmt.Errorf("set master of %s: version %d is invalid: use -1 to create or the version read", name, version)
}

// ForceSetMaster creates or overwrites the master node regardless of its
// version. ErrNotFound if the instance does not exist.
func (s *Store) ForceSetMaster(ctx context.Context, name, addr string) (int32, error) {
	if err := model.ValidateName(name); err != nil {
		return 0, fmt.Errorf("set master: %w", err)
	}
	if err := validAddr(addr); err != nil {
		return 0, fmt.Errorf("set master of %s: %w", name, err)
	}
	return s.upsert(ctx, s.instancePath(name, "master"), []byte(addr))
}

// DeleteMaster removes the master node; an absent one is no error.
func (s *Store) DeleteMaster(ctx context.Context, name string) error {
	if err := model.ValidateName(name); err != nil {
		return fmt.Errorf("delete master: %w", err)
	}
	return s.deleteNode(ctx, s.instancePath(name, "master"))
}

func validAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("address %q is invalid: use host:port", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q is invalid: port must be 1-65535", addr)
	}
	return nil
}

// MasterChange is one observation of an instance's master node.
type MasterChange struct {
	Addr    string
	Version int32
	Deleted bool  // no master node (or no instance)
	Err     error // reading failed; the watch keeps retrying and sends the value once it can read again
}

// WatchMaster sends the current master at once and again after every
// change. The watch is re-armed after every fire, after reconnects and
// after a session expiry. Deleted is set while the node (or the whole
// instance) is absent. An Err value is sent once when reads start failing
// (ZooKeeper unavailable); the next good read is sent even if unchanged.
// The channel closes when ctx ends or the store closes.
func (s *Store) WatchMaster(ctx context.Context, name string) <-chan MasterChange {
	return watchNode(ctx, s, name, "master",
		func(_ string, data []byte, version int32, deleted bool) (MasterChange, error) {
			if deleted {
				return MasterChange{Deleted: true}, nil
			}
			return MasterChange{Addr: string(data), Version: version}, nil
		},
		func(err error) MasterChange { return MasterChange{Err: err} },
		func(a, b MasterChange) bool {
			return a.Addr == b.Addr && a.Version == b.Version && a.Deleted == b.Deleted
		})
}

// readNodeW reads node p and leaves a watch on it: a data watch when it
// exists, an exists watch when it does not (deleted is then true).
func (s *Store) readNodeW(ctx context.Context, p string) (data []byte, version int32, deleted bool, ev <-chan zk.Event, err error) {
	type res struct {
		data    []byte
		version int32
		deleted bool
		ev      <-chan zk.Event
	}
	r, err := call(ctx, s, func() (res, error) {
		for {
			b, st, ev, err := s.conn.GetW(p)
			if err == nil {
				return res{data: b, version: st.Version, ev: ev}, nil
			}
			if !errors.Is(err, zk.ErrNoNode) {
				return res{}, err
			}
			ok, _, ev, err := s.conn.ExistsW(p)
			if err != nil {
				return res{}, err
			}
			if !ok {
				return res{deleted: true, ev: ev}, nil
			}
			// Created in between: read it.
		}
	})
	if err != nil {
		return nil, 0, false, nil, opErr("watch", p, err)
	}
	return r.data, r.version, r.deleted, r.ev, nil
}
