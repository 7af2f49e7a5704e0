package mesoslocal

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestFetchURI(t *testing.T) {
	archive := tarGz(t, map[string]string{"pkg/run.sh": "#!/bin/sh\necho hi\n"})
	evil := tarGz(t, map[string]string{"../escape": "x"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bundle.tar.gz":
			w.Write(archive)
		case "/evil.tgz":
			w.Write(evil)
		case "/tool":
			w.Write([]byte("#!/bin/sh\nexit 0\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	local := filepath.Join(t.TempDir(), "local.txt")
	os.WriteFile(local, []byte("local"), 0o600)

	for _, tc := range []struct {
		name  string
		uri   mesos.CommandInfo_URI
		check func(t *testing.T, dir string)
		err   string
	}{
		{name: "http tar.gz is extracted", uri: mesos.CommandInfo_URI{Value: srv.URL + "/bundle.tar.gz"}, check: func(t *testing.T, dir string) {
			fileIs(t, filepath.Join(dir, "pkg", "run.sh"), "echo hi", 0o100)
			fileIs(t, filepath.Join(dir, "bundle.tar.gz"), "", 0)
		}},
		{name: "extract false keeps the archive", uri: mesos.CommandInfo_URI{Value: srv.URL + "/bundle.tar.gz", Extract: proto.Bool(false)}, check: func(t *testing.T, dir string) {
			if _, err := os.Stat(filepath.Join(dir, "pkg")); err == nil {
				t.Error("extracted although extract=false")
			}
		}},
		{name: "executable http file", uri: mesos.CommandInfo_URI{Value: srv.URL + "/tool", Executable: proto.Bool(true)}, check: func(t *testing.T, dir string) {
			fileIs(t, filepath.Join(dir, "tool"), "exit 0", 0o100)
		}},
		{name: "local path with output_file", uri: mesos.CommandInfo_URI{Value: local, OutputFile: proto.String("renamed.txt")}, check: func(t *testing.T, dir string) {
			fileIs(t, filepath.Join(dir, "renamed.txt"), "local", 0)
		}},
		{name: "file URL", uri: mesos.CommandInfo_URI{Value: "file://" + local}, check: func(t *testing.T, dir string) {
			fileIs(t, filepath.Join(dir, "local.txt"), "local", 0)
		}},
		{name: "HTTP 404", uri: mesos.CommandInfo_URI{Value: srv.URL + "/missing"}, err: "404"},
		{name: "missing local file", uri: mesos.CommandInfo_URI{Value: "/no/such/file"}, err: "no such file"},
		{name: "unsupported scheme", uri: mesos.CommandInfo_URI{Value: "hdfs://x/y"}, err: "unsupported URI scheme"},
		{name: "archive escaping the sandbox", uri: mesos.CommandInfo_URI{Value: srv.URL + "/evil.tgz"}, err: "escapes the sandbox"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err := fetchURI(context.Background(), tc.uri, dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, dir)
		})
	}
}

func fileIs(t *testing.T, path, contains string, modeBits os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), contains) {
		t.Errorf("%s holds %q, want %q", path, b, contains)
	}
	if st.Mode()&modeBits != modeBits {
		t.Errorf("%s mode %v lacks %v", path, st.Mode(), modeBits)
	}
}

// A task whose URIs cannot be fetched fails with REASON_CONTAINER_LAUNCH_FAILED.
func TestFetchFailureFailsTask(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := s.waitOffers()[0]
		task := commandTask(o.AgentID, "nofetch", "true")
		task.Command.URIs = []mesos.CommandInfo_URI{{Value: "/no/such/file"}}
		s.mustCall(launch([]mesos.Offer{o}, task))
		st := s.waitUpdate("nofetch", mesos.TASK_FAILED)
		if st.GetReason() != mesos.REASON_CONTAINER_LAUNCH_FAILED || !strings.Contains(st.GetMessage(), "/no/such/file") {
			t.Errorf("reason %v message %q", st.GetReason(), st.GetMessage())
		}
	})
}
