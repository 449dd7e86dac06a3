//go:build integration && linux

package docker

// Real-engine tests. They need a docker engine with the images that
// .ci/docker.sh builds (launch-test/busybox:latest, launch-test/debian:bookworm),
// runsc registered for the gVisor cases, and the registry on 127.0.0.1:5000
// for the pull cases. Without them the tests skip with the reason; with
// LAUNCH_REQUIRE_ENGINES=1 (CI) they fail instead.
//
//	go test -tags 'remote exclude_graphdriver_btrfs containers_image_openpgp integration' ./backend/docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
)

const (
	busybox      = "launch-test/busybox:latest"
	debian       = "launch-test/debian:bookworm"
	registryAddr = "127.0.0.1:5000"
	regImage     = registryAddr + "/launch-test/pull:latest"
	testLabel    = "dev.launch.test"
	stdPath      = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	stopPeriod   = 1 // seconds: the containers' --stop-timeout
)

// runID labels every container these tests create, so that leftovers can be
// found (and only ours).
var runID = func() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// need skips the test with why, or fails it when LAUNCH_REQUIRE_ENGINES=1.
func need(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("LAUNCH_REQUIRE_ENGINES") == "1" {
		t.Fatalf("%s (LAUNCH_REQUIRE_ENGINES=1: a missing engine is a failure; run .ci/docker.sh)", why)
	}
	t.Skipf("%s; run .ci/docker.sh to set it up", why)
}

var (
	engineOnce sync.Once
	engineCli  *client.Client
	engineErr  error
)

// engineFor connects once and checks the test images.
func engineFor(t testing.TB) *client.Client {
	t.Helper()
	engineOnce.Do(func() {
		engineCli, engineErr = Connect(context.Background(), HostFromOS())
	})
	if engineErr != nil {
		need(t, fmt.Sprintf("no docker engine: %v", engineErr))
	}
	for _, img := range []string{busybox, debian} {
		if _, err := engineCli.ImageInspect(context.Background(), img); err != nil {
			need(t, fmt.Sprintf("test image %s: %v", img, err))
		}
	}
	return engineCli
}

func needRunsc(t testing.TB, c *client.Client) {
	t.Helper()
	info, err := c.Info(context.Background(), client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Info.Runtimes["runsc"]; !ok {
		need(t, "runsc is not registered with dockerd")
	}
}

// ours lists the containers of this test run carrying tag.
func ours(t testing.TB, c *client.Client, tag string) []string {
	t.Helper()
	res, err := c.ContainerList(context.Background(), client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", testLabel+"="+tag),
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range res.Items {
		names = append(names, strings.Join(s.Names, ",")+" ("+string(s.State)+")")
	}
	return names
}

// noLeftovers fails the test when a container tagged tag remains.
func noLeftovers(t testing.TB, c *client.Client, tag string) {
	t.Helper()
	if left := ours(t, c, tag); len(left) > 0 {
		t.Errorf("containers left behind: %v", left)
		for _, s := range left {
			name, _, _ := strings.Cut(strings.TrimPrefix(s, "/"), " ")
			c.ContainerRemove(context.Background(), name, client.ContainerRemoveOptions{Force: true})
		}
	}
}

func tagFor(t testing.TB) string {
	return runID + "-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
}

// workspace makes a host workspace owned by the image user: docs/ (for
// --ro), secrets/ and .env (for --mask), each with content.
func workspace(t testing.TB) string {
	t.Helper()
	ws := t.TempDir()
	for _, d := range []string{"docs", "secrets"} {
		if err := os.Mkdir(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ws, d, "file"), []byte("content\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ws, ".env"), []byte("TOKEN=hunter2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(ws, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 1000, 1000) })
	return ws
}

// basicPlan is a busybox plan on workspace ws, as cmd/launch would resolve it.
func basicPlan(ws string, argv ...string) plan.Plan {
	return plan.Plan{
		Agent:     "shell",
		Image:     plan.Image{OCI: busybox},
		Argv:      argv,
		Workdir:   ws,
		Workspace: ws,
		User:      plan.User{UID: 1000, GID: 1000, Name: "devuser", Home: "/home/devuser"},
		Caller:    plan.Caller{UID: 1000, GID: 1000},
		Mounts:    []plan.Mount{{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace}},
		Env:       []plan.EnvVar{{Name: "HOME", Value: "/home/devuser"}, {Name: "PATH", Value: stdPath}},
		Network:   plan.Network{Mode: plan.NetworkOpen},
		Labels:    map[string]string{"dev.launch.agent": "shell", "dev.launch.workspace": ws},
	}
}

func addEnv(p *plan.Plan, vars ...plan.EnvVar) {
	p.Env = plan.SortEnv(append(p.Env, vars...))
}

func configFor(t testing.TB, tag string) Config {
	return Config{
		Name:        naming.JoinName("launch-it", tag),
		Labels:      map[string]string{testLabel: tag},
		StopTimeout: stopPeriod,
		HostIDs:     true,
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

// errStopped is what inspectOnStart's ContainerStart returns.
var errStopped = errors.New("stopped before start by the test")

// inspectOnStart runs Exec's real path up to the start, inspects the
// container the API path created, and stops there.
type inspectOnStart struct {
	*client.Client
	got container.InspectResponse
}

func (e *inspectOnStart) ContainerStart(ctx context.Context, id string, _ client.ContainerStartOptions) (client.ContainerStartResult, error) {
	res, err := e.Client.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return client.ContainerStartResult{}, err
	}
	e.got = res.Container
	return client.ContainerStartResult{}, errStopped
}

// inspectMap is the part of an inspected container that the two paths must
// agree on, as JSON-shaped maps; the container's own identity (id, hostname,
// creation time, state) is left out.
func inspectMap(t testing.TB, c container.InspectResponse) map[string]any {
	t.Helper()
	b, err := json.Marshal(struct {
		Name       string
		Path       string
		Args       []string
		Image      string
		Platform   string
		Config     *container.Config
		HostConfig *container.HostConfig
		Mounts     []container.MountPoint
	}{c.Name, c.Path, c.Args, c.Image, c.Platform, c.Config, c.HostConfig, c.Mounts})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	cfg := m["Config"].(map[string]any)
	delete(cfg, "Hostname") // the container id's prefix
	// Only a real run carries the launcher's pid and start time.
	if labels, ok := cfg["Labels"].(map[string]any); ok {
		delete(labels, naming.LabelPID)
		delete(labels, naming.LabelStarted)
	}
	// The docker CLI itself sends --env values in a varying order (seen with
	// CLI 20.10 and 28.2 through a logging proxy: the same command line gave
	// rotated lists); names are unique, so the order means nothing.
	if env, ok := cfg["Env"].([]any); ok {
		slices.SortFunc(env, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
	}
	// The engine lists mount points from a map, in no fixed order; the
	// requested mounts (HostConfig.Mounts) are compared in order.
	if mp, ok := m["Mounts"].([]any); ok {
		slices.SortFunc(mp, func(a, b any) int {
			return strings.Compare(a.(map[string]any)["Destination"].(string), b.(map[string]any)["Destination"].(string))
		})
	}
	// The CLI sends its own terminal's size (none here); Exec sends the
	// caller's. Neither is part of what the plan decides.
	delete(m["HostConfig"].(map[string]any), "ConsoleSize")
	return m
}

// empty reports whether v is null, an empty list or an empty object: the CLI
// sends [] and {} where a request built from Go values sends null, and the
// engine treats them alike.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
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

// TestEquivalence creates each plan's container twice, once through Exec's
// API path and once by running the printed snippet (with docker create in
// place of docker run, computed by the same function), and compares the two
// inspected containers field by field.
func TestEquivalence(t *testing.T) {
	c := engineFor(t)
	type tcase struct {
		name   string
		runsc  bool
		mutate func(p *plan.Plan, ws string)
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
			addEnv(p, plan.EnvVar{Name: "MSG", Value: "it's a $HOME `test`"},
				plan.EnvVar{Name: "LAUNCH_IT_TOKEN", Value: "tok-" + runID, FromHost: true})
		}},
		{"network-none", false, func(p *plan.Plan, _ string) { p.Network.Mode = plan.NetworkNone }},
		{"tty", false, func(p *plan.Plan, _ string) { p.TTY = true }},
		{"extra-mounts-and-prepare", false, func(p *plan.Plan, ws string) {
			cred := filepath.Join(filepath.Dir(ws), "cred-dir")
			p.Prepare = []plan.HostPath{{Path: cred, Dir: true}}
			p.Mounts = append(p.Mounts,
				plan.Mount{Kind: plan.MountBind, Source: cred, Target: "/home/devuser/.codex", Origin: plan.OriginCredential},
				plan.Mount{Kind: plan.MountBind, Source: "/etc", Target: "/ref", ReadOnly: true, Origin: plan.OriginUser})
		}},
		{"debian-image-and-args", false, func(p *plan.Plan, _ string) {
			p.Image.OCI = debian
			p.Argv = []string{"/bin/bash", "-c", `echo "$0" 'two words'`, "x y"}
		}},
		{"gpus", false, func(p *plan.Plan, _ string) { p.GPUs = plan.GPUs{Devices: []string{"0", "2"}} }},
		{"platform", false, func(p *plan.Plan, _ string) { p.Image.Platform = plan.Platform{OS: "linux", Arch: "amd64"} }},
		{"pull-never", false, func(p *plan.Plan, _ string) { p.Pull = plan.PullNever }},
		{"caller-other-uid-private-home", false, func(p *plan.Plan, ws string) {
			p.Caller = plan.Caller{UID: 2345, GID: 2346}
			cred := filepath.Join(filepath.Dir(ws), "cred-dir")
			p.Prepare = []plan.HostPath{{Path: cred, Dir: true}}
			p.Mounts = append(p.Mounts, plan.Mount{Kind: plan.MountBind, Source: cred, Target: "/home/devuser/.codex", Origin: plan.OriginCredential})
		}},
		{"caller-root", false, func(p *plan.Plan, _ string) { p.Caller = plan.Caller{} }},
		{"runsc-caller-other-uid", true, func(p *plan.Plan, _ string) {
			p.Runtime = plan.RuntimeRunsc
			p.Caller = plan.Caller{UID: 2345, GID: 2345}
		}},
		{"runsc-network-none", true, func(p *plan.Plan, _ string) {
			p.Runtime = plan.RuntimeRunsc
			p.Network.Mode = plan.NetworkNone
		}},
		{"runsc-tty-masks", true, func(p *plan.Plan, ws string) {
			p.Runtime = plan.RuntimeRunsc
			p.TTY = true
			p.Mounts = append(p.Mounts, plan.Mount{Kind: plan.MountMask, Target: ws + "/secrets", ReadOnly: true, Origin: plan.OriginMask})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.runsc {
				needRunsc(t, c)
			}
			tag := tagFor(t)
			ws := workspace(t)
			p := basicPlan(ws, "sh", "-c", "echo hi")
			tc.mutate(&p, ws)
			// As cmd/launch renders them: the real run with the launcher's
			// pid and start time, the dry run without.
			cfg := configFor(t, tag)
			cli := mustRender(t, p, cfg)
			maps.Copy(cfg.Labels, naming.RunLabels(os.Getpid(), time.Now()))
			api := mustRender(t, p, cfg)
			for _, d := range createBoth(t, c, p, api, cli) {
				t.Error(d)
			}
		})
	}
	// A control: the comparison must see a difference where there is one.
	t.Run("detects-a-difference", func(t *testing.T) {
		tag := tagFor(t)
		p := basicPlan(workspace(t), "true")
		r := mustRender(t, p, configFor(t, tag))
		p.Network.Mode = plan.NetworkNone
		other := mustRender(t, p, configFor(t, tag))
		d := createBoth(t, c, p, other, r)
		if !slices.ContainsFunc(d, func(s string) bool { return strings.HasPrefix(s, ".HostConfig.NetworkMode:") }) {
			t.Errorf("differences %q do not include the network mode", d)
		}
	})
}

// createBoth creates the container of api through Exec's API path, stopped
// just before the start, and the container of cli by running its printed
// snippet with docker create for docker run, and returns their differences.
func createBoth(t *testing.T, c *client.Client, p plan.Plan, api, cli Rendered) []string {
	t.Helper()
	secretEnv := []string{}
	for _, n := range cli.Inherited {
		v, _ := p.Lookup(n)
		secretEnv = append(secretEnv, n+"="+v.Value)
	}

	// API path: what cmd/launch does for a real run (host preparation,
	// then Exec).
	for _, h := range p.Prepare {
		os.MkdirAll(h.Path, 0o755)
	}
	e := &inspectOnStart{Client: c}
	_, err := api.Exec(context.Background(), e, iostreams.Streams{In: strings.NewReader("")})
	if !errors.Is(err, errStopped) {
		t.Fatalf("Exec: %v", err)
	}
	noLeftovers(t, c, api.Request.Config.Labels[testLabel])

	// CLI path: the printed snippet, run by sh, with create for run.
	for _, h := range p.Prepare {
		os.RemoveAll(h.Path) // the snippet must create it itself
	}
	snippet := cli.snippet("create")
	if want := strings.Replace(cli.Snippet(), "docker run ", "docker create ", 1); snippet != want {
		t.Fatalf("create snippet differs from the printed one beyond the verb:\n%s\n%s", snippet, want)
	}
	cmd := exec.Command("sh", "-c", snippet)
	if p.TTY {
		// The snippet decides -t from the terminal of the shell that runs
		// it (shell.Terminal): give it one, as the real run had.
		cmd = exec.Command("script", "-qec", "sh -c "+shell.Quote(snippet), "/dev/null")
	}
	cmd.Env = append(os.Environ(), secretEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v\n%s%s", snippet, err, out, stderr.String())
	}
	// The id is the last line (a terminal ends it with \r\n).
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		t.Fatalf("sh -c %q printed no container id\n%s", snippet, stderr.String())
	}
	id := lines[len(lines)-1]
	t.Cleanup(func() {
		c.ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true})
	})
	res, err := c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := diff("", inspectMap(t, e.got), inspectMap(t, res.Container))
	if len(d) > 0 {
		t.Logf("snippet:\n%s", snippet)
	}
	return d
}

// TestSnippetRunsAsPrinted runs the printed snippet itself (docker run) and
// the API path on the same plan, and compares what the agent printed.
func TestSnippetRunsAsPrinted(t *testing.T) {
	c := engineFor(t)
	tag := tagFor(t)
	ws := workspace(t)
	p := basicPlan(ws, "sh", "-c", `echo "msg=$MSG tok=$LAUNCH_IT_TOKEN uid=$(id -u) pwd=$(pwd)"; echo to-stderr >&2; exit 4`)
	addEnv(&p, plan.EnvVar{Name: "MSG", Value: "it's a $HOME `test`"}, plan.EnvVar{Name: "LAUNCH_IT_TOKEN", Value: "tok-" + runID, FromHost: true})
	cfg := configFor(t, tag)
	r := mustRender(t, p, cfg)

	var apiOut, apiErr bytes.Buffer
	code, err := r.Exec(context.Background(), c, iostreams.Streams{In: strings.NewReader(""), Out: &apiOut, Err: &apiErr})
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("sh", "-c", r.Snippet())
	cmd.Env = append(os.Environ(), "LAUNCH_IT_TOKEN=tok-"+runID)
	var cliOut, cliErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &cliOut, &cliErr
	cmd.Stdin = strings.NewReader("")
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("snippet: %v (stderr %s)", err, cliErr.String())
	}
	want := fmt.Sprintf("msg=it's a $HOME `test` tok=tok-%s uid=1000 pwd=%s\n", runID, ws)
	if apiOut.String() != want || cliOut.String() != want {
		t.Errorf("stdout: api %q, cli %q, want %q", apiOut.String(), cliOut.String(), want)
	}
	if apiErr.String() != "to-stderr\n" || cliErr.String() != "to-stderr\n" {
		t.Errorf("stderr: api %q, cli %q", apiErr.String(), cliErr.String())
	}
	if code != 4 || ee.ExitCode() != 4 {
		t.Errorf("exit code: api %d, cli %d, want 4", code, ee.ExitCode())
	}
	noLeftovers(t, c, tag)
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
echo "kernel:$(cat /proc/version) $(dmesg 2>/dev/null | head -n 1)"
sleep 2
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

func TestIsolation(t *testing.T) {
	c := engineFor(t)
	for _, tc := range []struct {
		name     string
		runsc    bool
		readOnly bool
		network  plan.NetworkMode
	}{
		{"runc", false, false, plan.NetworkNone},
		{"runc-global-read-only", false, true, plan.NetworkNone},
		{"runc-network-open", false, false, plan.NetworkOpen},
		{"runsc", true, false, plan.NetworkNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.runsc {
				needRunsc(t, c)
			}
			tag := tagFor(t)
			ws := workspace(t)
			secret := "launch-secret-" + runID
			t.Setenv("LAUNCH_IT_LEAK", "leaked-"+runID) // in our env, not allowlisted
			p := basicPlan(ws, "sh", "-c", isolationScript)
			p.Mounts[0].ReadOnly = tc.readOnly
			p.Mounts = append(p.Mounts,
				plan.Mount{Kind: plan.MountBind, Source: ws + "/docs", Target: ws + "/docs", ReadOnly: true, Origin: plan.OriginReadOnly},
				plan.Mount{Kind: plan.MountMask, Target: ws + "/secrets", ReadOnly: true, Origin: plan.OriginMask},
				plan.Mount{Kind: plan.MountMask, Target: ws + "/.env", ReadOnly: true, File: true, Origin: plan.OriginMask})
			addEnv(&p, plan.EnvVar{Name: "WS", Value: ws}, plan.EnvVar{Name: "LAUNCH_IT_SECRET", Value: secret, FromHost: true})
			p.Network.Mode = tc.network
			if tc.runsc {
				p.Runtime = plan.RuntimeRunsc
			}
			r := mustRender(t, p, configFor(t, tag))

			// The scan must be able to see a secret on a command line: a
			// host process that holds it proves it.
			probe := exec.Command("sh", "-c", "sleep 0.3", "probe", secret)
			if err := probe.Start(); err != nil {
				t.Fatal(err)
			}
			pstop := make(chan struct{})
			phits := scanCmdlines(secret, pstop)
			probe.Wait()
			close(pstop)
			if len(<-phits) == 0 {
				t.Fatal("the command-line scan did not see a host process holding the secret")
			}

			stop := make(chan struct{})
			hits := scanCmdlines(secret, stop)
			var out, errw bytes.Buffer
			code, err := r.Exec(context.Background(), c, iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errw})
			close(stop)
			if err != nil || code != 0 {
				t.Fatalf("Exec: %d, %v\n%s%s", code, err, out.String(), errw.String())
			}
			if h := <-hits; len(h) > 0 {
				t.Errorf("the secret value is on a host command line: %q", h)
			}
			rep := parseReport(out.String())
			t.Logf("report: %q", rep)
			// The engine adds HOSTNAME; nothing else may appear.
			if want := "HOME HOSTNAME LAUNCH_IT_SECRET PATH WS"; rep["env"] != want {
				t.Errorf("container env names %q, want exactly %q", rep["env"], want)
			}
			checks := map[string]string{
				"id": "1000:1000", "leak": "absent", "inherited": secret,
				"maskdir": "0", "maskfile": "0", "maskdir-write": "no",
				"ro-write": "no", "ro-overwrite": "no",
			}
			if tc.readOnly {
				checks["ws-write"] = "no"
			} else {
				checks["ws-write"] = "yes"
			}
			if tc.network == plan.NetworkNone {
				checks["ifaces"] = "lo"
			}
			for k, want := range checks {
				if rep[k] != want {
					t.Errorf("%s: %q, want %q", k, rep[k], want)
				}
			}
			if tc.network == plan.NetworkOpen && !strings.Contains(rep["ifaces"], "eth0") {
				t.Errorf("open network: interfaces %q lack eth0", rep["ifaces"])
			}
			gvisor := strings.Contains(strings.ToLower(rep["kernel"]), "gvisor")
			if gvisor != tc.runsc {
				t.Errorf("kernel %q: gVisor %v, want %v", rep["kernel"], gvisor, tc.runsc)
			}
			if b, err := os.ReadFile(filepath.Join(ws, "secrets", "file")); err != nil || string(b) != "content\n" {
				t.Errorf("the masked directory's host content changed: %q, %v", b, err)
			}
			noLeftovers(t, c, tag)
		})
	}
}

func TestStdioAndExitCode(t *testing.T) {
	c := engineFor(t)
	tag := tagFor(t)
	ws := workspace(t)
	t.Run("stdin-piped", func(t *testing.T) {
		r := mustRender(t, basicPlan(ws, "cat"), configFor(t, tag))
		var out bytes.Buffer
		code, err := r.Exec(context.Background(), c, iostreams.Streams{In: strings.NewReader("hi\n"), Out: &out, Err: io.Discard})
		if err != nil || code != 0 || out.String() != "hi\n" {
			t.Errorf("echo hi | cat: %q, %d, %v", out.String(), code, err)
		}
	})
	t.Run("streams-apart", func(t *testing.T) {
		r := mustRender(t, basicPlan(ws, "sh", "-c", "echo out; echo err >&2; echo out2; exit 5"), configFor(t, tag))
		var out, errw bytes.Buffer
		code, err := r.Exec(context.Background(), c, iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errw})
		if err != nil || code != 5 || out.String() != "out\nout2\n" || errw.String() != "err\n" {
			t.Errorf("got stdout %q, stderr %q, code %d, err %v", out.String(), errw.String(), code, err)
		}
	})
	t.Run("big-output", func(t *testing.T) {
		r := mustRender(t, basicPlan(ws, "sh", "-c", "seq 1 200000"), configFor(t, tag))
		var out bytes.Buffer
		if _, err := r.Exec(context.Background(), c, iostreams.Streams{Out: &out}); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(out.String(), "\n"); n != 200000 {
			t.Errorf("%d lines, want 200000", n)
		}
	})
	noLeftovers(t, c, tag)
}

// startNamed records the names Exec's creates got.
type startNamed struct {
	*client.Client
	mu    sync.Mutex
	names []string
}

func (e *startNamed) ContainerCreate(ctx context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	res, err := e.Client.ContainerCreate(ctx, o)
	if err == nil {
		e.mu.Lock()
		e.names = append(e.names, o.Name)
		e.mu.Unlock()
	}
	return res, err
}

func TestNameConflictRace(t *testing.T) {
	c := engineFor(t)
	tag := tagFor(t)
	ws := workspace(t)
	cfg := configFor(t, tag)
	// A container already holds the name.
	if _, err := c.ContainerCreate(context.Background(), client.ContainerCreateOptions{
		Name: cfg.Name, Config: &container.Config{Image: busybox, Labels: map[string]string{testLabel: tag}},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.ContainerRemove(context.Background(), cfg.Name, client.ContainerRemoveOptions{Force: true}) })
	r := mustRender(t, basicPlan(ws, "sleep", "1"), cfg)
	e := &startNamed{Client: c}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			_, err := r.Exec(context.Background(), e, iostreams.Streams{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	slices.Sort(e.names)
	want := []string{cfg.Name + "-2", cfg.Name + "-3", cfg.Name + "-4", cfg.Name + "-5"}
	if !slices.Equal(e.names, want) {
		t.Errorf("names %q, want %q", e.names, want)
	}
	c.ContainerRemove(context.Background(), cfg.Name, client.ContainerRemoveOptions{Force: true})
	noLeftovers(t, c, tag)
}

func TestRuntimeCheckBeforeCreate(t *testing.T) {
	c := engineFor(t)
	tag := tagFor(t)
	p := basicPlan(workspace(t), "true")
	p.Runtime = plan.RuntimeRunsc
	r := mustRender(t, p, configFor(t, tag))
	// A runtime this engine surely lacks, in the request Render made.
	r.Request.HostConfig.Runtime = "launch-test-no-such-runtime"
	_, err := r.Exec(context.Background(), c, iostreams.Streams{})
	if err == nil || !strings.Contains(err.Error(), "gvisor.dev") || !strings.Contains(err.Error(), "daemon.json") {
		t.Errorf("error %v, want the install hint", err)
	}
	noLeftovers(t, c, tag)
}

// --- terminal ---------------------------------------------------------------

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		need(t, fmt.Sprintf("no pty: %v", err))
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the terminal; got %q", want, buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTerminal(t *testing.T) {
	c := engineFor(t)
	for _, runsc := range []bool{false, true} {
		name := "runc"
		if runsc {
			name = "runsc"
		}
		t.Run(name, func(t *testing.T) {
			if runsc {
				needRunsc(t, c)
			}
			tag := tagFor(t)
			master, slave := openPTY(t)
			setSize := func(rows, cols uint16) {
				if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
					t.Fatal(err)
				}
			}
			setSize(31, 101)
			// On API 1.41 (Debian's dockerd) the engine ignores the size in
			// the create request and the initial size arrives by a resize
			// right after the start, which the first command can beat:
			// wait for it.
			script := `i=0; until s=$(stty size 2>/dev/null) && [ "$s" != "0 0" ] || [ $i -ge 300 ]; do sleep 0.02; i=$((i+1)); done
echo "waited:$i size:$(stty size)"
i=0; while [ "$(stty size)" != "42 123" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
echo "resized:$(stty size)"
read line; echo "typed:$line"; exit 7`
			p := basicPlan(workspace(t), "sh", "-c", script)
			// Debian's stty: busybox's fails on this host kernel's ptys
			// (outside any container too), though not under gVisor.
			p.Image.OCI = debian
			p.TTY = true
			if runsc {
				p.Runtime = plan.RuntimeRunsc
			}
			r := mustRender(t, p, configFor(t, tag))

			var screen syncBuffer
			go io.Copy(&screen, master)
			type result struct {
				code int
				err  error
			}
			done := make(chan result, 1)
			go func() {
				code, err := r.Exec(context.Background(), c, iostreams.Streams{In: slave, Out: slave, Err: slave})
				done <- result{code, err}
			}()
			waitFor(t, &screen, "size:31 101")
			setSize(42, 123)
			syscall.Kill(os.Getpid(), syscall.SIGWINCH)
			waitFor(t, &screen, "resized:42 123")
			master.Write([]byte("hello there\r"))
			select {
			case res := <-done:
				if res.err != nil || res.code != 7 {
					t.Errorf("Exec: %d, %v; want 7", res.code, res.err)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("Exec did not return; screen %q", screen.String())
			}
			waitFor(t, &screen, "typed:hello there")
			if i := strings.Index(screen.String(), "waited:"); i >= 0 {
				t.Logf("initial size: %s", strings.Fields(screen.String()[i:])[0])
			}
			noLeftovers(t, c, tag)
		})
	}
}

// --- faults -----------------------------------------------------------------

func randDuration(max time.Duration) time.Duration {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(max)))
	return time.Duration(n.Int64())
}

// phases counts how far Exec got: creates and starts it asked for.
type phases struct {
	*client.Client
	mu               sync.Mutex
	created, started int
}

func (e *phases) ContainerCreate(ctx context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	e.mu.Lock()
	e.created++
	e.mu.Unlock()
	return e.Client.ContainerCreate(ctx, o)
}

func (e *phases) ContainerStart(ctx context.Context, id string, o client.ContainerStartOptions) (client.ContainerStartResult, error) {
	e.mu.Lock()
	e.started++
	e.mu.Unlock()
	return e.Client.ContainerStart(ctx, id, o)
}

// TestCancelAtRandomPoints cancels Exec at a random moment (before the
// create, during it, while attaching, starting or running) in each of 30
// runs; no container of ours may remain after any of them.
func TestCancelAtRandomPoints(t *testing.T) {
	c := engineFor(t)
	tag := tagFor(t)
	ws := workspace(t)
	r := mustRender(t, basicPlan(ws, "sh", "-c", "echo started; sleep 5"), configFor(t, tag))
	const runs = 30
	var beforeCreate, beforeStart, running int
	for i := range runs {
		// Every tenth run is cancelled before it begins; half the runs aim
		// at the first 60 ms, where the image check, create, attach and
		// start happen; the others anywhere in 1.5 s.
		window := 1500 * time.Millisecond
		if i%2 == 0 {
			window = 60 * time.Millisecond
		}
		after := randDuration(window)
		ctx, cancel := context.WithCancel(context.Background())
		if i%10 == 0 {
			after = 0
			cancel()
		}
		timer := time.AfterFunc(after, cancel)
		e := &phases{Client: c}
		var out syncBuffer
		start := time.Now()
		_, err := r.Exec(ctx, e, iostreams.Streams{Out: &out})
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
		if took := time.Since(start); took > after+(stopPeriod+10)*time.Second {
			t.Errorf("run %d: took %v after a cancel at %v", i, took, after)
		}
		noLeftovers(t, c, tag)
	}
	t.Logf("cancelled %d runs before the create, %d between create and start, %d after the start", beforeCreate, beforeStart, running)
}

// TestContainerKilledFromOutside: the engine kills the agent mid-run.
func TestContainerKilledFromOutside(t *testing.T) {
	c := engineFor(t)
	tag := tagFor(t)
	r := mustRender(t, basicPlan(workspace(t), "sh", "-c", "echo up; sleep 60"), configFor(t, tag))
	var out syncBuffer
	done := make(chan error, 1)
	var code int
	go func() {
		var err error
		code, err = r.Exec(context.Background(), c, iostreams.Streams{Out: &out})
		done <- err
	}()
	waitFor(t, &out, "up")
	// The agent's output can come before the engine records the container
	// as running.
	var res client.ContainerListResult
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		res, err = c.ContainerList(context.Background(), client.ContainerListOptions{Filters: make(client.Filters).Add("label", testLabel+"="+tag)})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("running containers: %v (all of ours: %v)", res.Items, ours(t, c, tag))
		}
	}
	if _, err := c.ContainerKill(context.Background(), res.Items[0].ID, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || code != 137 {
			t.Errorf("Exec: %d, %v; want 137 and no error", code, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Exec did not return after the container was killed")
	}
	noLeftovers(t, c, tag)
}

// dyingProxy forwards a unix socket to the engine until kill is called,
// which closes the listener and every connection: an engine that goes away
// mid-run, as far as Exec can tell.
type dyingProxy struct {
	path string
	l    net.Listener
	mu   sync.Mutex
	conn []net.Conn
}

func newDyingProxy(t *testing.T, target string) *dyingProxy {
	t.Helper()
	p := &dyingProxy{path: filepath.Join(t.TempDir(), "engine.sock")}
	l, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.l = l
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("unix", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conn = append(p.conn, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(p.kill)
	return p
}

func (p *dyingProxy) kill() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conn {
		c.Close()
	}
}

// TestEngineDiesMidRun: the connection to the engine disappears while the
// agent runs. Exec must return promptly with an error that names the
// container and says how to remove it; the container, whose stdin closes with
// the connection, exits and is removed by the engine (AutoRemove).
func TestEngineDiesMidRun(t *testing.T) {
	c := engineFor(t)
	host := c.DaemonHost()
	if !strings.HasPrefix(host, "unix://") {
		need(t, fmt.Sprintf("engine at %s is not a unix socket (this test cuts the socket)", host))
	}
	tag := tagFor(t)
	proxy := newDyingProxy(t, strings.TrimPrefix(host, "unix://"))
	pc, err := Connect(context.Background(), Host{Getenv: func(k string) string {
		if k == "DOCKER_HOST" {
			return "unix://" + proxy.path
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := mustRender(t, basicPlan(workspace(t), "sh", "-c", "echo up; cat"), configFor(t, tag))
	stdin, stdinW := io.Pipe() // never closed by the test
	defer stdinW.Close()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := r.Exec(context.Background(), pc, iostreams.Streams{In: stdin, Out: &out})
		done <- err
	}()
	waitFor(t, &out, "up")
	proxy.kill()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Exec succeeded although the engine went away")
		}
		t.Logf("Exec: %v", err)
		if !strings.Contains(err.Error(), "docker rm -f "+configFor(t, tag).Name) {
			t.Errorf("error %q does not say how to remove the container", err)
		}
	case <-time.After(2 * cleanupTimeout):
		t.Fatal("Exec did not return after the engine went away")
	}
	// The engine itself is fine: the container must go on its own.
	deadline := time.Now().Add(30 * time.Second)
	for len(ours(t, c, tag)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	noLeftovers(t, c, tag)
}

// --- pulls ------------------------------------------------------------------

func registryUp() bool {
	conn, err := net.DialTimeout("tcp", registryAddr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func removeImage(t *testing.T, c *client.Client, ref string) {
	t.Helper()
	_, err := c.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestPull(t *testing.T) {
	c := engineFor(t)
	if !registryUp() {
		need(t, "no registry on "+registryAddr)
	}
	tag := tagFor(t)
	ws := workspace(t)
	run := func(t *testing.T, mutate func(*plan.Plan)) (string, error) {
		p := basicPlan(ws, "true")
		p.Image.OCI = regImage
		mutate(&p)
		r := mustRender(t, p, configFor(t, tag))
		var errw bytes.Buffer
		_, err := r.Exec(context.Background(), c, iostreams.Streams{Err: &errw})
		return errw.String(), err
	}
	t.Run("missing-default-pulled", func(t *testing.T) {
		removeImage(t, c, regImage)
		stderr, err := run(t, func(p *plan.Plan) { p.Image.Default = true })
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if !strings.Contains(stderr, "launch: pulling "+regImage) || !strings.Contains(stderr, "Pull complete") {
			t.Errorf("stderr %q lacks the pull's progress lines", stderr)
		}
		if _, err := c.ImageInspect(context.Background(), regImage); err != nil {
			t.Errorf("image not present after the pull: %v", err)
		}
	})
	t.Run("progress-on-a-terminal", func(t *testing.T) {
		removeImage(t, c, regImage)
		master, slave := openPTY(t)
		unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 150})
		var screen syncBuffer
		go io.Copy(&screen, master)
		p := basicPlan(ws, "true")
		p.Image.OCI = regImage
		p.Image.Default = true
		r := mustRender(t, p, configFor(t, tag))
		if _, err := r.Exec(context.Background(), c, iostreams.Streams{Err: slave}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, &screen, "Pull complete")
		// Per-layer lines are redrawn in place: cursor movement and line
		// clearing, which plain output never has.
		if !strings.Contains(screen.String(), "\x1b[") {
			t.Errorf("no cursor control on the terminal: %q", screen.String())
		}
	})
	t.Run("never", func(t *testing.T) {
		removeImage(t, c, regImage)
		_, err := run(t, func(p *plan.Plan) { p.Image.Default = true; p.Pull = plan.PullNever })
		if err == nil || !strings.Contains(err.Error(), "not pulled (--pull never") || !cerrdefs.IsNotFound(err) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("custom-missing-advice", func(t *testing.T) {
		removeImage(t, c, regImage)
		// cmd/launch resolves a user's image to --pull never unless asked.
		_, err := run(t, func(p *plan.Plan) { p.Pull = plan.PullNever })
		if err == nil || !strings.Contains(err.Error(), "docker pull "+regImage) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("always-pulls-custom", func(t *testing.T) {
		stderr, err := run(t, func(p *plan.Plan) { p.Pull = plan.PullAlways })
		if err != nil || !strings.Contains(stderr, "launch: pulling") {
			t.Errorf("%v, stderr %q", err, stderr)
		}
	})
	t.Run("unknown-tag", func(t *testing.T) {
		_, err := run(t, func(p *plan.Plan) {
			p.Image.OCI = registryAddr + "/launch-test/pull:no-such-tag"
			p.Image.Default = true
		})
		if err == nil || !strings.Contains(err.Error(), `pull image "`+registryAddr+"/launch-test/pull:no-such-tag") {
			t.Errorf("error %v", err)
		}
	})
	removeImage(t, c, regImage)
	noLeftovers(t, c, tag)
}

// BenchmarkRun compares one whole run of `true` through Exec (connection
// included, as a launch process makes it) with the printed command run by
// sh, on the same plan:
//
//	go test -tags '... integration' -run '^$' -bench Run ./backend/docker
func BenchmarkRun(b *testing.B) {
	engineFor(b)
	tag := tagFor(b)
	ws := b.TempDir()
	r := mustRender(b, basicPlan(ws, "true"), Config{Labels: map[string]string{testLabel: tag}})
	b.Run("exec", func(b *testing.B) {
		for b.Loop() {
			c, err := Connect(context.Background(), HostFromOS())
			if err != nil {
				b.Fatal(err)
			}
			if code, err := r.Exec(context.Background(), c, iostreams.Streams{In: strings.NewReader("")}); err != nil || code != 0 {
				b.Fatal(code, err)
			}
			c.Close()
		}
	})
	b.Run("docker-cli", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command("sh", "-c", r.Snippet())
			cmd.Stdin = strings.NewReader("")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
		}
	})
	noLeftovers(b, engineCli, tag)
}

// --- identity and PATH ------------------------------------------------------

// identityScript reports who the agent is, what it can do in the workspace
// and its home, and whether it reads the caller's private credential file.
const identityScript = `
echo "id:$(id -u):$(id -g)"
(echo agent >"$WS/written") 2>/dev/null && echo ws-write:yes || echo ws-write:no
echo "cred:$(cat "$HOME/.codex/auth.json" 2>&1)"
(echo x >"$HOME/new") 2>/dev/null && echo home-write:yes || echo home-write:no
echo "home-owner:$(stat -c %u:%g "$HOME")"
echo "home-image-file:$(test -e "$HOME/.bashrc" && echo present || echo absent)"
printf '#!/bin/sh\necho ran\n' >"$HOME/tool" && chmod +x "$HOME/tool" && echo "home-exec:$("$HOME/tool" 2>&1)"
`

// TestCallerOwnsWhatTheAgentWrites: whoever runs launch, the agent can write
// the workspace, what it writes there belongs to the caller on the host,
// and it reads the credential files launch prepares (0600, the caller's).
// Each case runs through Exec and through the printed snippet.
func TestCallerOwnsWhatTheAgentWrites(t *testing.T) {
	c := engineFor(t)
	for _, tc := range []struct {
		name   string
		runsc  bool
		caller plan.Caller
		want   map[string]string
	}{
		// Root without capabilities (least privilege, issue 11) cannot
		// write the image user's home: a private one, as anyone else.
		{"root", false, plan.Caller{UID: 0, GID: 0}, map[string]string{
			"id": "0:0", "home-owner": "0:0", "home-image-file": "absent"}},
		{"uid-2345", false, plan.Caller{UID: 2345, GID: 2346}, map[string]string{
			"id": "2345:2346", "home-owner": "2345:2346", "home-image-file": "absent"}},
		{"runsc-uid-2345", true, plan.Caller{UID: 2345, GID: 2346}, map[string]string{
			"id": "2345:2346", "home-owner": "2345:2346", "home-image-file": "absent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.runsc {
				needRunsc(t, c)
			}
			for _, path := range []string{"exec", "snippet"} {
				t.Run(path, func(t *testing.T) {
					tag := tagFor(t)
					// The caller's workspace and credential directory, as
					// launch prepares it: 0700 and 0600, owned by the caller.
					ws := t.TempDir()
					cred := filepath.Join(t.TempDir(), "codex")
					if err := os.Mkdir(cred, 0o700); err != nil {
						t.Fatal(err)
					}
					secret := "token-" + runID
					if err := os.WriteFile(filepath.Join(cred, "auth.json"), []byte(secret), 0o600); err != nil {
						t.Fatal(err)
					}
					for _, p := range []string{ws, cred, filepath.Join(cred, "auth.json")} {
						if err := os.Chown(p, tc.caller.UID, tc.caller.GID); err != nil {
							t.Fatal(err)
						}
					}
					if err := os.Chmod(ws, 0o700); err != nil {
						t.Fatal(err)
					}
					p := basicPlan(ws, "sh", "-c", identityScript)
					p.Image.OCI = debian // its image user has a home with .bashrc
					p.Caller = tc.caller
					p.Mounts = append(p.Mounts, plan.Mount{Kind: plan.MountBind, Source: cred, Target: "/home/devuser/.codex", Origin: plan.OriginCredential})
					addEnv(&p, plan.EnvVar{Name: "WS", Value: ws})
					if tc.runsc {
						p.Runtime = plan.RuntimeRunsc
					}
					r := mustRender(t, p, configFor(t, tag))
					var out, errw bytes.Buffer
					if path == "exec" {
						code, err := r.Exec(context.Background(), c, iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errw})
						if err != nil || code != 0 {
							t.Fatalf("Exec: %d, %v\n%s%s", code, err, out.String(), errw.String())
						}
					} else {
						cmd := exec.Command("sh", "-c", r.Snippet())
						cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), &out, &errw
						if err := cmd.Run(); err != nil {
							t.Fatalf("snippet: %v\n%s%s\n%s", err, out.String(), errw.String(), r.Snippet())
						}
					}
					rep := parseReport(out.String())
					t.Logf("report: %q", rep)
					want := map[string]string{"ws-write": "yes", "cred": secret, "home-write": "yes", "home-exec": "ran"}
					maps.Copy(want, tc.want)
					for k, v := range want {
						if rep[k] != v {
							t.Errorf("%s: %q, want %q", k, rep[k], v)
						}
					}
					fi, err := os.Stat(filepath.Join(ws, "written"))
					if err != nil {
						t.Fatal(err)
					}
					st := fi.Sys().(*syscall.Stat_t)
					if int(st.Uid) != tc.caller.UID || int(st.Gid) != tc.caller.GID {
						t.Errorf("the file the agent wrote is owned by %d:%d on the host, want the caller's %d:%d", st.Uid, st.Gid, tc.caller.UID, tc.caller.GID)
					}
					noLeftovers(t, c, tag)
				})
			}
		})
	}
}

// pathImage builds, once per test, an image from busybox whose PATH is not
// the fallback, and removes it at the end.
func pathImage(t *testing.T, imagePATH string) string {
	t.Helper()
	ref := "launch-test/path:" + runID
	id, err := exec.Command("docker", "create", busybox).Output()
	if err != nil {
		t.Fatalf("docker create: %v", err)
	}
	cid := strings.TrimSpace(string(id))
	defer exec.Command("docker", "rm", cid).Run()
	if out, err := exec.Command("docker", "commit", "--change", "ENV PATH="+imagePATH, cid, ref).CombinedOutput(); err != nil {
		t.Fatalf("docker commit: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })
	return ref
}

// TestImagePath: with path prepends the agent's PATH is the prepends in
// front of the image's own PATH; without, exactly the image's, on both the
// real run and the printed command. The printed command with prepends has
// the fallback in place of the image's PATH, as its note says.
func TestImagePath(t *testing.T) {
	c := engineFor(t)
	const imagePATH = "/opt/x/bin:/usr/bin:/bin"
	ref := pathImage(t, imagePATH)
	for _, tc := range []struct {
		name              string
		prepend           []string
		wantExec, wantCLI string
	}{
		{"no-prepend", nil, imagePATH, imagePATH},
		{"prepend", []string{"/opt/p/bin", "/w/bin"}, "/opt/p/bin:/w/bin:" + imagePATH, "/opt/p/bin:/w/bin:" + plan.FallbackPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := tagFor(t)
			p := basicPlan(workspace(t), "sh", "-c", `echo "$PATH"`)
			p.Image.OCI = ref
			p.Env = slices.DeleteFunc(p.Env, func(e plan.EnvVar) bool { return e.Name == "PATH" })
			p.PathPrepend = tc.prepend
			r := mustRender(t, p, configFor(t, tag))
			var out, errw bytes.Buffer
			if code, err := r.Exec(context.Background(), c, iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errw}); err != nil || code != 0 {
				t.Fatalf("Exec: %d, %v\n%s", code, err, errw.String())
			}
			if got := strings.TrimSpace(out.String()); got != tc.wantExec {
				t.Errorf("real run: PATH %q, want %q", got, tc.wantExec)
			}
			cmd := exec.Command("sh", "-c", r.Snippet())
			cmd.Stdin = strings.NewReader("")
			cli, err := cmd.Output()
			if err != nil {
				t.Fatalf("snippet: %v", err)
			}
			if got := strings.TrimSpace(string(cli)); got != tc.wantCLI {
				t.Errorf("printed command: PATH %q, want %q", got, tc.wantCLI)
			}
			noLeftovers(t, c, tag)
		})
	}
}
