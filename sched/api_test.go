package sched

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mrredis/mrredis/internal/model"
)

func TestDecodeBody(t *testing.T) {
	cases := []struct {
		body, err string
	}{
		{`{"name":"a","memory_mb":64,"replicas":1}`, ""},
		{`{"name":"a","memory_mb":64,"read_from_replicas":true}`, ""},
		{`{"name":"a","memory_mb":64,"read_from_replicas":"yes"}`, `field "read_from_replicas" must be a bool`},
		{``, "empty"},
		{`{"name":`, "not valid JSON"},
		{`{"name":"a","memory_mb":"64"}`, `field "memory_mb" must be a int`},
		{`{"name":"a","shards":2}`, `unknown field "shards"`},
		{`{"name":"a"} {"name":"b"}`, "data after the JSON object"},
		{`[1,2]`, "must be a"},
		{strings.Repeat(" ", maxBody+1), "larger than"},
	}
	for _, tc := range cases {
		var spec model.Spec
		err := decodeBody(httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), &spec)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.body, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%.40q: error %v, want it to mention %q", tc.body, err, tc.err)
		}
	}
}

// TestReadFromReplicasCreateOnly checks that read_from_replicas is taken
// by create and refused by PATCH: it is chosen at create time only, so a
// PATCH naming it must fail loudly rather than be ignored.
func TestReadFromReplicasCreateOnly(t *testing.T) {
	cases := []struct {
		what string
		body string
		into func() any
		err  string // empty: accepted
		want bool   // the decoded read_from_replicas when accepted
	}{
		{"create with it", `{"name":"a","memory_mb":64,"read_from_replicas":true}`, func() any { return &model.Spec{} }, "", true},
		{"create without it", `{"name":"a","memory_mb":64}`, func() any { return &model.Spec{} }, "", false},
		{"patch with it", `{"read_from_replicas":true}`, func() any { return &model.PatchRequest{} }, `unknown field "read_from_replicas"`, false},
		{"patch with it and replicas", `{"replicas":2,"read_from_replicas":false}`, func() any { return &model.PatchRequest{} }, `unknown field "read_from_replicas"`, false},
	}
	for _, tc := range cases {
		v := tc.into()
		err := decodeBody(httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), v)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want it to mention %q", tc.what, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.what, err)
			continue
		}
		if got := v.(*model.Spec).ReadFromReplicas; got != tc.want {
			t.Errorf("%s: read_from_replicas = %v, want %v", tc.what, got, tc.want)
		}
	}
}

// FuzzCreateBody feeds arbitrary bodies to the create path's parsing and
// validation: never a panic, and whatever passes is a valid spec.
func FuzzCreateBody(f *testing.F) {
	f.Add([]byte(`{"name":"a","memory_mb":64,"replicas":1,"persistence":"aof"}`))
	f.Add([]byte(`{"name":"A","memory_mb":-1}`))
	f.Add([]byte(`{"password":"x y"}`))
	f.Add([]byte(`{"name":"a","memory_mb":64,"read_from_replicas":true}`))
	limits := model.DefaultLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		var spec model.Spec
		if err := decodeBody(httptest.NewRequest("POST", "/", bytes.NewReader(body)), &spec); err != nil {
			return
		}
		if err := limits.Validate(spec); err != nil {
			return
		}
		if model.ValidateName(spec.Name) != nil || spec.MemoryMB < limits.MinMemoryMB || spec.Replicas < 0 {
			t.Fatalf("invalid spec passed validation: %+v", spec)
		}
	})
}
