// Command testexecutor is a small custom Mesos executor built on mesos-go's
// executor/config and httpcli/httpexec, used by mesoslocal's tests. What a
// task does is set by its TaskInfo.data:
//
//	finish  RUNNING, then FINISHED
//	run     RUNNING until killed (KILLED)
//	crash   RUNNING, then the executor exits with status 3
//	child   RUNNING, and a child "sleep" in the process group (pid in child.pid)
//
// Framework messages: "exit:N" exits with status N; anything else is echoed
// back as "echo:<data>". TESTEXEC_CODEC=json|protobuf picks the codec;
// TESTEXEC_NO_SUBSCRIBE=1 never subscribes; TESTEXEC_IGNORE_SHUTDOWN=1
// ignores SHUTDOWN; TESTEXEC_NO_RESUBSCRIBE=1 hangs instead of subscribing
// again after losing the agent.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

type state struct {
	cli            calls.Sender
	executor       mesos.ExecutorInfo
	agent          mesos.AgentInfo
	unackedTasks   map[string]mesos.TaskInfo
	unackedUpdates map[string]executor.Call_Update
	running        map[string]bool
	quit           bool
}

func main() {
	log.SetFlags(log.Lmicroseconds)
	cfg, err := config.FromEnv()
	if err != nil {
		log.Fatalf("load configuration: %v", err)
	}
	log.Printf("configuration: %+v", cfg)
	if os.Getenv("TESTEXEC_NO_SUBSCRIBE") == "1" {
		select {}
	}
	codec := codecs.ByMediaType[codecs.MediaTypeProtobuf]
	if os.Getenv("TESTEXEC_CODEC") == "json" {
		codec = codecs.ByMediaType[codecs.MediaTypeJSON]
	}
	u := url.URL{Scheme: "http", Host: cfg.AgentEndpoint, Path: "/api/v1/executor"}
	client := httpcli.New(httpcli.Endpoint(u.String()), httpcli.Codec(codec), httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))))
	opts := executor.CallOptions{calls.Framework(cfg.FrameworkID), calls.Executor(cfg.ExecutorID)}
	st := &state{
		cli:            calls.SenderWith(httpexec.NewSender(client.Send), opts...),
		unackedTasks:   map[string]mesos.TaskInfo{},
		unackedUpdates: map[string]executor.Call_Update{},
		running:        map[string]bool{},
	}
	subscriber := calls.SenderWith(httpexec.NewSender(client.Send, httpcli.Close(true)), opts...)
	disconnected := time.Now()
	for {
		var tasks []mesos.TaskInfo
		for _, t := range st.unackedTasks {
			tasks = append(tasks, t)
		}
		var updates []executor.Call_Update
		for _, u := range st.unackedUpdates {
			updates = append(updates, u)
		}
		resp, err := subscriber.Send(context.Background(), calls.NonStreaming(calls.Subscribe(tasks, updates)))
		if err == nil {
			log.Printf("subscribed")
			err = eventLoop(st, resp)
			disconnected = time.Now()
		}
		if resp != nil {
			resp.Close()
		}
		log.Printf("disconnected: %v", err)
		if st.quit {
			log.Printf("shutting down")
			os.Exit(0)
		}
		if os.Getenv("TESTEXEC_NO_RESUBSCRIBE") == "1" {
			log.Printf("not re-subscribing")
			select {}
		}
		if !cfg.Checkpoint {
			log.Printf("exiting: framework does not checkpoint")
			os.Exit(0)
		}
		if time.Since(disconnected) > cfg.RecoveryTimeout {
			log.Printf("exiting: no agent within %v", cfg.RecoveryTimeout)
			os.Exit(1)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func eventLoop(st *state, dec encoding.Decoder) error {
	for !st.quit {
		var e executor.Event
		if err := dec.Decode(&e); err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return err
		}
		handle(st, &e)
	}
	return nil
}

func handle(st *state, e *executor.Event) {
	switch e.Type {
	case executor.Event_SUBSCRIBED:
		st.executor = e.Subscribed.ExecutorInfo
		st.agent = e.Subscribed.AgentInfo
		log.Printf("SUBSCRIBED agent=%s container=%s", st.agent.GetID().GetValue(), e.Subscribed.GetContainerID().GetValue())
	case executor.Event_LAUNCH:
		launch(st, e.Launch.Task)
	case executor.Event_LAUNCH_GROUP:
		for _, t := range e.LaunchGroup.TaskGroup.Tasks {
			launch(st, t)
		}
	case executor.Event_KILL:
		id := e.Kill.TaskID.Value
		if st.running[id] {
			delete(st.running, id)
			update(st, e.Kill.TaskID, mesos.TASK_KILLED, "killed")
		}
	case executor.Event_ACKNOWLEDGED:
		delete(st.unackedTasks, e.Acknowledged.TaskID.Value)
		delete(st.unackedUpdates, string(e.Acknowledged.UUID))
	case executor.Event_MESSAGE:
		data := string(e.Message.Data)
		log.Printf("MESSAGE %q", data)
		if code, ok := strings.CutPrefix(data, "exit:"); ok {
			n, _ := strconv.Atoi(code)
			os.Exit(n)
		}
		resp, err := st.cli.Send(context.Background(), calls.NonStreaming(calls.Message([]byte("echo:"+data))))
		if resp != nil {
			resp.Close()
		}
		if err != nil {
			log.Printf("send message: %v", err)
		}
	case executor.Event_SHUTDOWN:
		if os.Getenv("TESTEXEC_IGNORE_SHUTDOWN") == "1" {
			log.Printf("SHUTDOWN ignored")
			return
		}
		for id := range st.running {
			update(st, mesos.TaskID{Value: id}, mesos.TASK_KILLED, "shutdown")
		}
		st.quit = true
	case executor.Event_ERROR:
		log.Printf("ERROR %s", e.Error.Message)
	case executor.Event_HEARTBEAT:
	default:
		log.Printf("unexpected event %v", e.Type)
	}
}

func launch(st *state, t mesos.TaskInfo) {
	st.unackedTasks[t.TaskID.Value] = t
	mode := string(t.Data)
	log.Printf("LAUNCH %s mode=%q", t.TaskID.Value, mode)
	st.running[t.TaskID.Value] = true
	update(st, t.TaskID, mesos.TASK_RUNNING, "running")
	switch mode {
	case "finish":
		delete(st.running, t.TaskID.Value)
		update(st, t.TaskID, mesos.TASK_FINISHED, "done")
	case "crash":
		time.Sleep(100 * time.Millisecond)
		os.Exit(3)
	case "child":
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			log.Printf("start child: %v", err)
			return
		}
		dir := os.Getenv("MESOS_SANDBOX")
		_ = os.WriteFile(filepath.Join(dir, "child.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	}
}

func update(st *state, id mesos.TaskID, s mesos.TaskState, msg string) {
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	status := mesos.TaskStatus{
		TaskID:     id,
		State:      s.Enum(),
		Source:     mesos.SOURCE_EXECUTOR.Enum(),
		ExecutorID: &st.executor.ExecutorID,
		Message:    &msg,
		UUID:       uuid,
	}
	upd := calls.Update(status)
	st.unackedUpdates[string(uuid)] = *upd.Update
	resp, err := st.cli.Send(context.Background(), calls.NonStreaming(upd))
	if resp != nil {
		resp.Close()
	}
	if err != nil {
		log.Printf("send update %s %s: %v", id.Value, s, err)
		return
	}
	fmt.Fprintf(os.Stderr, "sent %s %s\n", id.Value, s)
}
