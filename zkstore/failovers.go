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

// MaxFailovers is how many failover records are kept per instance.
const MaxFailovers = 100

// AddFailover appends a failover record (a sequential node under
// failovers/) and drops the oldest beyond MaxFailovers.
func (s *Store) AddFailover(ctx context.Context, instance string, f model.Failover) error {
	if err := model.ValidateName(instance); err != nil {
		return fmt.Errorf("add failover: %w", err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("add failover of %s: encode: %w", instance, err)
	}
	dir := s.instancePath(instance, "failovers")
	_, err = s.create(ctx, dir+"/f_", b, zk.FlagSequence)
	if errors.Is(err, ErrNotFound) {
		if _, cerr := s.create(ctx, dir, nil, 0); cerr != nil && !errors.Is(cerr, ErrExists) {
			return fmt.Errorf("add failover: instance %s: %w", instance, cerr)
		}
		_, err = s.create(ctx, dir+"/f_", b, zk.FlagSequence)
	}
	if err != nil {
		return err
	}
	names, err := s.children(ctx, dir)
	if err != nil {
		return err
	}
	if len(names) <= MaxFailovers {
		return nil
	}
	// Same prefix and zero-padded sequence numbers: names sort by age.
	slices.Sort(names)
	for _, n := range names[:len(names)-MaxFailovers] {
		if err := s.deleteNode(ctx, dir+"/"+n); err != nil {
			return fmt.Errorf("trim failovers of %s: %w", instance, err)
		}
	}
	return nil
}

// ListFailovers returns the kept failover records, oldest first.
func (s *Store) ListFailovers(ctx context.Context, instance string) ([]model.Failover, error) {
	if err := model.ValidateName(instance); err != nil {
		return nil, fmt.Errorf("list failovers: %w", err)
	}
	dir := s.instancePath(instance, "failovers")
	names, err := s.children(ctx, dir)
	if errors.Is(err, ErrNotFound) {
		if _, _, ierr := s.getData(ctx, s.instancePath(instance)); ierr != nil {
			return nil, ierr
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = dir + "/" + n
	}
	out := make([]model.Failover, 0, len(names))
	for i, r := range s.getMany(ctx, paths) {
		if errors.Is(r.err, ErrNotFound) {
			continue // trimmed since the listing
		}
		if r.err != nil {
			return nil, r.err
		}
		var f model.Failover
		if err := json.Unmarshal(r.data, &f); err != nil {
			return nil, fmt.Errorf("decode %s: malformed JSON in node: %w", paths[i], err)
		}
		out = append(out, f)
	}
	return out, nil
}
