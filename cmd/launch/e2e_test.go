//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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

	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/plan"
)

// End-to-end tests of the launch binary (bin/launch, from make build) on the
// real engines that .ci/run installs. Without an engine they skip with a
// reason; with LAUNCH_REQUIRE_ENGINES=1 (CI) they fail instead.

// e2eBackend is one backend under test and the flags that point launch at a
// local test image.
type e2eBackend struct {
	name  backendName
	flags []string
	// debian points launch at the Debian image instead (a real bash and
	// coreutils: busybox's stty fails now and then on these ptys).
	debian []string
	ready  func() error
}

const ciImages = "/var/cache/launch-ci"

var e2eBackends = []e2eBackend{
	{
		name:   backendDocker,
		flags:  []string{"--backend", "docker", "--image", "launch-test/busybox:latest"},
		debian: []string{"--backend", "docker", "--image", "launch-test/debian:bookworm"},
		ready: func() error {
			out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", "launch-test/busybox:latest").CombinedOutput()
			if err != nil {
				return fmt.Errorf("docker engine or image launch-test/busybox:latest missing (run .ci/docker.sh): %v: %s", err, out)
			}
			return nil
		},
	},
	{
		// The test user's rootless service (.ci/podman.sh): launch finds it
		// at /run/user/1000/podman/podman.sock.
		name:   backendPodman,
		flags:  []string{"--backend", "podman", "--image", "localhost/launch-test/busybox:latest"},
		debian: []string{"--backend", "podman", "--image", "localhost/launch-test/debian:bookworm"},
		ready: func() error {
			sock := fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID)
			c := exec.Command("podman", "--url", sock, "image", "exists", "localhost/launch-test/busybox:latest")
			c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
			if os.Getuid() == 0 {
				c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testUID, Gid: testUID}}
			}
			if out, err := c.CombinedOutput(); err != nil {
				return fmt.Errorf("rootless podman service of uid %d or image localhost/launch-test/busybox:latest missing (run .ci/podman.sh): %v: %s", testUID, err, out)
			}
			return nil
		},
	},
	{
		name:   backendSingularity,
		flags:  []string{"--backend", "singularity", "--sif-path", ciImages + "/busybox.sif"},
		debian: []string{"--backend", "singularity", "--sif-path", ciImages + "/debian.sif"},
		ready: func() error {
			if _, err := exec.LookPath("apptainer"); err != nil {
				return fmt.Errorf("apptainer missing (run .ci/apptainer.sh): %v", err)
			}
			if _, err := os.Stat(ciImages + "/busybox.sif"); err != nil {
				return fmt.Errorf("test SIF missing (run .ci/apptainer.sh): %v", err)
			}
			return nil
		},
	},
}

// launchBin returns bin/launch (from make build), copied to a directory that
// the ordinary user the tests run as can reach: the checkout may lie under a
// home directory that user cannot enter.
func launchBin(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("../../bin/launch")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		need(t, fmt.Errorf("%v: run make build (make test does)", err))
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "launch-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "launch")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// need skips the test when err is set, or fails it in CI.
func need(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("LAUNCH_REQUIRE_ENGINES") == "1" {
		t.Fatalf("LAUNCH_REQUIRE_ENGINES=1 but: %v", err)
	}
	t.Skip(err)
}

// session is a scratch home and workspace for one launch.
type session struct {
	t         *testing.T
	bin       string
	home, ws  string
	env       []string
	backend   e2eBackend
	extraArgs []string
	cred      *syscall.Credential // set when the tests run as root
}

// testUID is who runs launch in these tests when they run as root: an
// ordinary user whose id is the image user's, as on a typical Linux laptop
// (Docker) or HPC account (Apptainer). Root itself is no user of launch.
const testUID = 1000

func newSession(t *testing.T, b e2eBackend) *session {
	bin := launchBin(t)
	need(t, b.ready())
	root, err := os.MkdirTemp("", "launch-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	// The workspace's name is unique, and with it the container's name:
	// other test runs on the same engines cannot take it.
	ws := filepath.Join(root, "proj-"+strings.TrimPrefix(filepath.Base(root), "launch-e2e-"))
	s := &session{t: t, bin: bin, home: filepath.Join(root, "home"), ws: ws, backend: b}
	for _, d := range []string{s.home, s.ws} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		cred := &syscall.Credential{Uid: testUID, Gid: testUID}
		if g, err := user.LookupGroup("docker"); err == nil {
			gid, _ := strconv.Atoi(g.Gid)
			cred.Groups = []uint32{uint32(gid)}
		}
		s.cred = cred
		for _, d := range []string{s.home, s.ws} {
			if err := os.Chown(d, testUID, testUID); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.env = []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH"), "XDG_CONFIG_HOME=" + filepath.Join(s.home, ".config"), "XDG_CACHE_HOME=" + filepath.Join(s.home, ".cache")}
	return s
}

// write creates a file (and its directory) owned by the session's user.
func (s *session) write(path, content string) {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if s.cred != nil {
		for p := path; p != s.home && p != s.ws && p != "/"; p = filepath.Dir(p) {
			os.Chown(p, int(s.cred.Uid), int(s.cred.Gid))
		}
	}
}

// command runs name args as the session's user in the workspace.
func (s *session) command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Dir, c.Env = s.ws, s.env
	if s.cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return c
}

// cmd builds a launch command with the backend's flags.
func (s *session) cmd(args ...string) *exec.Cmd {
	all := append(append(append([]string{}, s.backend.flags...), s.extraArgs...), args...)
	return s.command(s.bin, all...)
}

func (s *session) run(stdin string, args ...string) (string, string, int) {
	s.t.Helper()
	c := s.cmd(args...)
	c.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// backendNamed is the backend under test of that name.
func backendNamed(name backendName) e2eBackend {
	for _, b := range e2eBackends {
		if b.name == name {
			return b
		}
	}
	panic("no backend " + string(name) + " under test")
}

func forEachBackend(t *testing.T, f func(t *testing.T, s *session)) {
	for _, b := range e2eBackends {
		t.Run(string(string(b.name)), func(t *testing.T) { f(t, newSession(t, b)) })
	}
}

func TestE2EStdinStdoutStderrExitCode(t *testing.T) {
	forEachBackend(t, checkStdio)
}

// checkStdio: stdin reaches the agent, its stdout and stderr stay apart,
// and its exit code is launch's.
func checkStdio(t *testing.T, s *session) {
	t.Helper()
	out, errOut, code := s.run("hi\n", "--yes", "shell", "--", "cat")
	if code != 0 || out != "hi\n" {
		t.Errorf("echo hi | launch shell -- cat: exit %d, stdout %q, stderr %q; want hi", code, out, errOut)
	}
	out, errOut, code = s.run("", "--yes", "shell", "echo to-out; echo to-err >&2; exit 7")
	if code != 7 {
		t.Errorf("exit code %d, want 7 (stderr %q)", code, errOut)
	}
	if out != "to-out\n" {
		t.Errorf("stdout %q, want only to-out", out)
	}
	if !strings.Contains(errOut, "to-err") || strings.Contains(out, "to-err") {
		t.Errorf("stderr %q / stdout %q: stderr must stay apart", errOut, out)
	}
}

// TestE2EEnvAllowlist: the container sees exactly the Plan's variables; a
// secret in launch's own environment is absent unless passed by name, and
// then arrives with its value.
func TestE2EEnvAllowlist(t *testing.T) {
	forEachBackend(t, checkEnvAllowlist)
}

// checkEnvAllowlist: the container's variables are the Plan's; no other
// value of launch's environment reaches it.
func checkEnvAllowlist(t *testing.T, s *session) {
	t.Helper()
	defer func(env []string) { s.env = env }(s.env)
	// http_proxy is allowlisted (both cases reach the container); TERM
	// is not, without a terminal; the others are not.
	s.env = append(s.env, "LAUNCH_E2E_SECRET=s3cret-value-e2e", "TERM=xterm-test", "NOT_ALLOWED=leak-value", "APPTAINERENV_EXTRA=leak-value", "http_proxy=http://proxy.example:1")
	plan, _, code := s.run("", "--json", "shell")
	if code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	out, errOut, code := s.run("", "--yes", "shell", "env")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := envNames(out, runtimeAdded[s.backend.name])
	want := planEnvNames(t, plan)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("container env names\n got %v\nwant %v (the Plan's)", got, want)
	}
	if strings.Contains(out, "s3cret-value-e2e") || strings.Contains(out, "leak-value") || strings.Contains(out, "xterm-test") {
		t.Errorf("a host value leaked into the container:\n%s", out)
	}
	for _, want := range []string{"http_proxy=http://proxy.example:1\n", "HTTP_PROXY=http://proxy.example:1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("container env lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = s.run("", "--yes", "--env", "LAUNCH_E2E_SECRET", "shell", "echo \"$LAUNCH_E2E_SECRET\"")
	if out != "s3cret-value-e2e\n" {
		t.Errorf("--env LAUNCH_E2E_SECRET: container saw %q", out)
	}
}

// TestE2EDryRunRunsAsPrinted runs the printed snippet in sh and compares what
// a probe reports inside with the real run's report.
func TestE2EDryRunRunsAsPrinted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		s.write(filepath.Join(s.ws, "secrets", "key"), "k")
		s.write(filepath.Join(s.ws, "ro", "keep"), "")
		s.env = append(s.env, "LAUNCH_E2E_SECRET=s3cret-value-e2e")
		probe := `id -u; id -g; pwd; env | grep -v -e '^_=' -e '^HOSTNAME=' -e '_CONTAINER=' | sort; ls -A secrets | wc -l; (touch ro/x 2>/dev/null && echo ro-writable) || echo ro-refused; (touch w 2>/dev/null && echo ws-writable && rm w) || echo ws-refused`
		args := []string{"--mask", "secrets", "--ro", "ro", "--env", "LAUNCH_E2E_SECRET", "--env", "PLAIN=it's a $test", "shell", probe}
		snippet, errOut, code := s.run("", append([]string{"--dry-run"}, args...)...)
		if code != 0 {
			t.Fatalf("--dry-run: exit %d: %s", code, errOut)
		}
		if strings.Contains(snippet, "s3cret-value-e2e") {
			t.Fatalf("the dry run shows a secret value:\n%s", snippet)
		}
		sh := s.command("sh", "-c", snippet)
		if s.backend.name == backendPodman {
			// The session's scratch HOME has no podman storage of its own:
			// the printed podman run talks to the service the real run
			// used (CONTAINER_HOST makes podman a client of it).
			sh.Env = append(sh.Env, fmt.Sprintf("CONTAINER_HOST=unix:///run/user/%d/podman/podman.sock", testUID))
		}
		var shOut, shErr bytes.Buffer
		sh.Stdout, sh.Stderr = &shOut, &shErr
		if err := sh.Run(); err != nil {
			t.Fatalf("the printed snippet failed: %v\n%s\n--- snippet\n%s", err, shErr.String(), snippet)
		}
		real, errOut, code := s.run("", append([]string{"--yes"}, args...)...)
		if code != 0 {
			t.Fatalf("real run: exit %d: %s", code, errOut)
		}
		if shOut.String() != real {
			t.Errorf("the printed snippet and the real run differ\n--- snippet run\n%s--- real run\n%s", shOut.String(), real)
		}
		for _, want := range []string{"\n0\n", "ro-refused", "ws-writable", "PLAIN=it's a $test", "LAUNCH_E2E_SECRET=s3cret-value-e2e"} {
			if !strings.Contains(real, want) {
				t.Errorf("probe output lacks %q:\n%s", want, real)
			}
		}
	})
}

// TestE2ECredentialsPrepared: a real run creates the agent's missing
// credential paths (private), a dry run does not.
func TestE2ECredentialsPrepared(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		if _, _, code := s.run("", "--dry-run", "claude"); code != 0 {
			t.Fatalf("--dry-run claude: exit %d", code)
		}
		if _, err := os.Stat(filepath.Join(s.home, ".claude")); err == nil {
			t.Fatal("a dry run created ~/.claude")
		}
		// Override the claude agent's command so the test image can run it.
		cfg := filepath.Join(s.home, "launch.toml")
		s.write(cfg, "[agents.claude]\ncommand = [\"sh\", \"-c\", \"cat ~/.claude.json; touch ~/.claude/written\"]\n")
		out, errOut, code := s.run("", "--config", cfg, "--yes", "claude")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if out != "{}" {
			t.Errorf("~/.claude.json in the container = %q, want {}", out)
		}
		fi, err := os.Stat(filepath.Join(s.home, ".claude"))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("~/.claude: %v %v; want a 0700 directory", fi, err)
		}
		if _, err := os.Stat(filepath.Join(s.home, ".claude", "written")); err != nil {
			t.Errorf("the agent's write to ~/.claude did not reach the host: %v", err)
		}
	})
}

// TestE2ESignalsLeaveNothing sends SIGINT, SIGTERM or SIGHUP to launch at
// random points of 30 runs (before, during and after the container starts)
// and checks that launch exits with a failure and leaves nothing behind: no
// container of its own, nothing in its temporary directory.
func TestE2ESignalsLeaveNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		tmp := filepath.Join(s.home, "tmp")
		if err := os.Mkdir(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		if s.cred != nil {
			os.Chown(tmp, int(s.cred.Uid), int(s.cred.Gid))
		}
		s.env = append(s.env, "TMPDIR="+tmp)
		seed := uint64(time.Now().UnixNano())
		rng := rand.New(rand.NewPCG(seed, 1))
		t.Logf("random delays seeded with %d", seed)
		sigs := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
		for i := 0; i < 30; i++ {
			sig := sigs[i%len(sigs)]
			delay := time.Duration(rng.IntN(1500)) * time.Millisecond
			c := s.cmd("--yes", "shell", "sleep 60")
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			c.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- c.Wait() }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				c.Process.Kill()
				t.Fatalf("run %d: %v after %v: launch did not exit within 60s", i, sig, delay)
			}
			if c.ProcessState.ExitCode() == 0 {
				t.Errorf("run %d: %v after %v: exit code 0", i, sig, delay)
			}
			if s.backend.name == backendDocker {
				ps, _ := exec.Command("docker", "ps", "-aq", "--filter", fmt.Sprintf("label=%s=%d", naming.LabelPID, c.Process.Pid)).Output()
				if len(bytes.TrimSpace(ps)) != 0 {
					t.Errorf("run %d: %v after %v: container(s) left behind: %s", i, sig, delay, ps)
				}
			}
			if s.backend.name == backendPodman {
				// Not with the session's TMPDIR: the podman command itself
				// leaves containers-user-UID there.
				ps := exec.Command("podman", "--url", fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID), "ps", "-aq", "--filter", fmt.Sprintf("label=%s=%d", naming.LabelPID, c.Process.Pid))
				ps.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
				out, err := ps.Output()
				if err != nil || len(bytes.TrimSpace(out)) != 0 {
					t.Errorf("run %d: %v after %v: container(s) left behind: %s (%v)", i, sig, delay, out, err)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
				t.Errorf("run %d: %v after %v: temporary files left: %v", i, sig, delay, left)
				for _, l := range left {
					os.RemoveAll(l)
				}
			}
		}
	})
}

// shellAdded are set by the shell that runs env in the container, not by
// launch or the runtime.
var shellAdded = map[string]bool{"_": true, "SHLVL": true, "PWD": true, "OLDPWD": true}

// runtimeAdded are the variables each runtime sets in every container,
// whatever it is asked (documented in docs/docker.md and docs/hpc.md). PATH
// is the image's own: launch passes none unless something is prepended.
var runtimeAdded = map[backendName]func(string) bool{
	backendDocker: func(n string) bool { return n == "HOSTNAME" || n == "PATH" },
	// Podman adds container=podman, HOSTNAME and TERM (xterm without a
	// terminal too), and the image's PATH.
	backendPodman: func(n string) bool { return n == "HOSTNAME" || n == "PATH" || n == "container" || n == "TERM" },
	backendSingularity: func(n string) bool {
		return strings.HasPrefix(n, "APPTAINER_") || strings.HasPrefix(n, "SINGULARITY_") || n == "PS1" || n == "LD_LIBRARY_PATH" || n == "PROMPT_COMMAND" || n == "LANG" || n == "PATH"
	},
}

func envNames(out string, added func(string) bool) []string {
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, _, ok := strings.Cut(l, "="); ok && !shellAdded[k] && !added(k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

func planEnvNames(t *testing.T, planJSON string) []string {
	t.Helper()
	var out struct {
		Backend string          `json:"backend"`
		Plan    json.RawMessage `json:"plan"`
	}
	if err := json.Unmarshal([]byte(planJSON), &out); err != nil || out.Backend == "" {
		t.Fatalf("--json: want {backend, plan}: %v\n%s", err, planJSON)
	}
	p, err := plan.Decode(bytes.NewReader(out.Plan))
	if err != nil {
		t.Fatalf("--json: %v", err)
	}
	return p.EnvNames()
}

// TestE2EDiagnostics runs the checks a user runs to see that a launch is
// sound (launch shell -- bash probe.sh, NICHD-style) on the Debian image:
// the environment is there, the credential paths are mounted, the workspace
// is writable, and every PATH entry exists.
func TestE2EDiagnostics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		s.write(filepath.Join(s.home, ".codex", "auth.json"), "{}")
		s.write(filepath.Join(s.ws, "probe.sh"), `set -u
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
check "HOME is the image user's home" '[ "$HOME" = /home/devuser ]'
check "TOOL names the agent" '[ "$TOOL" = shell ]'
check "HOST_MOUNT_DIR is the workspace" '[ "$HOST_MOUNT_DIR" = "$PWD" ]'
check "codex credentials mounted" '[ -f "$HOME/.codex/auth.json" ]'
check "claude credentials mounted" '[ -d "$HOME/.claude" ] && [ -f "$HOME/.claude.json" ]'
check "home writable" 'touch "$HOME/.probe" && rm "$HOME/.probe"'
check "workspace writable" 'touch probe.out && rm probe.out'
check "PATH has no empty entry" 'case ":$PATH:" in *::*) false;; *) true;; esac'
IFS=:; for d in $PATH; do check "PATH entry $d exists" '[ -d "$d" ]'; done; unset IFS
check "bash is bash" '[ -n "${BASH_VERSION:-}" ]'
exit $fail
`)
		args := append(append([]string{}, s.backend.debian...), "--yes", "shell", "--", "bash", "probe.sh")
		c := s.command(s.bin, args...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("diagnostics failed: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "FAIL") || !strings.Contains(string(out), "ok   bash is bash") {
			t.Errorf("diagnostics:\n%s", out)
		}
	})
}
