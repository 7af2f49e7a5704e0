package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/internal/testenv"
)

// chromiumPath finds the browser (scripts/deps.sh installs Debian's
// chromium) or fails with what to install.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: run scripts/deps.sh (apt-get install chromium)")
	return ""
}

// browser is a headless Chromium tab with helpers for the dashboard test.
type browser struct {
	t     *testing.T
	ctx   context.Context
	dir   string // screenshots
	shots int

	mu     sync.Mutex
	errors []string // uncaught exceptions and console.error calls
}

func newBrowser(t *testing.T, dir string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1366, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser; it must not have a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx, dir: dir}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			b.record(fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.record("console.error: " + strings.Join(parts, " "))
			}
		}
	}()
	return b
}

func (b *browser) record(s string) {
	b.mu.Lock()
	b.errors = append(b.errors, s)
	b.mu.Unlock()
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) eval(expr string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](expr))
}

// waitJS waits until the JavaScript expression is true. The page is never
// reloaded: what it waits for must arrive through the live event stream.
func (b *browser) waitJS(timeout time.Duration, what, cond, describe string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := b.eval("String(Boolean(" + cond + "))")
		if err == nil && v == "true" {
			return
		}
		if time.Now().After(deadline) {
			state, _ := b.eval(describe)
			b.shot("timeout-" + strings.ReplaceAll(what, " ", "-"))
			b.t.Fatalf("dashboard: %s: not seen in %s (err %v); page shows: %s", what, timeout, err, state)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// shot saves a screenshot of the viewport as a numbered PNG.
func (b *browser) shot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	b.shots++
	p := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
		return ""
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

func text(id string) string { return fmt.Sprintf("document.getElementById(%q).textContent", id) }

// pageState is what a failed wait reports about the page.
const pageState = `JSON.stringify({hash: location.hash, conn: document.getElementById('conn').dataset.state,
  state: document.getElementById('inst-state').textContent, reason: document.getElementById('inst-reason').textContent,
  members: document.querySelectorAll('#members-body tr').length, list: document.getElementById('list-body').textContent,
  createError: document.getElementById('create-error').textContent, toasts: document.getElementById('toasts').textContent})`

// TestDashboard drives the dashboard in headless Chromium against mrr-sched
// on local Mesos and real ZooKeeper: a validation error from the API shown
// in the create form, an instance created from the form turning RUNNING
// live, the page surviving a scheduler restart, a failover appearing after
// the master's redis-server is killed, and deletion through the
// confirmation dialog. Screenshots go to $MRR_ARTIFACTS (or a temporary
// directory) and are logged.
func TestDashboard(t *testing.T) {
	testenv.NeedProcesses(t)
	c := startCluster(t, 3)
	b := newBrowser(t, artifactsDir(t))
	const name = "ui-cache"

	b.do("open the dashboard", chromedp.Navigate(c.url+"/"))
	b.waitJS(20*time.Second, "live and empty list",
		`document.getElementById('conn').dataset.state === 'live' && !document.getElementById('list-empty').hidden`, pageState)
	b.shot("empty-list")
	// Anything the Content-Security-Policy blocks from here on (inline
	// styles, scripts) is a bug: report it as an error.
	if _, err := b.eval(`document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + (e.blockedURI || e.sample))), 'ok'`); err != nil {
		t.Fatal(err)
	}

	// The API's validation message appears in the form, on the field.
	b.do("open the create form", chromedp.Click(chromedp.ID("new-btn")))
	b.waitJS(5*time.Second, "create dialog open", `document.getElementById('create-dialog').open`, pageState)
	b.do("fill the form with too little memory",
		chromedp.SendKeys(chromedp.ID("c-name"), name),
		chromedp.SetValue(chromedp.ID("c-memory"), "1"),
		chromedp.SetValue(chromedp.ID("c-replicas"), "1"),
		chromedp.Click(chromedp.ID("create-submit")))
	b.waitJS(10*time.Second, "the API's validation message",
		text("create-error")+`.includes('memory_mb 1 is out of range') && document.getElementById('c-memory').getAttribute('aria-invalid') === 'true'`, pageState)
	b.shot("create-validation-error")

	b.do("create with valid memory, reading from replicas",
		chromedp.SetValue(chromedp.ID("c-memory"), "32"),
		chromedp.Click(chromedp.ID("c-read-replicas")),
		chromedp.Click(chromedp.ID("create-submit")))
	b.waitJS(10*time.Second, "the instance page", `location.hash === '#/instances/`+name+`' && !document.getElementById('create-dialog').open`, pageState)
	b.waitJS(10*time.Second, "the reads mode among the facts",
		text("inst-facts")+`.includes('Readsreplicas too (eventually consistent)')`, pageState)
	b.waitJS(90*time.Second, "RUNNING with 2 members",
		text("inst-state")+` === 'RUNNING' && document.querySelectorAll('#members-body tr').length === 2 && `+text("t-replicas")+` === '1 of 1'`, pageState)
	b.waitJS(30*time.Second, "a chart drawn from live samples", `document.querySelector('#chart-ops polyline') !== null`, pageState)
	b.shot("instance-running")
	if got, _ := b.eval(text("t-proxy")); !regexp.MustCompile(`^localhost:\d+$`).MatchString(got) {
		t.Errorf("proxy port tile shows %q", got)
	}

	// The list shows it too; its name leads back to its page.
	b.do("go to the list", chromedp.Click(chromedp.CSS(`.crumbs a[href="#/"]`)))
	row := `document.querySelector('#list-body tr[data-name="` + name + `"]')`
	b.waitJS(10*time.Second, "the instance in the list",
		row+` !== null && `+row+`.textContent.includes('RUNNING') && `+row+`.textContent.includes('1 of 1') && `+row+`.textContent.includes('localhost:')`, pageState)
	b.shot("list-running")
	b.do("back to the instance", chromedp.Click(chromedp.CSS(`#list-body a.name-link`)))
	b.waitJS(10*time.Second, "the instance page again", `location.hash === '#/instances/`+name+`' && `+text("inst-state")+` === 'RUNNING'`, pageState)

	b.do("phone viewport", chromedp.EmulateViewport(390, 844))
	b.shot("instance-running-phone")
	b.do("laptop viewport", chromedp.EmulateViewport(1366, 900))

	// A scheduler restart: the page notices, reconnects by itself and
	// still shows the instance (the stream replays every instance).
	c.stopScheduler()
	b.waitJS(20*time.Second, "the connection lost", `document.getElementById('conn').dataset.state !== 'live'`, pageState)
	b.shot("scheduler-down")
	c.startScheduler()
	b.waitJS(60*time.Second, "live again after the restart",
		`document.getElementById('conn').dataset.state === 'live' && `+text("inst-state")+` === 'RUNNING' && document.querySelectorAll('#members-body tr').length === 2`, pageState)

	// Kill the master's redis-server: the failover shows up live.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := client.New(c.url)
	v, err := cl.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !v.ReadFromReplicas {
		t.Error("created from the form with \"Read from replicas\" ticked, but the instance has read_from_replicas off")
	}
	oldMaster := v.Master
	rc := redis.NewClient(&redis.Options{Addr: oldMaster, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	info, err := rc.Info(ctx, "server").Result()
	rc.Close()
	if err != nil {
		t.Fatalf("INFO from master %s: %v", oldMaster, err)
	}
	pid := 0
	for _, line := range strings.Split(info, "\r\n") {
		if s, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, _ = strconv.Atoi(s)
		}
	}
	if pid == 0 {
		t.Fatalf("no process_id in INFO of %s", oldMaster)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill redis-server %d: %v", pid, err)
	}
	b.waitJS(30*time.Second, "the failover in the history",
		`document.querySelectorAll('#history-body tr').length === 1 && `+text("t-failovers")+` === '1' && `+
			text("t-master")+` !== '`+oldMaster+`' && `+text("history-body")+`.includes('`+oldMaster+`')`, pageState)
	b.shot("failover")
	b.waitJS(60*time.Second, "RUNNING again after the failover",
		text("inst-state")+` === 'RUNNING' && document.querySelectorAll('#members-body tr').length === 2`, pageState)

	// Delete through the confirmation dialog, which wants the name typed.
	b.do("ask to delete", chromedp.Click(chromedp.ID("btn-delete")))
	b.waitJS(5*time.Second, "confirmation dialog", `document.getElementById('confirm-dialog').open && document.getElementById('confirm-ok').disabled`, pageState)
	b.do("type the name", chromedp.SendKeys(chromedp.ID("confirm-input"), name))
	b.waitJS(5*time.Second, "delete enabled", `!document.getElementById('confirm-ok').disabled`, pageState)
	b.shot("delete-confirmation")
	b.do("confirm", chromedp.Click(chromedp.ID("confirm-ok")))
	b.waitJS(60*time.Second, "the instance gone from the list",
		`(location.hash === '#/' || location.hash === '') && document.querySelector('#list-body tr[data-name="`+name+`"]') === null && !document.getElementById('list-empty').hidden`, pageState)
	b.shot("deleted")
	waitUntil(t, 30*time.Second, "no redis-server left", func() (bool, string) {
		n := len(redisUnder(c.c.Mesos.WorkDir()))
		return n == 0, fmt.Sprintf("%d left", n)
	})

	// No polling: besides the event stream, the page asked for the list
	// once per connection (2, a few more if a reconnection flapped) and sent
	// the 3 actions (2 creates, 1 delete).
	fetches, err := b.eval(`String(performance.getEntriesByType('resource').filter(e => e.initiatorType === 'fetch' && e.name.includes('/api/v1/')).map(e => new URL(e.name).pathname).join(' '))`)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(fetches)); n > 8 {
		t.Errorf("the dashboard made %d API requests besides the event stream (polling?): %s", n, fetches)
	} else {
		t.Logf("API requests besides the event stream: %s", fetches)
	}

	// Behind a path prefix, as DC/OS Admin Router serves it at
	// /service/<name>/: every asset and API call must still resolve.
	target, err := url.Parse(c.url)
	if err != nil {
		t.Fatal(err)
	}
	router := httptest.NewServer(http.StripPrefix("/service/mrredis", httputil.NewSingleHostReverseProxy(target)))
	defer func() {
		// The page's event stream is still open: Close alone would wait for it.
		router.CloseClientConnections()
		router.Close()
	}()
	b.do("open the dashboard under a path prefix", chromedp.Navigate(router.URL+"/service/mrredis/"))
	b.waitJS(20*time.Second, "live and listing under the prefix",
		`document.getElementById('conn').dataset.state === 'live' && !document.getElementById('list-empty').hidden`, pageState)
	b.shot("under-path-prefix")

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		// A dropped event stream during the restart is logged by the
		// browser itself, not by our code; anything else is a bug.
		t.Errorf("browser: %s", e)
	}
}
