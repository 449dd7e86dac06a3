//go:build integration

package singularity

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

// These tests run the real runtime. Without one they skip, unless
// LAUNCH_REQUIRE_ENGINES=1 (CI), which turns every skip into a failure.
// .ci/apptainer.sh installs Apptainer and builds the images they use:
// $LAUNCH_TEST_SIF (default /var/cache/launch-ci/busybox.sif),
// $LAUNCH_TEST_SANDBOX (default /var/cache/launch-ci/busybox.sandbox) and
// $LAUNCH_TEST_PATH_SIF (default /var/cache/launch-ci/busybox-path.sif, a
// PATH of its own in %environment).
// As root they also run themselves again as the unprivileged user
// $LAUNCH_TEST_USER (default launchtest), which is the HPC case.

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("LAUNCH_REQUIRE_ENGINES") == "1" {
		t.Fatalf("%s (LAUNCH_REQUIRE_ENGINES=1)", msg)
	}
	t.Skip(msg)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// realRuntime finds the runtime and the configuration this host needs.
func realRuntime(t *testing.T) Config {
	t.Helper()
	rt, err := FindRuntime(Host{}.LookPath, os.Getenv("LAUNCH_SINGULARITY_BIN"))
	if err != nil {
		skipOrFail(t, "no runtime: %v", err)
	}
	if rt, err = rt.ReadVersion(context.Background(), Host{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("runtime %s %s %s as uid %d", rt.Path, rt.Flavour, rt.Version, os.Getuid())
	return Config{
		Binary:  rt.Path,
		Flavour: rt.Flavour,
		// Root needs a user namespace here (no CAP_SYS_RESOURCE).
		UserNS: Host{}.NeedsUserNS(),
		// Without /dev/fuse an unprivileged user cannot mount a SIF.
		Unsquash:   !Host{}.FUSEUsable(),
		ScratchDir: t.TempDir(),
		Clear:      ClearNames(os.Environ()),
	}
}

func testImages(t *testing.T) map[string]string {
	t.Helper()
	imgs := map[string]string{
		KindSIF:     envOr("LAUNCH_TEST_SIF", "/var/cache/launch-ci/busybox.sif"),
		KindSandbox: envOr("LAUNCH_TEST_SANDBOX", "/var/cache/launch-ci/busybox.sandbox"),
	}
	for _, p := range imgs {
		if _, err := os.Stat(p); err != nil {
			skipOrFail(t, "test image: %v; run .ci/apptainer.sh", err)
		}
	}
	return imgs
}

// probe prints what the agent sees, in sections. It runs as the agent: sh
// -c PROBE probe WS SYNC. It waits for SYNC/go before printing, so that the
// test can look at the host's processes while the container runs.
const probe = `
ws=$1 sync=$2
: >"$sync/ready"
while [ ! -e "$sync/go" ]; do sleep 0.05; done
echo "== env"
tr '\0' '\n' </proc/$$/environ | sort
echo "== id"
id -u
id -g
echo "== pwd"
pwd
echo "== mounts"
awk '{print $5, $6}' /proc/self/mountinfo | sort
echo "== home"
ls -A "$HOME" | sort
echo "== net"
tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort
echo "== tmp"
ls -A /tmp
echo "== checks"
check() { n=$1; shift; if "$@" 2>/dev/null; then echo "$n=yes"; else echo "$n=no"; fi; }
echo "secrets_entries=$(ls -A "$ws/secrets" | wc -l)"
echo "env_size=$(wc -c <"$ws/.env")"
check ws_write touch "$ws/written-inside"
check docs_write touch "$ws/docs/x"
check secrets_write touch "$ws/secrets/x"
check env_write sh -c ': >"$1"' sh "$ws/.env"
check home_write touch "$HOME/new"
check cred_write touch "$HOME/.codex/from-inside"
check ref_write touch /ref/x
check leaked_bind test -e /leakedetc
IFS=:
for d in $PATH; do
	if [ -z "$d" ]; then echo "path_empty_entry=yes"; elif [ ! -d "$d" ]; then echo "path_missing=$d"; fi
done
`

type probeOut struct {
	sections map[string][]string
	checks   map[string]string
}

func parseProbe(out string) probeOut {
	p := probeOut{sections: map[string][]string{}, checks: map[string]string{}}
	cur := ""
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if name, ok := strings.CutPrefix(line, "== "); ok {
			cur = name
			continue
		}
		p.sections[cur] = append(p.sections[cur], line)
		if cur == "checks" {
			k, v, _ := strings.Cut(line, "=")
			p.checks[k] = v
		}
	}
	return p
}

func (p probeOut) env() map[string]string {
	m := map[string]string{}
	for _, kv := range p.sections["env"] {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// runtimeEnv are the names Apptainer 1.4 adds to the agent's environment
// on top of the Plan's, whatever the host has: facts about the container,
// the shell prompt of its action scripts, LANG=C and the library path of
// --nv (unless the Plan sets them), PWD and HOME.
var runtimeEnv = map[string]bool{
	"APPTAINER_APPNAME": true, "APPTAINER_BIND": true, "APPTAINER_COMMAND": true,
	"APPTAINER_CONTAINER": true, "APPTAINER_ENVIRONMENT": true, "APPTAINER_NAME": true,
	"APPTAINER_NO_EVAL": true,
	"SINGULARITY_BIND":  true, "SINGULARITY_CONTAINER": true, "SINGULARITY_ENVIRONMENT": true,
	"SINGULARITY_NAME": true, "SINGULARITY_NO_EVAL": true,
	"LANG": true, "LD_LIBRARY_PATH": true, "PS1": true, "PROMPT_COMMAND": true, "PWD": true, "HOME": true,
}

type fixture struct {
	ws, sync, cred, credFile, ref, hostTmpMarker string
	secret, otherSecret                          string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{ws: t.TempDir(), sync: t.TempDir(), cred: t.TempDir(), ref: t.TempDir()}
	f.ws = filepath.Join(f.ws, "my proj") // a space, as users have
	for _, d := range []string{"secrets", "docs", "bin"} {
		if err := os.MkdirAll(filepath.Join(f.ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(f.ws, "secrets", "key.pem"), []byte("PRIVATE"), 0o600)
	os.WriteFile(filepath.Join(f.ws, ".env"), []byte("TOKEN=hidden\n"), 0o600)
	f.credFile = filepath.Join(t.TempDir(), ".claude.json")
	os.WriteFile(f.credFile, []byte("{}"), 0o600)
	marker, err := os.CreateTemp("", "launch-host-tmp-marker.")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	f.hostTmpMarker = marker.Name()
	t.Cleanup(func() { os.Remove(marker.Name()) })
	f.secret = "launch-secret-" + randHex(t)
	f.otherSecret = "launch-other-" + randHex(t)
	return f
}

func randHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// plan is the isolation plan: workspace rw (or ro), docs re-mounted ro,
// secrets and .env masked, credentials under the empty home, a ro bind,
// network none.
func (f fixture) plan(image string, roWorkspace bool) plan.Plan {
	mounts := []plan.Mount{
		{Kind: plan.MountBind, Source: f.ws, Target: f.ws, ReadOnly: roWorkspace, Origin: plan.OriginWorkspace},
		{Kind: plan.MountBind, Source: f.cred, Target: "/home/devuser/.codex", Origin: plan.OriginCredential},
		{Kind: plan.MountBind, Source: f.credFile, Target: "/home/devuser/.claude.json", File: true, Origin: plan.OriginCredential},
		{Kind: plan.MountBind, Source: f.ref, Target: "/ref", ReadOnly: true, Origin: plan.OriginUser},
		{Kind: plan.MountBind, Source: f.sync, Target: "/sync", Origin: plan.OriginUser},
		{Kind: plan.MountBind, Source: f.ws + "/docs", Target: f.ws + "/docs", ReadOnly: true, Origin: plan.OriginReadOnly},
		{Kind: plan.MountMask, Target: f.ws + "/secrets", ReadOnly: true, Origin: plan.OriginMask},
		{Kind: plan.MountMask, Target: f.ws + "/.env", ReadOnly: true, File: true, Origin: plan.OriginMask},
	}
	return plan.Plan{
		Agent:     "shell",
		Image:     plan.Image{SIF: image},
		Argv:      []string{"/bin/sh", "-c", probe, "probe", f.ws, "/sync"},
		Workdir:   f.ws,
		Workspace: f.ws,
		User:      plan.User{UID: 1000, GID: 1000, Name: "devuser", Home: "/home/devuser"},
		Mounts:    mounts,
		Env: []plan.EnvVar{
			{Name: "HOME", Value: "/home/devuser"},
			{Name: "LAUNCH_TEST_SECRET", Value: f.secret, FromHost: true},
			{Name: "MSG", Value: "it's a $HOME `id` \"q\" \\ ;"},
			{Name: "PATH", Value: f.ws + "/bin:/usr/local/bin:/usr/bin:/bin"},
			{Name: "TOOL", Value: "shell"},
		},
		Network: plan.Network{Mode: plan.NetworkNone},
	}
}

// hostEnv sets what must not leak: a secret outside the Plan, the variables
// Apptainer passes through --cleanenv, and ones that would steer it.
func (f fixture) hostEnv(t *testing.T) {
	t.Setenv("LAUNCH_TEST_SECRET", f.secret)
	t.Setenv("LAUNCH_OTHER_SECRET", f.otherSecret)
	t.Setenv("TERM", "xterm-leaked")
	t.Setenv("http_proxy", "http://leaked.example:3128")
	t.Setenv("HTTPS_PROXY", "http://leaked.example:3128")
	t.Setenv("APPTAINERENV_LEAKED", "1")
	t.Setenv("SINGULARITYENV_LEAKED2", "1")
	t.Setenv("APPTAINER_BIND", "/etc:/leakedetc")
}

// run runs p through Exec ("exec") or through the printed snippet under
// "sh" -c or "bash" -c, scanning every host process's command line for the
// secrets while the container waits. It returns the probe's output.
func (f fixture) run(t *testing.T, p plan.Plan, c Config, via string) (probeOut, int) {
	t.Helper()
	os.Remove(filepath.Join(f.sync, "ready"))
	os.Remove(filepath.Join(f.sync, "go"))
	r, err := Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch via {
	case "exec":
		go func() {
			code, err := r.Exec(ctx, Host{}, iostreams.Streams{In: nil, Out: &out, Err: &stderr})
			done <- result{code, err}
		}()
	case "sh", "bash":
		cmd := exec.CommandContext(ctx, via, "-c", r.Snippet())
		cmd.Stdout, cmd.Stderr = &out, &stderr
		go func() {
			err := cmd.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				done <- result{exit.ExitCode(), nil}
				return
			}
			done <- result{0, err}
		}()
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(f.sync, "ready")); err == nil {
			break
		}
		select {
		case res := <-done:
			t.Fatalf("%s: exited (%d, %v) before the probe was ready\nstderr: %s", via, res.code, res.err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: probe not ready after 90s\nstderr: %s", via, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	scanCmdlines(t, via, f.secret, f.otherSecret)
	os.WriteFile(filepath.Join(f.sync, "go"), nil, 0o644)
	res := <-done
	if res.err != nil {
		t.Fatalf("%s: %v\nstderr: %s", via, res.err, stderr.String())
	}
	if res.code != 0 {
		t.Fatalf("%s: exit status %d\nstderr: %s\nsnippet:\n%s", via, res.code, stderr.String(), r.Snippet())
	}
	return parseProbe(out.String()), res.code
}

// scanCmdlines fails when any process's command line holds a secret.
func scanCmdlines(t *testing.T, via string, secrets ...string) {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	if len(dirs) < 3 {
		t.Fatalf("only %d processes visible in /proc", len(dirs))
	}
	seenRuntime := false
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process is gone
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s: %s holds a secret value: %q", via, f, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
			}
		}
		if bytes.Contains(b, []byte("/sync\x00")) {
			seenRuntime = true
		}
	}
	if !seenRuntime {
		t.Errorf("%s: no process with the probe's argv found while it ran; the scan saw nothing", via)
	}
}

// TestApptainer runs the isolation checks for a SIF and a sandbox, through
// Exec and through the printed snippet, and compares the two.
func TestApptainer(t *testing.T) {
	c := realRuntime(t)
	imgs := testImages(t)
	for _, kind := range []string{KindSIF, KindSandbox} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			f.hostEnv(t)
			c := c
			c.Clear = ClearNames(os.Environ())
			p := f.plan(imgs[kind], false)

			got, _ := f.run(t, p, c, "exec")
			checkIsolation(t, f, p, got, false)

			t.Run("snippet-equivalent", func(t *testing.T) {
				// The snippet also creates the Plan's host paths (a real run
				// has cmd/launch do that before Exec).
				p := p
				p.Prepare = []plan.HostPath{
					{Path: filepath.Join(f.sync, "prepared", "dir"), Dir: true},
					{Path: filepath.Join(f.sync, "prepared", "file.json"), Content: "{}"},
				}
				for _, sh := range []string{"sh", "bash"} {
					os.Remove(filepath.Join(f.ws, "written-inside"))
					os.Remove(filepath.Join(f.cred, "from-inside"))
					snip, _ := f.run(t, p, c, sh)
					checkIsolation(t, f, p, snip, false)
					for _, sec := range []string{"env", "id", "pwd", "mounts", "home", "net", "tmp", "checks"} {
						a, b := normalize(sec, got.sections[sec]), normalize(sec, snip.sections[sec])
						if strings.Join(a, "\n") != strings.Join(b, "\n") {
							t.Errorf("section %s differs between Exec and the snippet run by %s:\nexec:\n%s\nsnippet:\n%s", sec, sh, strings.Join(a, "\n"), strings.Join(b, "\n"))
						}
					}
				}
				if st, err := os.Stat(filepath.Join(f.sync, "prepared", "dir")); err != nil || !st.IsDir() {
					t.Errorf("snippet did not create the prepared directory: %v", err)
				}
				if b, err := os.ReadFile(filepath.Join(f.sync, "prepared", "file.json")); err != nil || string(b) != "{}" {
					t.Errorf("snippet did not write the prepared file: %q, %v", b, err)
				}
			})

			t.Run("read-only-workspace", func(t *testing.T) {
				ro, _ := f.run(t, f.plan(imgs[kind], true), c, "exec")
				if ro.checks["ws_write"] != "no" {
					t.Errorf("a read-only workspace took a write")
				}
				if ro.checks["home_write"] != "yes" {
					t.Errorf("home not writable under a read-only workspace")
				}
			})

			if ents, _ := os.ReadDir(c.ScratchDir); len(ents) != 0 {
				t.Errorf("scratch directory %s holds %d entries after the runs, want 0", c.ScratchDir, len(ents))
			}
		})
	}
}

// normalize drops what legitimately differs between two runs: the path of
// a temporary sandbox that --unsquash extracts the SIF to.
func normalize(section string, lines []string) []string {
	var out []string
	for _, l := range lines {
		if section == "env" && (strings.HasPrefix(l, "APPTAINER_CONTAINER=") || strings.HasPrefix(l, "SINGULARITY_CONTAINER=")) {
			continue
		}
		out = append(out, l)
	}
	return out
}

func checkIsolation(t *testing.T, f fixture, p plan.Plan, got probeOut, roWorkspace bool) {
	t.Helper()
	env := got.env()
	// The Plan's variables, with their exact values.
	for _, e := range p.Env {
		if env[e.Name] != e.Value {
			t.Errorf("env %s = %q, want %q", e.Name, env[e.Name], e.Value)
		}
	}
	// Nothing else but what the runtime itself adds.
	var extra []string
	for name, v := range env {
		if _, inPlan := p.Lookup(name); !inPlan && !runtimeEnv[name] {
			extra = append(extra, name+"="+v)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("env has names outside the plan and the runtime's own: %q", extra)
	}
	for name, v := range env {
		if strings.Contains(v, f.otherSecret) || strings.Contains(v, "leaked") {
			t.Errorf("env %s=%q carries a host value", name, v)
		}
	}
	for _, n := range []string{"TERM", "http_proxy", "HTTPS_PROXY", "LEAKED", "LEAKED2", "LAUNCH_OTHER_SECRET"} {
		if _, ok := env[n]; ok {
			t.Errorf("env has host variable %s", n)
		}
	}
	if env["LANG"] != "C" && env["LANG"] != "" {
		t.Errorf("LANG = %q, want C (apptainer's own) or unset", env["LANG"])
	}

	wantUID := strconv.Itoa(os.Getuid())
	if id := got.sections["id"]; len(id) != 2 || id[0] != wantUID {
		t.Errorf("id = %q, want uid %s (the caller)", id, wantUID)
	}
	if pwd := got.sections["pwd"]; len(pwd) != 1 || pwd[0] != p.Workdir {
		t.Errorf("pwd = %q, want %q", pwd, p.Workdir)
	}
	if net := got.sections["net"]; strings.Join(net, ",") != "lo" {
		t.Errorf("network interfaces %q, want only lo", net)
	}
	if home := got.sections["home"]; strings.Join(home, ",") != ".claude.json,.codex" {
		t.Errorf("home holds %q, want only the credential mounts", home)
	}
	for _, l := range got.sections["tmp"] {
		if l == filepath.Base(f.hostTmpMarker) {
			t.Errorf("the host's /tmp is visible (%s)", l)
		}
	}
	want := map[string]string{
		"secrets_entries": "0", "env_size": "0",
		"ws_write": "yes", "docs_write": "no", "secrets_write": "no", "env_write": "no",
		"home_write": "yes", "cred_write": "yes", "ref_write": "no", "leaked_bind": "no",
	}
	if roWorkspace {
		want["ws_write"] = "no"
	}
	for k, v := range want {
		if got.checks[k] != v {
			t.Errorf("check %s = %q, want %q", k, got.checks[k], v)
		}
	}
	for k, v := range got.checks {
		if strings.HasPrefix(k, "path_") {
			t.Errorf("PATH: %s=%s", k, v)
		}
	}
	// Writes where the Plan allows them reach the host; the masked content
	// is untouched.
	if _, err := os.Stat(filepath.Join(f.ws, "written-inside")); err != nil {
		t.Errorf("write to the workspace did not reach the host: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.cred, "from-inside")); err != nil {
		t.Errorf("write to the credential directory did not reach the host: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.ws, ".env")); string(b) != "TOKEN=hidden\n" {
		t.Errorf("masked .env changed on the host: %q", b)
	}
}

// TestApptainerExitAndSignals checks the exit status and that a SIGTERM
// sent to launch reaches the agent.
func TestApptainerExitAndSignals(t *testing.T) {
	c := realRuntime(t)
	imgs := testImages(t)
	ws := t.TempDir()
	p := plan.Plan{
		Agent: "shell", Image: plan.Image{SIF: imgs[KindSandbox]},
		Argv: []string{"/bin/sh", "-c", "exit 5"}, Workdir: ws, Workspace: ws,
		User:    plan.User{Home: "/home/devuser"},
		Mounts:  []plan.Mount{{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace}},
		Env:     []plan.EnvVar{{Name: "PATH", Value: "/usr/bin:/bin"}},
		Network: plan.Network{Mode: plan.NetworkNone},
	}
	r, err := Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	code, err := r.Exec(context.Background(), Host{}, iostreams.Streams{Out: io.Discard, Err: io.Discard})
	if err != nil || code != 5 {
		t.Errorf("exit 5: Exec = %d, %v", code, err)
	}

	p.Argv = []string{"/bin/sh", "-c", `trap 'exit 9' TERM; : >"$1/ready"; while :; do sleep 0.05; done`, "sh", ws}
	r, err = Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan [2]any, 1)
	var stderr bytes.Buffer
	go func() {
		code, err := r.Exec(context.Background(), Host{}, iostreams.Streams{Out: io.Discard, Err: &stderr})
		done <- [2]any{code, err}
	}()
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(ws, "ready")); err == nil {
			break
		}
		if i > 3000 {
			t.Fatalf("agent not ready: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case res := <-done:
		if res[1] != nil || res[0].(int) != 9 {
			t.Errorf("after SIGTERM: Exec = %v, %v; want 9 (the agent's trap)", res[0], res[1])
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not get SIGTERM")
	}
}

// TestApptainerDiagnostics runs the checks a user runs first (the NICHD
// probe: launch shell -- bash probe.sh): the environment, the credential
// paths, a writable workspace, and every PATH entry present.
func TestApptainerDiagnostics(t *testing.T) {
	c := realRuntime(t)
	f := newFixture(t)
	diag := `
fail=0
echo "TOOL=$TOOL HOME=$HOME"
for p in "$HOME/.codex" "$HOME/.claude.json"; do
	if [ -e "$p" ]; then echo "ok credential $p"; else echo "FAIL missing credential $p"; fail=1; fi
done
if touch "$PWD/.launch-diag" && rm "$PWD/.launch-diag"; then echo "ok workspace writable $PWD"; else echo "FAIL workspace not writable"; fail=1; fi
old=$IFS; IFS=:
for d in $PATH; do
	if [ -z "$d" ]; then echo "FAIL empty PATH entry"; fail=1; elif [ -d "$d" ]; then echo "ok PATH $d"; else echo "FAIL PATH entry $d missing"; fail=1; fi
done
IFS=$old
case "$PATH" in *::*|:*|*:) echo "FAIL PATH $PATH has an empty entry"; fail=1;; esac
exit $fail
`
	debian := envOr("LAUNCH_TEST_DEBIAN_SIF", "/var/cache/launch-ci/debian.sif")
	if _, err := os.Stat(debian); err != nil {
		skipOrFail(t, "test image: %v; run .ci/apptainer.sh", err)
	}
	p := f.plan(debian, false)
	p.Argv = []string{"/bin/bash", "-c", diag}
	p.Network = plan.Network{Mode: plan.NetworkOpen}
	// The catalogue's PATH, with a workspace directory prepended.
	p.Env[3].Value = f.ws + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	r, err := Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	code, err := r.Exec(context.Background(), Host{}, iostreams.Streams{Out: &out, Err: &stderr})
	if err != nil || code != 0 {
		t.Fatalf("diagnostics: %d, %v\n%s\n%s", code, err, out.String(), stderr.String())
	}
	if !strings.Contains(out.String(), "TOOL=shell HOME=/home/devuser") || strings.Contains(out.String(), "FAIL") {
		t.Errorf("diagnostics output:\n%s", out.String())
	}
}

// TestApptainerAsUser runs this test binary again as an unprivileged user,
// the HPC case: no setuid, no /dev/fuse, so SIF files go through
// --unsquash. Only root can switch users; others already are one.
func TestApptainerAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("already unprivileged (uid %d): TestApptainer ran as this user", os.Geteuid())
	}
	name := envOr("LAUNCH_TEST_USER", "launchtest")
	u, err := user.Lookup(name)
	if err != nil {
		skipOrFail(t, "test user %q: %v; run .ci/apptainer.sh", name, err)
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		skipOrFail(t, "runuser: %v", err)
	}
	realRuntime(t) // skip here, not in the child, when there is no runtime
	dir, err := os.MkdirTemp("", "launch-as-user.")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "singularity.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-u", name, "--", "env", "-i",
		"PATH=" + os.Getenv("PATH"), "HOME=" + u.HomeDir, "USER=" + name, "TMPDIR=/tmp",
		"LAUNCH_REQUIRE_ENGINES=" + os.Getenv("LAUNCH_REQUIRE_ENGINES"),
		"LAUNCH_SINGULARITY_BIN=" + os.Getenv("LAUNCH_SINGULARITY_BIN"),
		"LAUNCH_TEST_SIF=" + os.Getenv("LAUNCH_TEST_SIF"),
		"LAUNCH_TEST_SANDBOX=" + os.Getenv("LAUNCH_TEST_SANDBOX"),
		"LAUNCH_TEST_DEBIAN_SIF=" + os.Getenv("LAUNCH_TEST_DEBIAN_SIF"),
		"LAUNCH_TEST_PATH_SIF=" + os.Getenv("LAUNCH_TEST_PATH_SIF"),
		"LAUNCH_TEST_REGISTRY=" + os.Getenv("LAUNCH_TEST_REGISTRY"),
		bin, "-test.run", "^TestApptainer(|ExitAndSignals|Diagnostics|Pull|Path|Identity)$", "-test.count=1", "-test.v", "-test.timeout=10m"}
	cmd := exec.Command("runuser", args...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	t.Logf("as %s (uid %s):\n%s", name, u.Uid, out)
	if err != nil {
		t.Fatalf("as %s: %v", name, err)
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Errorf("as %s: tests skipped", name)
	}
}

// TestApptainerPull pulls a docker:// image from the local registry that
// .ci/docker.sh runs ($LAUNCH_TEST_REGISTRY, default 127.0.0.1:5000) with
// the runtime's own pull, into the cache under its digest, runs it from
// there, and then runs it again without pulling.
func TestApptainerPull(t *testing.T) {
	c := realRuntime(t)
	registry := envOr("LAUNCH_TEST_REGISTRY", "127.0.0.1:5000")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + registry + "/v2/launch-test/busybox/tags/list")
	if err != nil || resp.StatusCode != http.StatusOK {
		skipOrFail(t, "registry %s: %v; run .ci/docker.sh", registry, err)
	}
	resp.Body.Close()
	// A plain-http registry: the pull reads this setting from the host
	// environment; the exec does not need it (ClearNames removes it).
	t.Setenv("APPTAINER_NOHTTPS", "1")
	c.CacheDir = t.TempDir()
	ws := t.TempDir()
	p := plan.Plan{
		Agent: "shell", Image: plan.Image{SIF: "docker://" + registry + "/launch-test/busybox:latest", Default: true},
		Argv: []string{"/bin/sh", "-c", "echo pulled-and-ran"}, Workdir: ws, Workspace: ws,
		User:    plan.User{Home: "/home/devuser"},
		Mounts:  []plan.Mount{{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace}},
		Env:     []plan.EnvVar{{Name: "PATH", Value: "/usr/bin:/bin"}},
		Network: plan.Network{Mode: plan.NetworkNone},
	}
	for i, policy := range []plan.PullPolicy{"", plan.PullNever} {
		p.Pull = policy
		r, err := Render(p, c)
		if err != nil {
			t.Fatal(err)
		}
		var out, stderr bytes.Buffer
		code, err := r.Exec(context.Background(), Host{}, iostreams.Streams{Out: &out, Err: &stderr})
		if err != nil || code != 0 || out.String() != "pulled-and-ran\n" {
			t.Fatalf("run %d: %d, %v\nstdout: %q\nstderr: %s", i, code, err, out.String(), stderr.String())
		}
		target, err := os.Readlink(r.Image())
		if err != nil {
			t.Fatal(err)
		}
		sum, err := fileSHA256(target)
		if err != nil || target != filepath.Join(c.CacheDir, "sha256", sum+".sif") {
			t.Errorf("cache link -> %q, want the file named after its sha256 %s (%v)", target, sum, err)
		}
		if i == 1 && strings.Contains(stderr.String(), "Fetching") {
			t.Errorf("pull never fetched: %s", stderr.String())
		}
	}

	// The printed snippet pulls the same way, into an empty cache.
	c.CacheDir = t.TempDir()
	p.Pull = plan.PullMissing
	r, err := Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command("sh", "-c", r.Snippet())
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil || out.String() != "pulled-and-ran\n" {
		t.Fatalf("snippet: %v\nstdout: %q\nstderr: %s\n%s", err, out.String(), stderr.String(), r.Snippet())
	}
	target, err := os.Readlink(r.Image())
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := fileSHA256(target); err != nil || target != filepath.Join(c.CacheDir, "sha256", sum+".sif") {
		t.Errorf("snippet: cache link -> %q, want the file named after its sha256 %s (%v)", target, sum, err)
	}
	ents, _ := os.ReadDir(filepath.Join(c.CacheDir, "sha256"))
	if len(ents) != 1 {
		t.Errorf("snippet: cache holds %d files, want 1 (no partial pull left)", len(ents))
	}
}

// runBoth runs r through Exec and through its printed snippet under sh, and
// returns the two outputs; either failing fails the test.
func runBoth(t *testing.T, r Rendered) (execOut, snippetOut string) {
	t.Helper()
	var out, stderr bytes.Buffer
	code, err := r.Exec(context.Background(), Host{}, iostreams.Streams{Out: &out, Err: &stderr})
	if err != nil || code != 0 {
		t.Fatalf("Exec: %d, %v\nstdout: %s\nstderr: %s", code, err, out.String(), stderr.String())
	}
	execOut = out.String()
	out.Reset()
	stderr.Reset()
	cmd := exec.Command("sh", "-c", r.Snippet())
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("snippet: %v\nstdout: %s\nstderr: %s\n%s", err, out.String(), stderr.String(), r.Snippet())
	}
	return execOut, out.String()
}

// TestApptainerPath: the agent's PATH is the SIF's own (its %environment),
// with Plan.PathPrepend in front (APPTAINERENV_PREPEND_PATH); without
// prepends it is exactly the SIF's. A PATH the user set replaces the
// SIF's, the prepends still in front. Exec and the snippet agree.
func TestApptainerPath(t *testing.T) {
	c := realRuntime(t)
	image := envOr("LAUNCH_TEST_PATH_SIF", "/var/cache/launch-ci/busybox-path.sif")
	if _, err := os.Stat(image); err != nil {
		skipOrFail(t, "test image: %v; run .ci/apptainer.sh", err)
	}
	// What .ci/apptainer.sh writes in the image's %environment.
	const sifPath = "/opt/sif/bin:/bin:/usr/bin"
	ws := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ws, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "bin", "ws-tool"), []byte("#!/bin/sh\necho ws-tool\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		prepend  []string
		userPath string
		want     string
	}{
		{name: "the SIF's own", want: sifPath},
		{name: "prepended", prepend: []string{ws + "/bin", "/opt/none"}, want: ws + "/bin:/opt/none:" + sifPath},
		// cmd/launch puts prepends in front of a PATH the user set itself.
		{name: "the user's", userPath: ws + "/bin:/bin:/usr/bin", want: ws + "/bin:/bin:/usr/bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan.Plan{
				Agent: "shell", Image: plan.Image{SIF: image},
				Argv:        []string{"/bin/sh", "-c", `echo "$PATH"; command -v sif-tool || echo no-sif-tool; command -v ws-tool || echo no-ws-tool`},
				Workdir:     ws,
				Workspace:   ws,
				User:        plan.User{UID: 1000, GID: 1000, Name: "devuser", Home: "/home/devuser"},
				Caller:      plan.Caller{UID: os.Getuid(), GID: os.Getgid()},
				Mounts:      []plan.Mount{{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace}},
				Env:         []plan.EnvVar{{Name: "TOOL", Value: "shell"}},
				Network:     plan.Network{Mode: plan.NetworkNone},
				PathPrepend: tt.prepend,
			}
			if tt.userPath != "" {
				p.Env = plan.SortEnv(append(p.Env, plan.EnvVar{Name: "PATH", Value: tt.userPath}))
			}
			r, err := Render(p, c)
			if err != nil {
				t.Fatal(err)
			}
			sifTool, wsTool := "no-sif-tool", "no-ws-tool"
			if strings.Contains(":"+tt.want+":", ":/opt/sif/bin:") {
				sifTool = "/opt/sif/bin/sif-tool"
			}
			if strings.HasPrefix(tt.want, ws+"/bin:") {
				wsTool = ws + "/bin/ws-tool"
			}
			want := tt.want + "\n" + sifTool + "\n" + wsTool + "\n"
			execOut, snipOut := runBoth(t, r)
			if execOut != want {
				t.Errorf("Exec: agent printed\n%s\nwant\n%s", execOut, want)
			}
			if snipOut != execOut {
				t.Errorf("snippet: agent printed\n%s\nExec's agent\n%s", snipOut, execOut)
			}
		})
	}
}

// TestApptainerIdentity: the agent runs as the caller. What it writes in
// the workspace and in a credential directory belongs to the caller on the
// host, and a credential file launch prepares (0600, the caller's) is
// readable inside.
func TestApptainerIdentity(t *testing.T) {
	c := realRuntime(t)
	imgs := testImages(t)
	for _, kind := range []string{KindSIF, KindSandbox} {
		t.Run(kind, func(t *testing.T) {
			ws, cred := t.TempDir(), t.TempDir()
			token := "token-" + randHex(t)
			if err := os.WriteFile(filepath.Join(cred, "auth.json"), []byte(token), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(cred, 0o700); err != nil {
				t.Fatal(err)
			}
			p := plan.Plan{
				Agent: "shell", Image: plan.Image{SIF: imgs[kind]},
				Argv: []string{"/bin/sh", "-c", `id -u; id -g; cat "$HOME/.codex/auth.json"; echo
: >"$1/by-agent" && mkdir "$1/dir-by-agent" && : >"$HOME/.codex/refreshed" && echo wrote`, "sh", ws},
				Workdir:   ws,
				Workspace: ws,
				User:      plan.User{UID: 1000, GID: 1000, Name: "devuser", Home: "/home/devuser"},
				Caller:    plan.Caller{UID: os.Getuid(), GID: os.Getgid()},
				Mounts: []plan.Mount{
					{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace},
					{Kind: plan.MountBind, Source: cred, Target: "/home/devuser/.codex", Origin: plan.OriginCredential},
				},
				Network: plan.Network{Mode: plan.NetworkNone},
			}
			r, err := Render(p, c)
			if err != nil {
				t.Fatal(err)
			}
			var out, stderr bytes.Buffer
			code, err := r.Exec(context.Background(), Host{}, iostreams.Streams{Out: &out, Err: &stderr})
			if err != nil || code != 0 {
				t.Fatalf("Exec: %d, %v\nstdout: %s\nstderr: %s", code, err, out.String(), stderr.String())
			}
			// Inside, the caller's own ids: no fakeroot, no mapping to the
			// image user's 1000.
			want := fmt.Sprintf("%d\n%d\n%s\nwrote\n", os.Getuid(), os.Getgid(), token)
			if out.String() != want {
				t.Errorf("agent printed %q, want %q (ids of the caller, the credential)", out.String(), want)
			}
			for _, f := range []string{filepath.Join(ws, "by-agent"), filepath.Join(ws, "dir-by-agent"), filepath.Join(cred, "refreshed")} {
				st, err := os.Stat(f)
				if err != nil {
					t.Errorf("the agent's write did not reach the host: %v", err)
					continue
				}
				sys := st.Sys().(*syscall.Stat_t)
				if int(sys.Uid) != os.Getuid() || int(sys.Gid) != os.Getgid() {
					t.Errorf("%s: owned by %d:%d on the host, want the caller %d:%d", f, sys.Uid, sys.Gid, os.Getuid(), os.Getgid())
				}
			}
		})
	}
}
