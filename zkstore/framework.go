package zkstore

import (
	"context"
	"errors"
	"fmt"
)

// FrameworkID returns the Mesos framework id stored by an earlier
// scheduler, or "" when none is stored.
func (s *Store) FrameworkID(ctx context.Context) (string, error) {
	b, _, err := s.getData(ctx, s.path("framework", "id"))
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// SetFrameworkID stores the framework id, replacing any earlier one.
func (s *Store) SetFrameworkID(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("set framework id: id is empty")
	}
	_, err := s.upsert(ctx, s.path("framework", "id"), []byte(id))
	return err
}
