package zkstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/mrredis/mrredis/internal/model"
)

// SetReplicas writes the "host:port" addresses of the instance's in-sync
// replicas to instances/<name>/replicas (a JSON array, sorted), creating
// the node if needed. Only the leading scheduler writes it, so there is no
// compare-and-set. ErrNotFound if the instance does not exist.
func (s *Store) SetReplicas(ctx context.Context, name string, addrs []string) error {
	if err := model.ValidateName(name); err != nil {
		return fmt.Errorf("set replicas: %w", err)
	}
	for _, a := range addrs {
		if err := validAddr(a); err != nil {
			return fmt.Errorf("set replicas of %s: %w", name, err)
		}
	}
	sorted := slices.Sorted(slices.Values(addrs))
	if sorted == nil {
		sorted = []string{} // "[]", not "null"
	}
	b, err := json.Marshal(sorted)
	if err != nil {
		return fmt.Errorf("set replicas of %s: encode: %w", name, err)
	}
	_, err = s.upsert(ctx, s.instancePath(name, "replicas"), b)
	return err
}

// GetReplicas returns the addresses in instances/<name>/replicas.
// ErrNotFound when there is no such node.
func (s *Store) GetReplicas(ctx context.Context, name string) ([]string, error) {
	if err := model.ValidateName(name); err != nil {
		return nil, fmt.Errorf("get replicas: %w", err)
	}
	addrs, _, err := getJSON[[]string](ctx, s, s.instancePath(name, "replicas"))
	return addrs, err
}

// ReplicasChange is one observation of an instance's replicas node.
type ReplicasChange struct {
	Addrs []string // in-sync replicas; empty when the node is absent
	Err   error    // reading or decoding failed; the watch keeps retrying
}

// WatchReplicas sends the instance's in-sync replicas at once and again
// after every change, with the same guarantees as WatchMaster: re-armed
// after every fire, reconnect and session expiry; an Err sent once when
// reads start failing; closed when ctx ends or the store closes. An absent
// node (an instance created before the node existed, or deleted) reads as
// no replicas.
func (s *Store) WatchReplicas(ctx context.Context, name string) <-chan ReplicasChange {
	return watchNode(ctx, s, name, "replicas",
		func(p string, data []byte, _ int32, deleted bool) (ReplicasChange, error) {
			if deleted {
				return ReplicasChange{}, nil
			}
			addrs, err := decodeJSON[[]string](p, data)
			return ReplicasChange{Addrs: addrs}, err
		},
		func(err error) ReplicasChange { return ReplicasChange{Err: err} },
		func(a, b ReplicasChange) bool { return slices.Equal(a.Addrs, b.Addrs) })
}
