package execproto

import (
	"strings"
	"testing"
)

func TestTaskDataValidate(t *testing.T) {
	good := TaskData{Instance: "a", Role: "master", MaxMemoryMB: 64, Persistence: "none", Port: 31000}
	tests := []struct {
		name    string
		mutate  func(*TaskData)
		wantErr string
	}{
		{"ok", func(*TaskData) {}, ""},
		{"bad role", func(d *TaskData) { d.Role = "boss" }, `role "boss" is invalid`},
		{"replica without master", func(d *TaskData) { d.Role = "replica" }, "needs master_host"},
		{"replica ok", func(d *TaskData) { d.Role, d.MasterHost, d.MasterPort = "replica", "h", 1 }, ""},
		{"port 0", func(d *TaskData) { d.Port = 0 }, "port 0 is out of range"},
		{"no memory", func(d *TaskData) { d.MaxMemoryMB = 0 }, "maxmemory_mb 0"},
		{"bad name", func(d *TaskData) { d.Instance = "A" }, "is invalid"},
		{"bad persistence", func(d *TaskData) { d.Persistence = "x" }, "persistence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good
			tt.mutate(&d)
			err := d.Validate()
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeCommand(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{`{"task_id":"t","op":"promote"}`, ""},
		{`{"task_id":"t","op":"follow","master_host":"h","master_port":6379}`, ""},
		{`{"task_id":"t","op":"follow"}`, "follow needs"},
		{`{"task_id":"t","op":"failover-to","master_host":"h","master_port":6379}`, ""},
		{`{"task_id":"t","op":"failover-to"}`, "failover-to needs"},
		{`{"task_id":"t","op":"set-maxmemory","maxmemory_mb":5}`, ""},
		{`{"task_id":"t","op":"set-maxmemory"}`, "positive"},
		{`{"task_id":"t","op":"reboot"}`, `unknown op "reboot"`},
		{`{"op":"promote"}`, "task_id is required"},
		{`{`, "decode command"},
	}
	for _, tt := range tests {
		_, err := DecodeCommand([]byte(tt.in))
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("DecodeCommand(%s) = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestDecodeExecutorMessage(t *testing.T) {
	if _, err := DecodeExecutorMessage([]byte(`{"kind":"stats","stats":[{"task_id":"t"}]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeExecutorMessage([]byte(`{"kind":"reply"}`)); err == nil {
		t.Fatal("reply without body accepted")
	}
	if _, err := DecodeExecutorMessage([]byte(`nope`)); err == nil {
		t.Fatal("garbage accepted")
	}
}
