package zkstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mrredis/mrredis/internal/model"
)

// PutMember writes (creates or overwrites) the member record at
// instances/<instance>/members/<task-id>. ErrNotFound when the instance
// does not exist.
func (s *Store) PutMember(ctx context.Context, instance string, m model.Member) error {
	if err := model.ValidateName(instance); err != nil {
		return fmt.Errorf("put member: %w", err)
	}
	if err := validNodeName("task id", m.TaskID); err != nil {
		return fmt.Errorf("put member of %s: %w", instance, err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("put member %s of %s: encode: %w", m.TaskID, instance, err)
	}
	p := s.instancePath(instance, "members", m.TaskID)
	_, err = s.upsert(ctx, p, b)
	if errors.Is(err, ErrNotFound) {
		// members/ is missing: create it if the instance exists, else report the instance missing.
		if _, cerr := s.create(ctx, s.instancePath(instance, "members"), nil, 0); cerr != nil && !errors.Is(cerr, ErrExists) {
			return fmt.Errorf("put member %s: instance %s: %w", m.TaskID, instance, cerr)
		}
		_, err = s.upsert(ctx, p, b)
	}
	return err
}

// ListMembers returns the instance's members sorted by task id. An
// instance without members/ has none.
func (s *Store) ListMembers(ctx context.Context, instance string) ([]model.Member, error) {
	if err := model.ValidateName(instance); err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	dir := s.instancePath(instance, "members")
	ids, err := s.children(ctx, dir)
	if errors.Is(err, ErrNotFound) {
		if _, _, ierr := s.getData(ctx, s.instancePath(instance)); ierr != nil {
			return nil, ierr
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	paths := make([]string, len(ids))
	for i, id := range ids {
		paths[i] = dir + "/" + id
	}
	out := make([]model.Member, 0, len(ids))
	for i, r := range s.getMany(ctx, paths) {
		if errors.Is(r.err, ErrNotFound) {
			continue // deleted since the listing
		}
		if r.err != nil {
			return nil, r.err
		}
		var m model.Member
		if err := json.Unmarshal(r.data, &m); err != nil {
			return nil, fmt.Errorf("decode %s: malformed JSON in node: %w", paths[i], err)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b model.Member) int { return strings.Compare(a.TaskID, b.TaskID) })
	return out, nil
}

// DeleteMember removes a member record; an absent one is no error.
func (s *Store) DeleteMember(ctx context.Context, instance, taskID string) error {
	if err := model.ValidateName(instance); err != nil {
		return fmt.Errorf("delete member: %w", err)
	}
	if err := validNodeName("task id", taskID); err != nil {
		return fmt.Errorf("delete member of %s: %w", instance, err)
	}
	return s.deleteNode(ctx, s.instancePath(instance, "members", taskID))
}
