package zkstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/mrredis/mrredis/internal/model"
)

func (s *Store) portPath(p int) string { return s.path("ports", strconv.Itoa(p)) }

// ReservePort reserves the lowest free port in [lo,hi] for the instance
// name by creating ports/<p> = name; a port someone else created first is
// skipped. If name already owns a port in the range, that port is returned.
// ErrNoPorts when the range is full.
func (s *Store) ReservePort(ctx context.Context, name string, lo, hi int) (int, error) {
	if err := model.ValidateName(name); err != nil {
		return 0, fmt.Errorf("reserve port: %w", err)
	}
	if lo < 1 || hi > 65535 || lo > hi {
		return 0, fmt.Errorf("reserve port for %s: range %d-%d is invalid: use 1 <= lo <= hi <= 65535", name, lo, hi)
	}
	owners, err := s.ListPorts(ctx)
	if err != nil {
		return 0, fmt.Errorf("reserve port for %s: %w", name, err)
	}
	for p := lo; p <= hi; p++ {
		if owners[p] == name {
			return p, nil
		}
	}
	for p := lo; p <= hi; p++ {
		if _, taken := owners[p]; taken {
			continue
		}
		_, err := s.create(ctx, s.portPath(p), []byte(name), 0)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, ErrExists) {
			return 0, fmt.Errorf("reserve port %d for %s: %w", p, name, err)
		}
	}
	return 0, fmt.Errorf("reserve port for %s: %w in %d-%d", name, ErrNoPorts, lo, hi)
}

// ReleasePort frees port if name owns it. An absent reservation is no
// error; one owned by another instance is ErrConflict and is kept.
func (s *Store) ReleasePort(ctx context.Context, port int, name string) error {
	p := s.portPath(port)
	b, ver, err := s.getData(ctx, p)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release port %d: %w", port, err)
	}
	if string(b) != name {
		return fmt.Errorf("release port %d for %s: %w: it is owned by %q", port, name, ErrConflict, string(b))
	}
	_, err = call(ctx, s, func() (struct{}, error) { return struct{}{}, s.conn.Delete(p, ver) })
	if err != nil && !errors.Is(wrap(err), ErrNotFound) {
		return opErr("release port", p, err)
	}
	return nil
}

// ListPorts returns every reservation: port -> instance name.
func (s *Store) ListPorts(ctx context.Context) (map[int]string, error) {
	dir := s.path("ports")
	names, err := s.children(ctx, dir)
	if err != nil {
		return nil, err
	}
	var ports []int
	var paths []string
	for _, n := range names {
		port, err := strconv.Atoi(n)
		if err != nil {
			s.log.Warn("ignoring a node that is not a port number", "path", dir+"/"+n)
			continue
		}
		ports = append(ports, port)
		paths = append(paths, dir+"/"+n)
	}
	out := make(map[int]string, len(ports))
	for i, r := range s.getMany(ctx, paths) {
		if errors.Is(r.err, ErrNotFound) {
			continue // released since the listing
		}
		if r.err != nil {
			return nil, r.err
		}
		out[ports[i]] = string(r.data)
	}
	return out, nil
}
