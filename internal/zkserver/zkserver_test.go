package zkserver

import (
	"context"
	"testing"
)

func TestStartRestartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts java")
	}
	ctx := context.Background()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !ruok(s.Addr()) {
		t.Fatal("not serving after Start")
	}
	s.Kill()
	if ruok(s.Addr()) {
		t.Fatal("still serving after Kill")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if !ruok(s.Addr()) {
		t.Fatal("not serving after Restart")
	}
}

func TestMissingJava(t *testing.T) {
	_, err := Start(context.Background(), Options{Java: "/nonexistent/java"})
	if err == nil {
		t.Fatal("want an error for a missing java")
	}
}
