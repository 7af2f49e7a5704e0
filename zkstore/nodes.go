package zkstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-zookeeper/zk"
)

// getData reads a node's bytes and version.
func (s *Store) getData(ctx context.Context, p string) ([]byte, int32, error) {
	type res struct {
		data []byte
		ver  int32
	}
	r, err := call(ctx, s, func() (res, error) {
		b, st, err := s.conn.Get(p)
		if err != nil {
			return res{}, err
		}
		return res{b, st.Version}, nil
	})
	if err != nil {
		return nil, 0, opErr("get", p, err)
	}
	return r.data, r.ver, nil
}

// getJSON reads and decodes a JSON node; malformed JSON is an error naming
// the path.
func getJSON[T any](ctx context.Context, s *Store, p string) (T, int32, error) {
	b, ver, err := s.getData(ctx, p)
	if err != nil {
		var zero T
		return zero, 0, err
	}
	v, err := decodeJSON[T](p, b)
	if err != nil {
		return v, 0, err
	}
	return v, ver, nil
}

// decodeJSON decodes the data of node p; malformed JSON is an error
// naming the path.
func decodeJSON[T any](p string, b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode %s: malformed JSON in node: %w", p, err)
	}
	return v, nil
}

// children lists a node's children, unsorted.
func (s *Store) children(ctx context.Context, p string) ([]string, error) {
	c, err := call(ctx, s, func() ([]string, error) {
		c, _, err := s.conn.Children(p)
		return c, err
	})
	if err != nil {
		return nil, opErr("list", p, err)
	}
	return c, nil
}

// create creates a persistent node and returns its path.
func (s *Store) create(ctx context.Context, p string, data []byte, flags int32) (string, error) {
	got, err := call(ctx, s, func() (string, error) { return s.conn.Create(p, data, flags, s.acl) })
	if err != nil {
		return "", opErr("create", p, err)
	}
	return got, nil
}

// set writes a node with compare-and-set on version (-1: any version).
func (s *Store) set(ctx context.Context, p string, data []byte, version int32) (int32, error) {
	st, err := call(ctx, s, func() (*zk.Stat, error) { return s.conn.Set(p, data, version) })
	if err != nil {
		return 0, opErr("set", p, err)
	}
	return st.Version, nil
}

// upsert overwrites a node or creates it. The parent must exist.
func (s *Store) upsert(ctx context.Context, p string, data []byte) (int32, error) {
	for i := 0; ; i++ {
		v, err := s.set(ctx, p, data, -1)
		if !errors.Is(err, ErrNotFound) || i == 3 {
			return v, err
		}
		_, err = s.create(ctx, p, data, 0)
		if !errors.Is(err, ErrExists) {
			return 0, err
		}
		// Created by someone else in between: overwrite it.
	}
}

// deleteTree deletes p and everything below it. Absent nodes are no error.
// Children added while deleting are deleted on the next pass.
func (s *Store) deleteTree(ctx context.Context, p string) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		kids, lerr := s.children(ctx, p)
		if errors.Is(lerr, ErrNotFound) {
			return nil
		}
		if lerr != nil {
			return lerr
		}
		for _, k := range kids {
			if err := s.deleteTree(ctx, p+"/"+k); err != nil {
				return err
			}
		}
		_, err = call(ctx, s, func() (struct{}, error) { return struct{}{}, s.conn.Delete(p, -1) })
		if err == nil || errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if !errors.Is(err, zk.ErrNotEmpty) {
			return opErr("delete", p, err)
		}
	}
	return opErr("delete", p, err)
}

// validNodeName checks a name that becomes one path component.
func validNodeName(kind, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%s %q is invalid: it must be non-empty and contain no '/'", kind, name)
	}
	return nil
}

// nodeData is one result of getMany.
type nodeData struct {
	data []byte
	err  error // wrapped; ErrNotFound for a node deleted since the listing
}

// getMany reads many nodes with up to 32 requests in flight: the
// connection pipelines them, so a listing of 200 ports costs a few round
// trips instead of 200.
func (s *Store) getMany(ctx context.Context, paths []string) []nodeData {
	out := make([]nodeData, len(paths))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b, _, err := s.getData(ctx, p)
			out[i] = nodeData{b, err}
		}()
	}
	wg.Wait()
	return out
}
