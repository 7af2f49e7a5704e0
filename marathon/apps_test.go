package marathon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cbroglie/mustache"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const universeDir = "universe/mrredis"

// app is the part of a Marathon app definition the tests reason about.
type app struct {
	ID              string                  `json:"id"`
	Instances       int                     `json:"instances"`
	Cmd             string                  `json:"cmd"`
	Args            []string                `json:"args"`
	Env             map[string]string       `json:"env"`
	Labels          map[string]string       `json:"labels"`
	Constraints     [][]string              `json:"constraints"`
	RequirePorts    bool                    `json:"requirePorts"`
	Networks        []struct{ Mode string } `json:"networks"`
	PortDefinitions []struct {
		Port int    `json:"port"`
		Name string `json:"name"`
	} `json:"portDefinitions"`
	Ports        []int `json:"ports"`
	HealthChecks []struct {
		Protocol  string `json:"protocol"`
		Path      string `json:"path"`
		PortIndex *int   `json:"portIndex"`
		Port      *int   `json:"port"`
		Command   *struct {
			Value string `json:"value"`
		} `json:"command"`
	} `json:"healthChecks"`
	UpgradeStrategy *struct {
		MinimumHealthCapacity float64 `json:"minimumHealthCapacity"`
		MaximumOverCapacity   float64 `json:"maximumOverCapacity"`
	} `json:"upgradeStrategy"`
	Fetch []struct {
		URI        string `json:"uri"`
		Executable bool   `json:"executable"`
	} `json:"fetch"`
}

// appDoc is one app definition under test: a file users post as it is, or
// the Universe template rendered with a set of install options.
type appDoc struct {
	name string
	raw  []byte
}

func (d appDoc) decode(t *testing.T) app {
	t.Helper()
	var a app
	dec := json.NewDecoder(bytes.NewReader(d.raw))
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("%s: decode: %v", d.name, err)
	}
	return a
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unmarshalSchemaDoc(t *testing.T, name string, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not valid JSON: %v", name, err)
	}
	return v
}

// appSchema compiles Marathon's app schema. The file says
// "$schema": "http://json-schema.org/schema#", which jsonschema/v6 takes to
// mean the LATEST draft (2020-12); under it the schema does not even
// compile, because the tuple form of "items" used by `constraints` is not
// valid 2020-12 ("got array, want boolean or object"). The schema was
// written for draft-04, so the test drops "$schema" and compiles it as
// draft-04 explicitly.
func appSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc := unmarshalSchemaDoc(t, "app schema", readFile(t, "testdata/marathon-AppDefinition.schema.json"))
	obj, ok := doc.(map[string]any)
	if !ok {
		t.Fatal("app schema: not a JSON object")
	}
	delete(obj, "$schema")
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	const url = "file:///marathon-AppDefinition.schema.json"
	if err := c.AddResource(url, obj); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile app schema: %v", err)
	}
	return s
}

// staticApps are the files users post to Marathon as they are.
func staticApps(t *testing.T) []appDoc {
	return []appDoc{
		{"mrr-sched.json", readFile(t, "mrr-sched.json")},
		{"mrr-localproxy.json", readFile(t, "mrr-localproxy.json")},
	}
}

// customOptions are non-default install options, chosen to exercise every
// branch of the template (e.g. the optional principal).
const customOptions = `{
  "service": {"name": "redis-prod", "instances": 3, "cpus": 1, "mem": 512, "user": "redis",
              "role": "redis/prod", "principal": "mrredis-prod", "failover_timeout": "72h"},
  "mrredis": {"zk": "zk-1.zk:2181,zk-2.zk:2181,zk-3.zk:2181/redis-prod",
              "mesos_master": "https://leader.mesos:5050", "port_range": "7000-7100",
              "ping_interval": "500ms", "ping_misses": 4,
              "redis_server": "/opt/redis/bin/redis-server"}
}`

// renderedApps renders the Universe template with config.json's defaults
// and with customOptions.
func renderedApps(t *testing.T) []appDoc {
	t.Helper()
	schema := configSchema(t)
	defaults := configDefaults(t)
	var custom map[string]any
	if err := json.Unmarshal([]byte(customOptions), &custom); err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(toSchemaValue(t, custom)); err != nil {
		t.Fatalf("customOptions do not fit config.json: %v", err)
	}
	var out []appDoc
	for _, c := range []struct {
		name string
		opts map[string]any
	}{{"defaults", defaults}, {"custom", custom}} {
		out = append(out, appDoc{"marathon.json.mustache(" + c.name + ")", render(t, c.opts)})
	}
	return out
}

func allApps(t *testing.T) []appDoc {
	return append(staticApps(t), renderedApps(t)...)
}

// configSchema compiles config.json as the JSON Schema it must be.
func configSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc := unmarshalSchemaDoc(t, "config.json", readFile(t, filepath.Join(universeDir, "config.json")))
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	const url = "file:///config.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("config.json is not a valid JSON Schema: %v", err)
	}
	return s
}

// configDefaults builds the options object DC/OS would build from
// config.json when the user changes nothing: every property's default,
// nested under its object's key.
func configDefaults(t *testing.T) map[string]any {
	t.Helper()
	var schema map[string]any
	if err := json.Unmarshal(readFile(t, filepath.Join(universeDir, "config.json")), &schema); err != nil {
		t.Fatal(err)
	}
	v, err := defaultsOf(schema, "")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatal("config.json: top level is not an object schema")
	}
	return m
}

func defaultsOf(schema map[string]any, path string) (any, error) {
	if d, ok := schema["default"]; ok {
		return d, nil
	}
	props, ok := schema["properties"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("config.json: %s has neither a default nor properties", path)
	}
	out := map[string]any{}
	for name, p := range props {
		ps, ok := p.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("config.json: %s.%s is not a schema object", path, name)
		}
		v, err := defaultsOf(ps, path+"."+name)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// toSchemaValue converts v into the representation jsonschema/v6 validates.
func toSchemaValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return unmarshalSchemaDoc(t, "value", b)
}

func resources(t *testing.T) map[string]any {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal(readFile(t, filepath.Join(universeDir, "resource.json")), &r); err != nil {
		t.Fatalf("resource.json: %v", err)
	}
	return r
}

// render renders marathon.json.mustache the way DC/OS does: the install
// options under their nested keys plus resource.json under "resource".
// Every tag must resolve: mustache would silently render a missing one as
// nothing.
func render(t *testing.T, opts map[string]any) []byte {
	t.Helper()
	ctx := map[string]any{"resource": resources(t)}
	for k, v := range opts {
		ctx[k] = v
	}
	tmpl, err := mustache.ParseFile(filepath.Join(universeDir, "marathon.json.mustache"))
	if err != nil {
		t.Fatalf("parse template: %v", err)
	}
	if err := checkTags(tmpl.Tags(), ctx); err != nil {
		t.Fatalf("template: %v", err)
	}
	s, err := tmpl.Render(ctx)
	if err != nil {
		t.Fatalf("render template: %v", err)
	}
	return []byte(s)
}

func checkTags(tags []mustache.Tag, ctx map[string]any) error {
	for _, tag := range tags {
		if tag.Type() == mustache.Partial {
			return fmt.Errorf("partial {{>%s}} is not supported by DC/OS", tag.Name())
		}
		if _, ok := lookupPath(ctx, tag.Name()); !ok {
			return fmt.Errorf("{{%s}} does not resolve in the install options or resource.json", tag.Name())
		}
		if tag.Type() == mustache.Section || tag.Type() == mustache.InvertedSection {
			if err := checkTags(tag.Tags(), ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func lookupPath(ctx map[string]any, path string) (any, bool) {
	var cur any = ctx
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestAppSchemaRejectsBadApps(t *testing.T) {
	// The schema must actually bite: if it were compiled under the wrong
	// draft, some of these would pass.
	schema := appSchema(t)
	for name, doc := range map[string]string{
		"no id":                 `{"cmd": "x"}`,
		"cmd and args":          `{"id": "/a", "cmd": "x", "args": ["y"]}`,
		"unknown field":         `{"id": "/a", "cmd": "x", "colour": "red"}`,
		"bad operator":          `{"id": "/a", "cmd": "x", "constraints": [["hostname", "UNIQ"]]}`,
		"constraint too long":   `{"id": "/a", "cmd": "x", "constraints": [["hostname", "LIKE", "a", "b"]]}`,
		"bad health protocol":   `{"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "GOPHER"}]}`,
		"over capacity above 1": `{"id": "/a", "cmd": "x", "upgradeStrategy": {"maximumOverCapacity": 2}}`,
		"bad id":                `{"id": "/Upper", "cmd": "x"}`,
		"fetch without uri":     `{"id": "/a", "cmd": "x", "fetch": [{"executable": true}]}`,
	} {
		if err := schema.Validate(unmarshalSchemaDoc(t, name, []byte(doc))); err == nil {
			t.Errorf("%s: schema accepted %s", name, doc)
		}
	}
	if err := schema.Validate(unmarshalSchemaDoc(t, "minimal", []byte(`{"id": "/a", "cmd": "x"}`))); err != nil {
		t.Errorf("schema rejected a minimal app: %v", err)
	}
}

func TestAppsValidateAgainstMarathonSchema(t *testing.T) {
	schema := appSchema(t)
	for _, d := range allApps(t) {
		if err := schema.Validate(unmarshalSchemaDoc(t, d.name, d.raw)); err != nil {
			t.Errorf("%s does not validate against Marathon's app schema: %v", d.name, err)
		}
	}
}

func TestHealthChecksAndConstraintsReferenceValidPorts(t *testing.T) {
	for _, d := range allApps(t) {
		a := d.decode(t)
		nports := len(a.PortDefinitions)
		if nports == 0 {
			nports = len(a.Ports)
		}
		if len(a.HealthChecks) == 0 {
			t.Errorf("%s: no health check", d.name)
		}
		for i, hc := range a.HealthChecks {
			switch hc.Protocol {
			case "COMMAND":
				if hc.Command == nil || hc.Command.Value == "" {
					t.Errorf("%s: health check %d: COMMAND without command.value", d.name, i)
				}
				if hc.PortIndex != nil || hc.Port != nil {
					t.Errorf("%s: health check %d: COMMAND checks take no port", d.name, i)
				}
			default:
				if hc.Port != nil {
					continue
				}
				if hc.PortIndex == nil {
					t.Errorf("%s: health check %d (%s) has neither port nor portIndex", d.name, i, hc.Protocol)
					continue
				}
				if *hc.PortIndex < 0 || *hc.PortIndex >= nports {
					t.Errorf("%s: health check %d: portIndex %d, but the app has %d ports", d.name, i, *hc.PortIndex, nports)
				}
				if strings.Contains(hc.Protocol, "HTTP") && !strings.HasPrefix(hc.Path, "/") {
					t.Errorf("%s: health check %d: HTTP check path %q must start with /", d.name, i, hc.Path)
				}
			}
		}
		if idx, ok := a.Labels["DCOS_SERVICE_PORT_INDEX"]; ok {
			var n int
			if _, err := fmt.Sscan(idx, &n); err != nil || n < 0 || n >= nports {
				t.Errorf("%s: DCOS_SERVICE_PORT_INDEX %q, but the app has %d ports", d.name, idx, nports)
			}
		}
		unique := false
		for _, c := range a.Constraints {
			if len(c) < 2 {
				t.Errorf("%s: constraint %q needs a field and an operator", d.name, c)
				continue
			}
			switch c[1] {
			case "UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS":
			default:
				t.Errorf("%s: constraint %q: unknown operator", d.name, c)
			}
			if c[0] == "hostname" && c[1] == "UNIQUE" {
				unique = true
			}
		}
		// Both the scheduler (HA pair) and the proxies (one per host) must
		// be spread one per host.
		if !unique {
			t.Errorf("%s: lacks the [\"hostname\",\"UNIQUE\"] constraint", d.name)
		}
	}
}

func TestSchedulerUpgradeKeepsALeader(t *testing.T) {
	apps := append([]appDoc{staticApps(t)[0]}, renderedApps(t)...)
	for _, d := range apps {
		a := d.decode(t)
		if a.Instances < 2 && d.name != "marathon.json.mustache(custom)" {
			t.Errorf("%s: %d instances: run at least 2 for a standby scheduler", d.name, a.Instances)
		}
		us := a.UpgradeStrategy
		if us == nil {
			t.Fatalf("%s: no upgradeStrategy", d.name)
		}
		// minimumHealthCapacity 1: Marathon starts and health-checks a new
		// instance before it stops an old one, so a standby always exists
		// when the leader is stopped. It must be able to over-provision by
		// at least one whole instance, or the upgrade cannot proceed.
		if us.MinimumHealthCapacity != 1 {
			t.Errorf("%s: minimumHealthCapacity %v, want 1", d.name, us.MinimumHealthCapacity)
		}
		if extra := math.Floor(float64(a.Instances) * us.MaximumOverCapacity); extra < 1 {
			t.Errorf("%s: maximumOverCapacity %v allows %v extra instances of %d: the upgrade would stall",
				d.name, us.MaximumOverCapacity, extra, a.Instances)
		}
		if len(a.Fetch) < 2 {
			t.Errorf("%s: fetches %d URIs, want mrr-sched and mrr-executor", d.name, len(a.Fetch))
		}
		for _, f := range a.Fetch {
			if !f.Executable {
				t.Errorf("%s: fetched %s is not marked executable", d.name, f.URI)
			}
		}
	}
}

func TestLocalProxyReservesItsPorts(t *testing.T) {
	d := staticApps(t)[1]
	a := d.decode(t)
	if !a.RequirePorts {
		t.Error("requirePorts must be true: the proxy listens on fixed ports")
	}
	for _, n := range a.Networks {
		if n.Mode != "host" {
			t.Errorf("network mode %q: the proxy must use host networking", n.Mode)
		}
	}
	have := map[int]bool{}
	for _, p := range a.PortDefinitions {
		if have[p.Port] {
			t.Errorf("port %d is declared twice", p.Port)
		}
		have[p.Port] = true
	}
	for p := 6100; p <= 6300; p++ {
		if !have[p] {
			t.Errorf("port %d of the proxy range is not reserved", p)
		}
	}
	if len(a.PortDefinitions) != 202 {
		t.Errorf("%d port definitions, want 201 proxy ports + the admin port", len(a.PortDefinitions))
	}
	us := a.UpgradeStrategy
	if us == nil {
		t.Fatal("no upgradeStrategy")
	}
	// A new proxy cannot start beside the old one (same host, same
	// ports), so Marathon must stop old ones first, but never all at once.
	if us.MaximumOverCapacity != 0 {
		t.Errorf("maximumOverCapacity %v: an extra proxy can never be placed; use 0", us.MaximumOverCapacity)
	}
	keep := int(math.Ceil(float64(a.Instances) * us.MinimumHealthCapacity))
	if keep >= a.Instances || (a.Instances > 1 && keep < 1) {
		t.Errorf("minimumHealthCapacity %v with %d instances keeps %d running during an upgrade: want between 1 and %d",
			us.MinimumHealthCapacity, a.Instances, keep, a.Instances-1)
	}
}

func TestUniversePackage(t *testing.T) {
	var pkg map[string]any
	if err := json.Unmarshal(readFile(t, filepath.Join(universeDir, "package.json")), &pkg); err != nil {
		t.Fatalf("package.json: %v", err)
	}
	// Required and allowed keys of a packagingVersion 4.0 package.
	for _, k := range []string{"packagingVersion", "name", "version", "maintainer", "description",
		"tags", "upgradesFrom", "downgradesTo", "minDcosReleaseVersion"} {
		if _, ok := pkg[k]; !ok {
			t.Errorf("package.json: %q is required", k)
		}
	}
	allowed := map[string]bool{"packagingVersion": true, "name": true, "version": true, "scm": true,
		"maintainer": true, "website": true, "description": true, "framework": true, "upgradesFrom": true,
		"downgradesTo": true, "preInstallNotes": true, "postInstallNotes": true, "postUninstallNotes": true,
		"tags": true, "selected": true, "licenses": true, "minDcosReleaseVersion": true}
	for k := range pkg {
		if !allowed[k] {
			t.Errorf("package.json: %q is not a packagingVersion 4.0 field", k)
		}
	}
	if pkg["packagingVersion"] != "4.0" {
		t.Errorf("packagingVersion %v, want \"4.0\"", pkg["packagingVersion"])
	}
	if pkg["framework"] != true {
		t.Error("package.json: framework must be true: mrr-sched is a Mesos framework")
	}
	if v, _ := pkg["minDcosReleaseVersion"].(string); !regexpMatch(`^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$`, v) {
		t.Errorf("minDcosReleaseVersion %q is not a DC/OS release version", v)
	}
	if v, _ := pkg["version"].(string); !regexpMatch(`^[-a-zA-Z0-9.]+$`, v) {
		t.Errorf("version %q has characters Universe does not allow", v)
	}
	tags, _ := pkg["tags"].([]any)
	if len(tags) == 0 {
		t.Error("package.json: tags are empty")
	}
	for _, tg := range tags {
		if s, _ := tg.(string); !regexpMatch(`^[^\s]+$`, s) {
			t.Errorf("tag %q: tags are single words", tg)
		}
	}

	// resource.json: URIs and CLI binaries in the shape Cosmos reads.
	res := resources(t)
	uris, _ := lookupPath(res, "assets.uris")
	if m, ok := uris.(map[string]any); !ok || len(m) == 0 {
		t.Error("resource.json: assets.uris is empty")
	}
	bins, ok := lookupPath(res, "cli.binaries")
	bm, _ := bins.(map[string]any)
	if !ok || len(bm) == 0 {
		t.Error("resource.json: cli.binaries is empty")
	}
	for osName, v := range bm {
		switch osName {
		case "linux", "darwin", "windows":
		default:
			t.Errorf("cli.binaries: unknown OS %q", osName)
		}
		info, _ := lookupPath(map[string]any{"x": v}, "x.x86-64")
		im, _ := info.(map[string]any)
		if im == nil {
			t.Errorf("cli.binaries.%s: x86-64 is required", osName)
			continue
		}
		if k := im["kind"]; k != "executable" && k != "zip" {
			t.Errorf("cli.binaries.%s: kind %v, want executable or zip", osName, k)
		}
		if u, _ := im["url"].(string); !strings.HasPrefix(u, "https://") {
			t.Errorf("cli.binaries.%s: url %q", osName, u)
		}
		hashes, _ := im["contentHash"].([]any)
		if len(hashes) == 0 {
			t.Errorf("cli.binaries.%s: contentHash is required", osName)
		}
		for _, h := range hashes {
			hm, _ := h.(map[string]any)
			if hm["algo"] != "sha256" || !regexpMatch(`^[0-9a-f]{64}$`, fmt.Sprint(hm["value"])) {
				t.Errorf("cli.binaries.%s: contentHash %v is not a sha256", osName, h)
			}
		}
	}
}

func TestConfigDefaultsValidate(t *testing.T) {
	schema := configSchema(t)
	defaults := configDefaults(t)
	if err := schema.Validate(toSchemaValue(t, defaults)); err != nil {
		t.Fatalf("config.json's defaults do not validate against it: %v", err)
	}
	// The schema must reject nonsense, or it protects nothing.
	bad := map[string]string{
		"unknown section":         `{"colour": {}}`,
		"bad name":                `{"service": {"name": "Bad Name"}}`,
		"zero instances":          `{"service": {"instances": 0}}`,
		"role with glob":          `{"service": {"role": "a*"}}`,
		"bad duration":            `{"service": {"failover_timeout": "1 week"}}`,
		"bad port range":          `{"mrredis": {"port_range": "6100"}}`,
		"redis path with a space": `{"mrredis": {"redis_server": "/opt/my redis"}}`,
	}
	for name, doc := range bad {
		if err := schema.Validate(unmarshalSchemaDoc(t, name, []byte(doc))); err == nil {
			t.Errorf("config.json accepted %s: %s", name, doc)
		}
	}
}

func TestRenderedAppNamesTheFramework(t *testing.T) {
	var custom map[string]any
	if err := json.Unmarshal([]byte(customOptions), &custom); err != nil {
		t.Fatal(err)
	}
	defaults := configDefaults(t)
	for i, d := range renderedApps(t) {
		opts := []map[string]any{defaults, custom}[i]
		name, _ := lookupPath(opts, "service.name")
		a := d.decode(t)
		if a.ID != "/"+fmt.Sprint(name) {
			t.Errorf("%s: id %q, want /%v", d.name, a.ID, name)
		}
		if got := a.Labels["DCOS_PACKAGE_FRAMEWORK_NAME"]; got != name {
			t.Errorf("%s: DCOS_PACKAGE_FRAMEWORK_NAME %q, want the service name %v", d.name, got, name)
		}
		if got := a.Labels["DCOS_SERVICE_NAME"]; got != name {
			t.Errorf("%s: DCOS_SERVICE_NAME %q, want %v", d.name, got, name)
		}
		words, err := shellWords(a.Cmd, marathonEnv(a))
		if err != nil {
			t.Fatalf("%s: cmd: %v", d.name, err)
		}
		if got := flagValue(words, "framework-name"); got != name {
			t.Errorf("%s: --framework-name %q, want the label's %v", d.name, got, name)
		}
		// Optional settings appear exactly when given.
		for flagName, opt := range map[string]string{"principal": "service.principal", "executor-env": "mrredis.redis_server"} {
			v, _ := lookupPath(opts, opt)
			want := fmt.Sprint(v)
			if flagName == "executor-env" && want != "" {
				want = "MRR_REDIS_SERVER=" + want
			}
			if got := flagValue(words, flagName); got != want {
				t.Errorf("%s: --%s %q, want %q (from %s)", d.name, flagName, got, want, opt)
			}
		}
	}
}

// marathonEnv is the environment Marathon and Mesos give a task of a: the
// app's env plus the variables the app definitions may use.
func marathonEnv(a app) map[string]string {
	env := map[string]string{
		"HOST":          "agent-1.example.com",
		"MESOS_SANDBOX": "/var/lib/mesos/slave/sandbox",
		"MESOS_TASK_ID": "mrredis.task-1",
	}
	ports := a.PortDefinitions
	for i, p := range ports {
		port := p.Port
		if port == 0 || !a.RequirePorts {
			port = 31000 + i
		}
		env[fmt.Sprintf("PORT%d", i)] = fmt.Sprint(port)
		if i == 0 {
			env["PORT"] = fmt.Sprint(port)
		}
	}
	for k, v := range a.Env {
		env[k] = v
	}
	return env
}

// flagValue returns the value given to --name (or -name) in words, either
// as "--name value" or "--name=value"; "" when absent.
func flagValue(words []string, name string) string {
	for i, w := range words {
		w = strings.TrimLeft(w, "-")
		if w == name && i+1 < len(words) {
			return words[i+1]
		}
		if v, ok := strings.CutPrefix(w, name+"="); ok {
			return v
		}
	}
	return ""
}

func TestShellWords(t *testing.T) {
	env := map[string]string{"PORT0": "31000", "HOST": "h1", "SPACE": "a b"}
	good := map[string][]string{
		`./mrr-sched --listen :$PORT0`:  {"./mrr-sched", "--listen", ":31000"},
		`a "b c" 'd $e' f\ g`:           {"a", "b c", "d $e", "f g"},
		`x --u=http://${HOST}:$PORT0/p`: {"x", "--u=http://h1:31000/p"},
		`x "$SPACE" '*'`:                {"x", "a b", "*"},
		"x\t y  ":                       {"x", "y"},
		`x "a\"b\\c"`:                   {"x", `a"b\c`},
	}
	for in, want := range good {
		got, err := shellWords(in, env)
		if err != nil {
			t.Errorf("shellWords(%q): %v", in, err)
			continue
		}
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("shellWords(%q) = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{`x --role *`, `x; y`, `x $(y)`, "x `y`", `x $NOPE`, `x 'a`, `x "a`, `x $SPACE`, `x > f`} {
		if got, err := shellWords(in, env); err == nil {
			t.Errorf("shellWords(%q) = %q, want an error", in, got)
		}
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
