package zkstore

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mrredis/mrredis/internal/testenv"
)

func TestReplicasSetAndWatch(t *testing.T) {
	t.Parallel()
	root := testenv.Root(t)
	a, b := openStore(t, root, nil), openStore(t, root, nil)
	ctx := testCtx(t)

	if err := a.SetReplicas(ctx, "db", []string{"h:1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("set replicas of a missing instance: %v, want ErrNotFound", err)
	}
	if _, err := a.CreateInstance(ctx, newInstance("db")); err != nil {
		t.Fatal(err)
	}
	w := b.WatchReplicas(ctx, "db")
	recv(t, w, "initial", func(c ReplicasChange) bool { return c.Err == nil && len(c.Addrs) == 0 })

	for _, tc := range []struct {
		set, want []string
	}{
		{[]string{"10.0.0.2:7000", "10.0.0.1:7000"}, []string{"10.0.0.1:7000", "10.0.0.2:7000"}},
		{[]string{"10.0.0.3:7000"}, []string{"10.0.0.3:7000"}},
		{nil, nil},
		{[]string{"10.0.0.4:7000"}, []string{"10.0.0.4:7000"}},
	} {
		if err := a.SetReplicas(ctx, "db", tc.set); err != nil {
			t.Fatalf("set %v: %v", tc.set, err)
		}
		recv(t, w, strings.Join(tc.want, ","), func(c ReplicasChange) bool { return c.Err == nil && slices.Equal(c.Addrs, tc.want) })
		got, err := b.GetReplicas(ctx, "db")
		if err != nil || !slices.Equal(got, tc.want) {
			t.Fatalf("get replicas = %v, %v; want %v", got, err, tc.want)
		}
	}

	if err := a.SetReplicas(ctx, "db", []string{"nohost"}); err == nil || !strings.Contains(err.Error(), "nohost") {
		t.Fatalf("set an invalid address: %v; want an error naming it", err)
	}
	p := a.instancePath("db", "replicas")
	if _, err := a.conn.Set(p, []byte("{not json"), -1); err != nil {
		t.Fatal(err)
	}
	recv(t, w, "malformed", func(c ReplicasChange) bool { return c.Err != nil && strings.Contains(c.Err.Error(), p) })
	if _, err := b.GetReplicas(ctx, "db"); err == nil || !strings.Contains(err.Error(), "malformed JSON") {
		t.Fatalf("get malformed replicas: %v; want a malformed JSON error", err)
	}
	// The watch stays armed after malformed data and sees the next write.
	if err := a.SetReplicas(ctx, "db", []string{"10.0.0.5:7000"}); err != nil {
		t.Fatal(err)
	}
	recv(t, w, "after malformed", func(c ReplicasChange) bool { return slices.Equal(c.Addrs, []string{"10.0.0.5:7000"}) })

	if err := a.DeleteInstance(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	recv(t, w, "deleted", func(c ReplicasChange) bool { return c.Err == nil && len(c.Addrs) == 0 })
}
