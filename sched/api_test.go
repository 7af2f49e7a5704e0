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

// FuzzCreateBody feeds arbitrary bodies to the create path's parsing and
// validation: never a panic, and whatever passes is a valid spec.
func FuzzCreateBody(f *testing.F) {
	f.Add([]byte(`{"name":"a","memory_mb":64,"replicas":1,"persistence":"aof"}`))
	f.Add([]byte(`{"name":"A","memory_mb":-1}`))
	f.Add([]byte(`{"password":"x y"}`))
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
