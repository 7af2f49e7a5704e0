package zkstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-zookeeper/zk"
	"github.com/mrredis/mrredis/internal/model"
)

func (s *Store) instancePath(name string, sub ...string) string {
	return s.path(append([]string{"instances", name}, sub...)...)
}

// CreateInstance writes a new instance with its members/ and failovers/
// nodes in one transaction. ErrExists when the name is taken.
func (s *Store) CreateInstance(ctx context.Context, inst model.Instance) (int32, error) {
	if err := model.ValidateName(inst.Name); err != nil {
		return 0, fmt.Errorf("create instance: %w", err)
	}
	b, err := json.Marshal(inst)
	if err != nil {
		return 0, fmt.Errorf("create instance %s: encode: %w", inst.Name, err)
	}
	p := s.instancePath(inst.Name)
	_, err = call(ctx, s, func() ([]zk.MultiResponse, error) {
		return s.conn.Multi(
			&zk.CreateRequest{Path: p, Data: b, Acl: s.acl},
			&zk.CreateRequest{Path: p + "/members", Acl: s.acl},
			&zk.CreateRequest{Path: p + "/failovers", Acl: s.acl},
		)
	})
	if err != nil {
		return 0, opErr("create instance", p, err)
	}
	return 0, nil
}

// GetInstance reads an instance and its version. ErrNotFound when absent.
func (s *Store) GetInstance(ctx context.Context, name string) (model.Instance, int32, error) {
	if err := model.ValidateName(name); err != nil {
		return model.Instance{}, 0, fmt.Errorf("get instance: %w", err)
	}
	return getJSON[model.Instance](ctx, s, s.instancePath(name))
}

// ListInstances returns the instance names, sorted.
func (s *Store) ListInstances(ctx context.Context) ([]string, error) {
	names, err := s.children(ctx, s.path("instances"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// UpdateInstance writes inst if the stored version is still version
// (compare-and-set) and returns the new version. ErrConflict when someone
// else wrote first, ErrNotFound when the instance is gone. It never
// overwrites blindly: version must be >= 0.
func (s *Store) UpdateInstance(ctx context.Context, inst model.Instance, version int32) (int32, error) {
	if err := model.ValidateName(inst.Name); err != nil {
		return 0, fmt.Errorf("update instance: %w", err)
	}
	if version < 0 {
		return 0, fmt.Errorf("update instance %s: version %d is invalid: pass the version read with GetInstance", inst.Name, version)
	}
	b, err := json.Marshal(inst)
	if err != nil {
		return 0, fmt.Errorf("update instance %s: encode: %w", inst.Name, err)
	}
	return s.set(ctx, s.instancePath(inst.Name), b, version)
}

// DeleteInstance removes the instance node and everything below it
// (members, master, failovers). Deleting an absent instance is no error.
// Its port reservation is separate: see ReleasePort.
func (s *Store) DeleteInstance(ctx context.Context, name string) error {
	if err := model.ValidateName(name); err != nil {
		return fmt.Errorf("delete instance: %w", err)
	}
	err := s.deleteTree(ctx, s.instancePath(name))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
