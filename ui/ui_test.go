package ui

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServesIndex(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/", "/index.html"} {
		resp := get(t, h, http.MethodGet, p)
		b := body(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		if !strings.Contains(b, `<script type="module" src="static/js/app.js">`) || !strings.Contains(b, `<meta name="viewport"`) {
			t.Errorf("GET %s: not the dashboard page:\n%.300s", p, b)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", p, csp)
		}
		if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s: caching headers %v", p, resp.Header)
		}
	}
}

func TestRevalidation(t *testing.T) {
	h := Handler()
	etag := get(t, h, http.MethodGet, "/static/app.css").Header.Get("ETag")
	resp := get(t, h, http.MethodGet, "/static/app.css", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET with a matching If-None-Match: %d, want 304", resp.StatusCode)
	}
	resp = get(t, h, http.MethodHead, "/")
	if resp.StatusCode != http.StatusOK || body(t, resp) != "" {
		t.Errorf("HEAD /: %d", resp.StatusCode)
	}
}

func TestRejects(t *testing.T) {
	h := Handler()
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodGet, "/api/v1/instances", http.StatusNotFound},
		{http.MethodGet, "/static/nope.js", http.StatusNotFound},
		{http.MethodGet, "/static/../ui.go", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/static/app.css", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		if got := get(t, h, tt.method, tt.path).StatusCode; got != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, got, tt.status)
		}
	}
}

// TestAssetsExist follows every reference of index.html and every import
// of the JavaScript modules, and checks each is served with its type.
func TestAssetsExist(t *testing.T) {
	h := Handler()
	index := body(t, get(t, h, http.MethodGet, "/"))
	// Relative references only: the dashboard may be served under a
	// path prefix (DC/OS Admin Router).
	if abs := regexp.MustCompile(`(?:src|href)="/`).FindString(index); abs != "" {
		t.Fatalf("index.html has an absolute reference %q: it breaks under a path prefix", abs)
	}
	refs := regexp.MustCompile(`(?:src|href)="(static/[^"]+)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html references only %d assets", len(refs))
	}
	want := map[string]string{
		".css": "text/css; charset=utf-8",
		".js":  "text/javascript; charset=utf-8",
		".svg": "image/svg+xml",
	}
	queue := []string{}
	for _, r := range refs {
		queue = append(queue, "/"+r[1]) // as the browser resolves it on "/"
	}
	importRE := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"](\./[^'"]+)['"]`)
	seen := map[string]bool{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		resp := get(t, h, http.MethodGet, p)
		b := body(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); ct != want[path.Ext(p)] {
			t.Errorf("GET %s: Content-Type %q, want %q", p, ct, want[path.Ext(p)])
		}
		if path.Ext(p) == ".js" {
			for _, m := range importRE.FindAllStringSubmatch(b, -1) {
				queue = append(queue, path.Join(path.Dir(p), m[1]))
			}
		}
	}
	// Every module must be reachable from app.js: a file nobody imports is
	// dead code or a missing import.
	_ = fs.WalkDir(static, "static/js", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !seen["/"+p] {
			t.Errorf("%s is not imported by any module", p)
		}
		return nil
	})
}

// TestElementIDs checks that every element the scripts look up by id
// exists in index.html, and that ids are unique.
func TestElementIDs(t *testing.T) {
	index, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(string(index), -1) {
		ids[m[1]]++
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %q appears %d times in index.html", id, n)
		}
	}
	for _, m := range regexp.MustCompile(`\s(?:for|aria-labelledby|aria-describedby)="([^"]+)"`).FindAllStringSubmatch(string(index), -1) {
		for _, id := range strings.Fields(m[1]) {
			if ids[id] == 0 {
				t.Errorf("index.html refers to missing id %q", id)
			}
		}
	}
	lookup := regexp.MustCompile(`\$\('([A-Za-z0-9_-]+)'\)`)
	list := regexp.MustCompile(`\[\s*'([a-z0-9-]+)'\s*,\s*'([a-z0-9-]+)'\s*\]`)
	n := 0
	_ = fs.WalkDir(static, "static/js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := static.ReadFile(p)
		for _, m := range lookup.FindAllStringSubmatch(string(b), -1) {
			n++
			if ids[m[1]] == 0 {
				t.Errorf("%s looks up id %q, which index.html lacks", p, m[1])
			}
		}
		// The id lists of loops: ['scale-replicas', 'resize-memory'].
		for _, m := range list.FindAllStringSubmatch(string(b), -1) {
			for _, id := range m[1:] {
				if strings.Contains(id, "-") && ids[id] == 0 {
					t.Errorf("%s names id %q, which index.html lacks", p, id)
				}
			}
		}
		return nil
	})
	if n < 20 {
		t.Errorf("found only %d id lookups in the scripts; the check is not looking", n)
	}
}

func nodePath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the JavaScript checks need Node.js 18 or later")
	}
	return p
}

// TestJavaScriptSyntax runs `node --check` on every module.
func TestJavaScriptSyntax(t *testing.T) {
	node := nodePath(t)
	dir := t.TempDir()
	n := 0
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		// .mjs: check the file as the ES module the browser loads.
		f := filepath.Join(dir, strings.ReplaceAll(p, "/", "_")+".mjs")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			return err
		}
		if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
			t.Errorf("node --check %s: %v\n%s", p, err, out)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("checked only %d scripts", n)
	}
}

// TestJavaScriptUnits runs the unit tests of the pure modules (store,
// charts, formatting) with Node's test runner.
func TestJavaScriptUnits(t *testing.T) {
	node := nodePath(t)
	cmd := exec.Command(node, "--test", "jstest/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test jstest/: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^# pass [1-9]`).Match(out) || !strings.Contains(string(out), "# fail 0") {
		t.Errorf("node --test ran no tests:\n%s", out)
	}
}
