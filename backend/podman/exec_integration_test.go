//go:build integration && linux

package podman

// Real-service tests of Exec. They need the services that .ci/podman.sh
// starts: rootful on /run/podman/podman.sock and the test user's (uid 1000)
// rootless one on /run/user/1000/podman/podman.sock, each with the images
// localhost/launch-test/busybox:latest and localhost/launch-test/debian:bookworm.
// They run as root (the CLI side of the rootless cases runs as the test
// user). Without the services they skip; with LAUNCH_REQUIRE_ENGINES=1 they
// fail.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.podman.io/podman/v6/libpod/define"
	"go.podman.io/podman/v6/pkg/specgen"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
)

const (
	itBusybox = "localhost/launch-test/busybox:latest"
	itDebian  = "localhost/launch-test/debian:bookworm"
	testLabel = "dev.launch.test"
	testUID   = 1000
)

var runID = func() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// service is one Podman service under test and how to run its CLI.
type service struct {
	name     string
	conn     *Conn
	sock     string
	rootless bool
	// user runs the CLI side (the printed snippet); empty: root.
	user string
}

// services connects to the CI's rootful and rootless services.
func services(t *testing.T) []service {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "these tests drive the rootful service and the test user's rootless one; run them as root")
	}
	u, err := user.LookupId(strconv.Itoa(testUID))
	if err != nil {
		unavailable(t, "no user with uid %d (.ci/run creates one)", testUID)
	}
	var out []service
	for _, s := range []service{
		{name: "rootful", sock: "/run/podman/podman.sock"},
		{name: "rootless", sock: fmt.Sprintf("/run/user/%d/podman/podman.sock", testUID), rootless: true, user: u.Username},
	} {
		c, err := Connect(context.Background(), Host{Getenv: func(k string) string {
			if k == "CONTAINER_HOST" {
				return "unix://" + s.sock
			}
			return ""
		}, GOOS: "linux"})
		if err != nil {
			unavailable(t, "the %s podman service (run .ci/podman.sh): %v", s.name, err)
		}
		if c.Rootless != s.rootless {
			t.Fatalf("the service at %s says rootless=%v", s.sock, c.Rootless)
		}
		if ok, err := c.ImageExists(context.Background(), itBusybox); err != nil || !ok {
			unavailable(t, "image %s missing on the %s service (run .ci/podman.sh): %v", itBusybox, s.name, err)
		}
		s.conn = c
		out = append(out, s)
	}
	return out
}

// cli runs argv as the service's CLI user, with env added.
func (s service) cli(env []string, argv ...string) *exec.Cmd {
	base := []string{"PATH=" + os.Getenv("PATH")}
	if s.user != "" {
		u, _ := user.Lookup(s.user)
		base = append(base, "HOME="+u.HomeDir, fmt.Sprintf("XDG_RUNTIME_DIR=/run/user/%d", testUID))
		args := append([]string{"-u", s.user, "--", "env"}, append(append(base, env...), argv...)...)
		return exec.Command("runuser", args...)
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append(append(base, "HOME=/root"), env...)
	return c
}

func tagFor(t testing.TB) string {
	return runID + "-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
}

// ours lists the containers of this test run carrying tag.
func ours(t testing.TB, s service, tag string) []string {
	t.Helper()
	var list []struct {
		Names []string
		State string
	}
	filters, _ := json.Marshal(map[string][]string{"label": {testLabel + "=" + tag}})
	err := s.conn.do(context.Background(), http.MethodGet, "/containers/json", url.Values{"all": {"true"}, "filters": {string(filters)}}, nil, &list)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, strings.Join(c.Names, ",")+" ("+c.State+")")
	}
	return names
}

func noLeftovers(t testing.TB, s service, tag string) {
	t.Helper()
	if left := ours(t, s, tag); len(left) > 0 {
		t.Errorf("containers left behind: %v", left)
		for _, l := range left {
			name, _, _ := strings.Cut(l, " ")
			s.conn.Remove(context.Background(), name)
		}
	}
}

// itWorkspace is a host workspace owned by the test user (the caller of
// the rootless cases and the image user): docs/ (for --ro), secrets/ and
// .env (for --mask), each with content. Its parents let that user in.
func itWorkspace(t testing.TB) string {
	t.Helper()
	base := t.TempDir()
	ws := filepath.Join(base, "ws")
	for _, d := range []string{"docs", "secrets"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ws, d, "file"), []byte("content\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ws, ".env"), []byte("TOKEN=hunter2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, testUID, testUID) })
	for d := base; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	return ws
}

// itPlan is a busybox plan on workspace ws, as cmd/launch resolves it for
// the test user.
func itPlan(ws string, argv ...string) plan.Plan {
	return plan.Plan{
		Agent:     "shell",
		Image:     plan.Image{OCI: itBusybox},
		Argv:      argv,
		Workdir:   ws,
		Workspace: ws,
		User:      plan.User{UID: 1000, GID: 1000, Name: "devuser", Home: "/home/devuser"},
		Caller:    plan.Caller{UID: testUID, GID: testUID},
		Mounts:    []plan.Mount{{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace}},
		Env:       []plan.EnvVar{{Name: "HOME", Value: "/home/devuser"}},
		Network:   plan.Network{Mode: plan.NetworkNone},
		Pull:      plan.PullNever,
		Labels:    map[string]string{"dev.launch.agent": "shell", "dev.launch.workspace": ws},
	}
}

func itConfig(s service, tag string) Config {
	return Config{
		Rootless:    s.rootless,
		Name:        naming.JoinName("launch-it", tag),
		Labels:      map[string]string{testLabel: tag},
		StopTimeout: 1,
	}
}

func mustRender(t testing.TB, p plan.Plan, c Config) Rendered {
	t.Helper()
	r, err := Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// errStopped is what inspectOnStart's Start returns.
var errStopped = errors.New("stopped before start by the test")

// inspectOnStart runs Exec's real path up to the start, inspects the
// container it created, and stops there.
type inspectOnStart struct {
	*Conn
	got *define.InspectContainerData
}

func (e *inspectOnStart) Start(ctx context.Context, id string) error {
	data, err := inspect(ctx, e.Conn, id)
	if err != nil {
		return err
	}
	e.got = data
	return errStopped
}

// inspect is `podman container inspect ID`.
func inspect(ctx context.Context, c *Conn, id string) (*define.InspectContainerData, error) {
	var data define.InspectContainerData
	if err := c.do(ctx, http.MethodGet, "/containers/%s/json", nil, nil, &data, id); err != nil {
		return nil, err
	}
	return &data, nil
}

// inspectMap is the part of an inspected container that the two paths must
// agree on, as JSON-shaped maps, without the container's own identity (id,
// hostname, times, state) and with the differences that are by design
// normalised, each explained.
func inspectMap(t testing.TB, c *define.InspectContainerData) map[string]any {
	t.Helper()
	b, err := json.Marshal(struct {
		Name, Path, ImageName, OCIRuntime, Driver, MountLabel, ProcessLabel, AppArmorProfile string
		Args                                                                                 []string
		Config                                                                               *define.InspectContainerConfig
		HostConfig                                                                           *define.InspectContainerHostConfig
		Mounts                                                                               []define.InspectMount
	}{c.Name, c.Path, c.ImageName, c.OCIRuntime, c.Driver, c.MountLabel, c.ProcessLabel, c.AppArmorProfile, c.Args, c.Config, c.HostConfig, c.Mounts})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	cfg := m["Config"].(map[string]any)
	for _, k := range []string{"Hostname", "CreateCommand"} {
		// Hostname: the container id's prefix. CreateCommand: podman
		// create records its own argv (create, not run); the API path
		// sends the printed run command (checked in TestEquivalence).
		delete(cfg, k)
	}
	if env, ok := cfg["Env"].([]any); ok {
		// HOSTNAME is the container's hostname, which the service adds to
		// the configuration of a container created over the API and the
		// runtime adds to every container's process (TestIsolation sees it
		// in both); its value is the id's prefix.
		env = slices.DeleteFunc(env, func(e any) bool { return strings.HasPrefix(e.(string), "HOSTNAME=") })
		slices.SortFunc(env, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
		cfg["Env"] = env
	}
	// Annotations that Podman 4.3 writes for itself, on one path and not the
	// other (the CLI's specgen sets cri-o's TTY, the service the manager,
	// the creation time and the default stop signal, 15, which StopSignal
	// shows for both); none is launch's, none changes what runs.
	if ann, ok := cfg["Annotations"].(map[string]any); ok {
		for k := range ann {
			if strings.HasPrefix(k, "io.kubernetes.cri-o.") || k == "io.container.manager" || k == "org.opencontainers.image.stopSignal" {
				delete(ann, k)
			}
		}
	}
	// The CLI writes its --sdnotify default, "container"; over the API it
	// stays empty, which libpod treats as "container".
	if cfg["sdNotifyMode"] == nil {
		cfg["sdNotifyMode"] = "container"
	}
	// Only a real run carries the launcher's pid and start time.
	if labels, ok := cfg["Labels"].(map[string]any); ok {
		delete(labels, naming.LabelPID)
		delete(labels, naming.LabelStarted)
	}
	host := m["HostConfig"].(map[string]any)
	// The printed command's --rm: Exec creates without it and removes the
	// container itself, so that the exit code is read first.
	delete(host, "AutoRemove")
	// The log file is under the container's id.
	if lc, ok := host["LogConfig"].(map[string]any); ok {
		delete(lc, "Path")
	}
	// A tmpfs with U (owned by the container's user): the service resolves
	// it at create into uid= and gid= of --user, the CLI keeps U and
	// resolves it at start to the same ids (TestRootfulCaller checks the
	// owner inside).
	if tm, ok := host["Tmpfs"].(map[string]any); ok {
		uid, gid, _ := strings.Cut(cfg["User"].(string), ":")
		for k, v := range tm {
			tm[k] = strings.Replace(v.(string), ",U,", ",uid="+uid+",gid="+gid+",", 1)
		}
	}
	// Binds are listed from a map, in no fixed order; the mounts as
	// requested are compared in order through CreateCommand.
	if b, ok := host["Binds"].([]any); ok {
		slices.SortFunc(b, func(x, y any) int { return strings.Compare(x.(string), y.(string)) })
	}
	if ann, ok := cfg["Annotations"].(map[string]any); ok {
		delete(ann, "io.podman.annotations.autoremove")
	}
	if mp, ok := m["Mounts"].([]any); ok {
		slices.SortFunc(mp, func(a, b any) int {
			return strings.Compare(a.(map[string]any)["Destination"].(string), b.(map[string]any)["Destination"].(string))
		})
	}
	return m
}

func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	case string:
		return v == ""
	}
	return false
}

// diff reports every leaf where api and cli differ, by path.
func diff(path string, api, cli any) []string {
	if empty(api) && empty(cli) {
		return nil
	}
	am, aok := api.(map[string]any)
	cm, cok := cli.(map[string]any)
	if aok && cok {
		var out []string
		keys := slices.Sorted(maps.Keys(am))
		for k := range cm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			out = append(out, diff(path+"."+k, am[k], cm[k])...)
		}
		return out
	}
	if !reflect.DeepEqual(api, cli) {
		a, _ := json.Marshal(api)
		c, _ := json.Marshal(cli)
		return []string{fmt.Sprintf("%s: api %s, cli %s", path, a, c)}
	}
	return nil
}

// createSnippet is r's printed snippet with podman create for podman run,
// computed from the same argv.
func createSnippet(t *testing.T, r Rendered) string {
	t.Helper()
	s := r.snippet("create")
	if want := strings.Replace(r.Snippet(), " run ", " create ", 1); s != want {
		t.Fatalf("create snippet differs from the printed one beyond the verb:\n%s\n%s", s, want)
	}
	return s
}

// createBoth is createBothAll less the one known difference of a rootless
// service.
func createBoth(t *testing.T, s service, p plan.Plan, api, cli Rendered) []string {
	d := createBothAll(t, s, p, api, cli)
	if !s.rootless {
		return d
	}
	// Podman 4.3's rootless service does not apply containers.conf's
	// default_ulimits to a container created over the API (it inherits the
	// service's own limits: nproc 32768 here, not 4096); the rootless CLI
	// does. The one difference between the paths that launch does not
	// decide: it goes once the plan sets its own limits.
	return slices.DeleteFunc(d, func(x string) bool {
		if strings.HasPrefix(x, ".HostConfig.Ulimits: api [], cli ") {
			t.Logf("known rootless difference: %s", x)
			return true
		}
		return false
	})
}

// createBothAll creates api's container through Exec's path, stopped just
// before the start, and cli's by running its printed snippet (create for
// run) as the service's user, and returns their differences.
func createBothAll(t *testing.T, s service, p plan.Plan, api, cli Rendered) []string {
	t.Helper()
	var secretEnv []string
	for _, n := range cli.Inherited {
		v, _ := p.Lookup(n)
		secretEnv = append(secretEnv, n+"="+v.Value)
	}
	for _, h := range p.Prepare {
		os.MkdirAll(h.Path, 0o755)
		os.Chown(h.Path, testUID, testUID)
	}
	e := &inspectOnStart{Conn: s.conn}
	_, err := api.Exec(context.Background(), e, iostreams.Streams{In: strings.NewReader("")})
	if !errors.Is(err, errStopped) {
		t.Fatalf("Exec: %v", err)
	}
	if got := e.got.Config.CreateCommand; !slices.Equal(got, api.Argv) {
		t.Errorf("the API path's create command %q, want the printed %q", got, api.Argv)
	}
	noLeftovers(t, s, api.Spec.Labels[testLabel])

	for _, h := range p.Prepare {
		os.RemoveAll(h.Path) // the snippet must create it itself
	}
	snippet := createSnippet(t, cli)
	cmd := s.cli(secretEnv, "sh", "-c", snippet)
	if p.TTY {
		// The snippet decides -t from the terminal of the shell that runs
		// it (shell.Terminal): give it one, as the real run had.
		cmd = s.cli(secretEnv, "script", "-qec", "sh -c "+shell.Quote(snippet), "/dev/null")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v\n%s%s", snippet, err, out, stderr.String())
	}
	// The id is the last word (a terminal ends it with \r\n).
	words := strings.Fields(string(out))
	if len(words) == 0 {
		t.Fatalf("sh -c %q printed no container id\n%s", snippet, stderr.String())
	}
	id := words[len(words)-1]
	t.Cleanup(func() { s.conn.Remove(context.Background(), id) })
	res, err := inspect(context.Background(), s.conn, id)
	if err != nil {
		t.Fatal(err)
	}
	d := diff("", inspectMap(t, e.got), inspectMap(t, res))
	if len(d) > 0 {
		t.Logf("snippet:\n%s", snippet)
	}
	return d
}

// TestEquivalence creates each plan's container twice on each service, once
// through Exec's API path and once by running the printed snippet (podman
// create for podman run, computed by the same function) as the service's
// user, and compares the two inspected containers field by field.
func TestEquivalence(t *testing.T) {
	type tcase struct {
		name    string
		rootful bool // rootful only: the caller is not the test user
		mutate  func(p *plan.Plan, ws string)
	}
	cases := []tcase{
		{"workspace-user-workdir", false, func(*plan.Plan, string) {}},
		{"global-read-only", false, func(p *plan.Plan, _ string) { p.Mounts[0].ReadOnly = true }},
		{"ro-and-masks", false, func(p *plan.Plan, ws string) {
			p.Mounts = append(p.Mounts,
				plan.Mount{Kind: plan.MountBind, Source: ws + "/docs", Target: ws + "/docs", ReadOnly: true, Origin: plan.OriginReadOnly},
				plan.Mount{Kind: plan.MountMask, Target: ws + "/secrets", ReadOnly: true, Origin: plan.OriginMask},
				plan.Mount{Kind: plan.MountMask, Target: ws + "/.env", ReadOnly: true, File: true, Origin: plan.OriginMask})
		}},
		{"env-constant-and-inherited", false, func(p *plan.Plan, _ string) {
			p.Env = plan.SortEnv(append(p.Env, plan.EnvVar{Name: "MSG", Value: "it's a $HOME `test`"},
				plan.EnvVar{Name: "LAUNCH_IT_TOKEN", Value: "tok-" + runID, FromHost: true}))
		}},
		{"network-open", false, func(p *plan.Plan, _ string) { p.Network.Mode = plan.NetworkOpen }},
		{"tty", false, func(p *plan.Plan, _ string) { p.TTY = true }},
		{"extra-mounts-and-prepare", false, func(p *plan.Plan, ws string) {
			cred := filepath.Join(filepath.Dir(ws), "cred-dir")
			p.Prepare = []plan.HostPath{{Path: cred, Dir: true}}
			p.Mounts = append(p.Mounts,
				plan.Mount{Kind: plan.MountBind, Source: cred, Target: "/home/devuser/.codex", Origin: plan.OriginCredential},
				plan.Mount{Kind: plan.MountBind, Source: "/etc", Target: "/ref", ReadOnly: true, Origin: plan.OriginUser})
		}},
		{"debian-image-and-args", false, func(p *plan.Plan, _ string) {
			p.Image.OCI = itDebian
			p.Argv = []string{"/bin/bash", "-c", `echo "$0" 'two words'`, "x y"}
		}},
		{"platform", false, func(p *plan.Plan, _ string) { p.Image.Platform = plan.Platform{OS: "linux", Arch: "amd64"} }},
		{"pull-missing", false, func(p *plan.Plan, _ string) { p.Pull = plan.PullMissing }},
		{"labels", false, func(p *plan.Plan, _ string) { p.Labels["dev.launch.extra"] = "a b,c=d" }},
		{"caller-other-uid-private-home", true, func(p *plan.Plan, ws string) {
			p.Caller = plan.Caller{UID: 2345, GID: 2346}
		}},
		{"caller-root", true, func(p *plan.Plan, _ string) { p.Caller = plan.Caller{} }},
	}
	for _, s := range services(t) {
		t.Run(s.name, func(t *testing.T) {
			n := 0
			for _, tc := range cases {
				if tc.rootful && s.rootless {
					continue
				}
				n++
				t.Run(tc.name, func(t *testing.T) {
					tag := tagFor(t)
					ws := itWorkspace(t)
					p := itPlan(ws, "sh", "-c", "echo hi")
					tc.mutate(&p, ws)
					cfg := itConfig(s, tag)
					cli := mustRender(t, p, cfg)
					maps.Copy(cfg.Labels, naming.RunLabels(os.Getpid(), time.Now()))
					api := mustRender(t, p, cfg)
					for _, d := range createBoth(t, s, p, api, cli) {
						t.Error(d)
					}
				})
			}
			if n < 10 {
				t.Errorf("%d plans compared on the %s service, want at least 10", n, s.name)
			}
			// A control: the comparison sees a difference where there is one.
			t.Run("detects-a-difference", func(t *testing.T) {
				tag := tagFor(t)
				p := itPlan(itWorkspace(t), "true")
				r := mustRender(t, p, itConfig(s, tag))
				p.Network.Mode = plan.NetworkOpen
				other := mustRender(t, p, itConfig(s, tag))
				d := createBoth(t, s, p, other, r)
				if !slices.ContainsFunc(d, func(x string) bool { return strings.HasPrefix(x, ".HostConfig.NetworkMode:") }) {
					t.Errorf("differences %q do not include the network mode", d)
				}
			})
		})
	}
}

// isolationScript reports, one key:value per line, what the agent can see.
const isolationScript = `
echo "env:$(tr '\0' '\n' </proc/1/environ | cut -d= -f1 | sort | tr '\n' ' ')"
echo "id:$(id -u):$(id -g)"
echo "leak:${LAUNCH_IT_LEAK:-absent}"
echo "inherited:${LAUNCH_IT_SECRET:-absent}"
echo "maskdir:$(ls -A "$WS/secrets" | wc -l)"
echo "maskfile:$(wc -c <"$WS/.env")"
(echo x >"$WS/secrets/new") 2>/dev/null && echo maskdir-write:yes || echo maskdir-write:no
(echo x >"$WS/docs/new") 2>/dev/null && echo ro-write:yes || echo ro-write:no
(echo x >"$WS/docs/file") 2>/dev/null && echo ro-overwrite:yes || echo ro-overwrite:no
(echo x >"$WS/written") 2>/dev/null && echo ws-write:yes || echo ws-write:no
echo "ifaces:$(ip -o link | cut -d: -f2 | tr -d ' ' | sort | tr '\n' ' ')"
sleep 1
`

func parseReport(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// scanCmdlines looks for secret in every host process's command line until
// stop is closed, and returns the processes that had it.
func scanCmdlines(secret string, stop <-chan struct{}) <-chan []string {
	found := make(chan []string, 1)
	go func() {
		var hits []string
		for {
			paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range paths {
				if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(secret)) {
					hits = append(hits, p+": "+strings.ReplaceAll(string(b), "\x00", " "))
				}
			}
			select {
			case <-stop:
				found <- hits
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return found
}

// TestIsolation runs the isolation probe through Exec on each service: the
// environment is exactly the plan's (plus what Podman adds), the secret is
// on no host command line, masks hide, read-only paths refuse writes, the
// network is none, the agent is the image user, and what it writes in the
// workspace belongs to the caller on the host.
func TestIsolation(t *testing.T) {
	for _, s := range services(t) {
		for _, readOnly := range []bool{false, true} {
			name := s.name
			if readOnly {
				name += "-global-read-only"
			}
			t.Run(name, func(t *testing.T) {
				tag := tagFor(t)
				ws := itWorkspace(t)
				secret := "launch-secret-" + runID
				t.Setenv("LAUNCH_IT_LEAK", "leaked-"+runID)
				p := itPlan(ws, "sh", "-c", isolationScript)
				p.Mounts[0].ReadOnly = readOnly
				p.Mounts = append(p.Mounts,
					plan.Mount{Kind: plan.MountBind, Source: ws + "/docs", Target: ws + "/docs", ReadOnly: true, Origin: plan.OriginReadOnly},
					plan.Mount{Kind: plan.MountMask, Target: ws + "/secrets", ReadOnly: true, Origin: plan.OriginMask},
					plan.Mount{Kind: plan.MountMask, Target: ws + "/.env", ReadOnly: true, File: true, Origin: plan.OriginMask})
				p.Env = plan.SortEnv(append(p.Env, plan.EnvVar{Name: "WS", Value: ws}, plan.EnvVar{Name: "LAUNCH_IT_SECRET", Value: secret, FromHost: true}))
				r := mustRender(t, p, itConfig(s, tag))

				stop := make(chan struct{})
				hits := scanCmdlines(secret, stop)
				var out, errw bytes.Buffer
				code, err := r.Exec(context.Background(), s.conn, iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errw})
				close(stop)
				if err != nil || code != 0 {
					t.Fatalf("Exec: %d, %v\n%s%s", code, err, out.String(), errw.String())
				}
				if h := <-hits; len(h) > 0 {
					t.Errorf("the secret value is on a host command line: %q", h)
				}
				rep := parseReport(out.String())
				t.Logf("report: %q", rep)
				// Podman adds HOSTNAME, TERM, container and the image's PATH.
				if want := "HOME HOSTNAME LAUNCH_IT_SECRET PATH TERM WS container"; rep["env"] != want {
					t.Errorf("container env names %q, want exactly %q", rep["env"], want)
				}
				checks := map[string]string{
					"id": "1000:1000", "leak": "absent", "inherited": secret,
					"maskdir": "0", "maskfile": "0", "maskdir-write": "no",
					"ro-write": "no", "ro-overwrite": "no", "ifaces": "lo",
					"ws-write": "yes",
				}
				if readOnly {
					checks["ws-write"] = "no"
				}
				for k, want := range checks {
					if rep[k] != want {
						t.Errorf("%s: %q, want %q", k, rep[k], want)
					}
				}
				if b, err := os.ReadFile(filepath.Join(ws, "secrets", "file")); err != nil || string(b) != "content\n" {
					t.Errorf("the masked directory's host content changed: %q, %v", b, err)
				}
				if !readOnly {
					fi, err := os.Stat(filepath.Join(ws, "written"))
					if err != nil {
						t.Fatal(err)
					}
					st := fi.Sys().(*syscall.Stat_t)
					if st.Uid != testUID || st.Gid != testUID {
						t.Errorf("the file the agent wrote is %d:%d on the host, want the caller's %d:%d", st.Uid, st.Gid, testUID, testUID)
					}
				}
				noLeftovers(t, s, tag)
			})
		}
	}
}

func TestStdioAndExitCode(t *testing.T) {
	for _, s := range services(t) {
		t.Run(s.name, func(t *testing.T) {
			tag := tagFor(t)
			ws := itWorkspace(t)
			r := mustRender(t, itPlan(ws, "cat"), itConfig(s, tag))
			var out bytes.Buffer
			code, err := r.Exec(context.Background(), s.conn, iostreams.Streams{In: strings.NewReader("hi\n"), Out: &out})
			if err != nil || code != 0 || out.String() != "hi\n" {
				t.Errorf("echo hi | cat: %q, %d, %v", out.String(), code, err)
			}
			r = mustRender(t, itPlan(ws, "sh", "-c", "echo out; echo err >&2; echo out2; exit 5"), itConfig(s, tag))
			var o, e bytes.Buffer
			code, err = r.Exec(context.Background(), s.conn, iostreams.Streams{In: strings.NewReader(""), Out: &o, Err: &e})
			if err != nil || code != 5 || o.String() != "out\nout2\n" || e.String() != "err\n" {
				t.Errorf("got stdout %q, stderr %q, code %d, err %v", o.String(), e.String(), code, err)
			}
			r = mustRender(t, itPlan(ws, "sh", "-c", "seq 1 100000"), itConfig(s, tag))
			var big bytes.Buffer
			if _, err := r.Exec(context.Background(), s.conn, iostreams.Streams{Out: &big}); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(big.String(), "\n"); n != 100000 {
				t.Errorf("%d lines, want 100000", n)
			}
			noLeftovers(t, s, tag)
		})
	}
}

// phases counts how far Exec got.
type phases struct {
	*Conn
	created, started int
}

func (e *phases) Create(ctx context.Context, spec *specgen.SpecGenerator) (string, error) {
	e.created++
	return e.Conn.Create(ctx, spec)
}

func (e *phases) Start(ctx context.Context, id string) error {
	e.started++
	return e.Conn.Start(ctx, id)
}

func randDuration(max time.Duration) time.Duration {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(max)))
	return time.Duration(n.Int64())
}

// TestCancelAtRandomPoints cancels Exec at a random moment in each of 30
// runs per service; no container of ours may remain after any of them.
func TestCancelAtRandomPoints(t *testing.T) {
	for _, s := range services(t) {
		t.Run(s.name, func(t *testing.T) {
			tag := tagFor(t)
			r := mustRender(t, itPlan(itWorkspace(t), "sh", "-c", "echo started; sleep 5"), itConfig(s, tag))
			var beforeCreate, beforeStart, running int
			for i := range 30 {
				window := 1500 * time.Millisecond
				if i%2 == 0 {
					window = 150 * time.Millisecond
				}
				after := randDuration(window)
				ctx, cancel := context.WithCancel(context.Background())
				if i%10 == 0 {
					after = 0
					cancel()
				}
				timer := time.AfterFunc(after, cancel)
				e := &phases{Conn: s.conn}
				start := time.Now()
				_, err := r.Exec(ctx, e, iostreams.Streams{})
				timer.Stop()
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Errorf("run %d (cancel after %v): error %v, want context.Canceled", i, after, err)
				}
				switch {
				case e.created == 0:
					beforeCreate++
				case e.started == 0:
					beforeStart++
				default:
					running++
				}
				if took := time.Since(start); took > after+12*time.Second {
					t.Errorf("run %d: took %v after a cancel at %v", i, took, after)
				}
				noLeftovers(t, s, tag)
			}
			t.Logf("cancelled %d runs before the create, %d between create and start, %d after the start", beforeCreate, beforeStart, running)
		})
	}
}

// TestRunsc: Debian's Podman 4.3 service ignores the runtime of a create
// request; Exec reads it back, removes the container and fails loudly. A
// service started with --runtime runsc runs the agent under gVisor.
func TestRunsc(t *testing.T) {
	ss := services(t)
	rootful := ss[0]
	if _, err := os.Stat("/usr/local/bin/runsc"); err != nil {
		unavailable(t, "runsc is not installed (.ci/docker.sh installs it)")
	}
	// The service below names runsc; .ci/podman.sh registers it.
	if b, _ := os.ReadFile("/etc/containers/containers.conf"); !bytes.Contains(b, []byte("runsc")) {
		unavailable(t, "runsc is not in /etc/containers/containers.conf's [engine.runtimes] (run .ci/podman.sh)")
	}
	p := itPlan(itWorkspace(t), "sh", "-c", "cat /proc/version; dmesg 2>/dev/null | head -n 1")
	p.Runtime = plan.RuntimeRunsc

	t.Run("ignored-by-the-service", func(t *testing.T) {
		tag := tagFor(t)
		r := mustRender(t, p, itConfig(rootful, tag))
		var out bytes.Buffer
		_, err := r.Exec(context.Background(), rootful.conn, iostreams.Streams{Out: &out})
		if !errors.Is(err, plan.ErrUnsupported) || !strings.Contains(err.Error(), `runtime "runsc"`) {
			if err == nil && strings.Contains(strings.ToLower(out.String()), "gvisor") {
				t.Skipf("this service honours the runtime (a newer Podman): %s", out.String())
			}
			t.Fatalf("error %v (output %q), want the loud runtime refusal", err, out.String())
		}
		if out.Len() > 0 {
			t.Errorf("the agent ran: %q", out.String())
		}
		noLeftovers(t, rootful, tag)
	})
	t.Run("service-started-with-runsc", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "runsc.sock")
		cmd := exec.Command("podman", "--runtime", "runsc", "system", "service", "--time=0", "unix://"+sock)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
		var c *Conn
		var err error
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if c, err = dial(context.Background(), Endpoint{URI: "unix://" + sock, Source: "test"}); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("the runsc service did not answer: %v\n%s", err, logs.String())
		}
		s := service{name: "runsc", conn: c}
		tag := tagFor(t)
		r := mustRender(t, p, itConfig(s, tag))
		var out, errw bytes.Buffer
		code, err := r.Exec(context.Background(), c, iostreams.Streams{Out: &out, Err: &errw})
		if err != nil || code != 0 {
			t.Fatalf("Exec: %d, %v\n%s%s\nservice log:\n%s", code, err, out.String(), errw.String(), logs.String())
		}
		if !strings.Contains(strings.ToLower(out.String()), "gvisor") {
			t.Errorf("kernel %q: not gVisor", out.String())
		}
		noLeftovers(t, s, tag)
	})
}

// TestPull pulls through the service from the local registry of
// .ci/docker.sh, which speaks plain HTTP: under the name listed as insecure
// in registries.conf (127.0.0.1:5000) it is pulled over HTTP, with the
// service's progress on stderr, and runs; under another name of the same
// registry (localhost:5000), not listed, the pull is refused.
func TestPull(t *testing.T) {
	s := services(t)[0]
	resp, err := http.Get("http://127.0.0.1:5000/v2/")
	if err != nil {
		unavailable(t, "no registry on 127.0.0.1:5000 (run .ci/docker.sh): %v", err)
	}
	resp.Body.Close()
	const listed = "127.0.0.1:5000/launch-test/pull:latest"
	const unlisted = "localhost:5000/launch-test/pull:latest"
	rmImage := func(ref string) {
		s.conn.do(context.Background(), http.MethodDelete, "/images/%s", url.Values{"force": {"true"}}, nil, nil, ref)
	}
	rmImage(listed)
	t.Cleanup(func() { rmImage(listed); rmImage(unlisted) })

	tag := tagFor(t)
	p := itPlan(itWorkspace(t), "cat", "/pulled")
	p.Image.OCI, p.Pull = listed, plan.PullMissing
	r := mustRender(t, p, itConfig(s, tag))
	var out, errw bytes.Buffer
	code, err := r.Exec(context.Background(), s.conn, iostreams.Streams{Out: &out, Err: &errw})
	if err != nil || code != 0 || out.String() != "pulled\n" {
		t.Fatalf("Exec: %d, %v, stdout %q\n%s", code, err, out.String(), errw.String())
	}
	if !strings.Contains(errw.String(), "launch: pulling "+listed) || !strings.Contains(errw.String(), "Copying") {
		t.Errorf("stderr %q lacks the pull's progress", errw.String())
	}

	p.Image.OCI = unlisted
	r = mustRender(t, p, itConfig(s, tag))
	_, err = r.Exec(context.Background(), s.conn, iostreams.Streams{})
	if err == nil || !strings.Contains(err.Error(), `pull image "`+unlisted+`"`) || !strings.Contains(err.Error(), `location = "localhost:5000", insecure = true`) {
		t.Errorf("pulling from a registry not listed as insecure: %v, want a refused pull", err)
	}
	noLeftovers(t, s, tag)
}

// TestPrivateService: with no service answering, Connect starts `podman
// system service` on a private socket, a run goes through it, and Close
// stops it and removes its directory.
func TestPrivateService(t *testing.T) {
	services(t) // the images are there
	run := t.TempDir()
	h := Host{
		GOOS:   "linux",
		Getenv: func(k string) string { return map[string]string{"XDG_RUNTIME_DIR": run}[k] },
		// No socket answers where launch looks.
		Exists: func(string) bool { return false },
	}
	c, err := Connect(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Started || !strings.Contains(c.Endpoint(), run) {
		t.Fatalf("connected to %s (started %v), want a private service under %s", c.Endpoint(), c.Started, run)
	}
	s := service{name: "private", conn: c}
	tag := tagFor(t)
	r := mustRender(t, itPlan(itWorkspace(t), "sh", "-c", "echo via-private; exit 4"), itConfig(s, tag))
	var out bytes.Buffer
	code, err := r.Exec(context.Background(), c, iostreams.Streams{Out: &out})
	if err != nil || code != 4 || out.String() != "via-private\n" {
		t.Errorf("Exec: %d, %v, %q", code, err, out.String())
	}
	noLeftovers(t, s, tag)
	c.Close()
	if left, _ := filepath.Glob(filepath.Join(run, "launch-podman-*")); len(left) > 0 {
		t.Errorf("the private service's directory is left: %v", left)
	}
	if out, _ := exec.Command("pgrep", "-f", "system service --time=0 unix://"+run).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("the private service still runs: %s", out)
	}
}
