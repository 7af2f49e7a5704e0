package model

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	l := DefaultLimits()
	ok := Spec{Name: "cache-1", MemoryMB: 512, Replicas: 2}
	tests := []struct {
		name    string
		mutate  func(*Spec)
		wantErr string
	}{
		{"valid", func(*Spec) {}, ""},
		{"empty name", func(s *Spec) { s.Name = "" }, "name is required"},
		{"upper case", func(s *Spec) { s.Name = "Cache" }, "is invalid"},
		{"leading dash", func(s *Spec) { s.Name = "-x" }, "is invalid"},
		{"too long", func(s *Spec) { s.Name = strings.Repeat("a", 64) }, "is invalid"},
		{"max length", func(s *Spec) { s.Name = strings.Repeat("a", 63) }, ""},
		{"slash", func(s *Spec) { s.Name = "a/b" }, "is invalid"},
		{"zero memory", func(s *Spec) { s.MemoryMB = 0 }, "memory_mb 0 is out of range"},
		{"negative memory", func(s *Spec) { s.MemoryMB = -5 }, "out of range"},
		{"absurd memory", func(s *Spec) { s.MemoryMB = 1 << 30 }, "out of range"},
		{"negative replicas", func(s *Spec) { s.Replicas = -1 }, "replicas -1 is out of range"},
		{"too many replicas", func(s *Spec) { s.Replicas = 17 }, "out of range"},
		{"zero replicas", func(s *Spec) { s.Replicas = 0 }, ""},
		{"bad persistence", func(s *Spec) { s.Persistence = "disk" }, `persistence "disk" is invalid`},
		{"aof", func(s *Spec) { s.Persistence = PersistenceAOF }, ""},
		{"password with space", func(s *Spec) { s.Password = "a b" }, "must not contain spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mutate(&s)
			err := l.Validate(s)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate(%+v) = %v, want error containing %q", s, err, tt.wantErr)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	if got := (Spec{}).Normalize().Persistence; got != PersistenceNone {
		t.Fatalf("default persistence = %q, want none", got)
	}
	if got := (Spec{Persistence: PersistenceRDB}).Normalize().Persistence; got != PersistenceRDB {
		t.Fatalf("persistence = %q, want rdb", got)
	}
}
