//go:build integration

package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/plan"
)

// rootfs is the busybox tree that .ci/rootfs.sh builds.
const rootfs = "/var/cache/launch-ci/busybox"

// unavailable skips the test with reason, or fails it when
// LAUNCH_REQUIRE_ENGINES=1 (CI), so that a missing engine cannot pass
// unnoticed.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv("LAUNCH_REQUIRE_ENGINES") == "1" {
		t.Fatalf("%s (LAUNCH_REQUIRE_ENGINES=1)", reason)
	}
	t.Skip(reason)
}

// podmanEnv sets up a private, rootful Podman for one test: its own
// containers.conf (runc, cgroupfs, file events, ulimits within this
// process's hard limits) and its own vfs storage and state under t.TempDir,
// so that nothing under /etc or /var/lib is touched and other users of
// podman on the machine neither see our image nor are disturbed by it; the
// directory goes with the test. It returns the environment to run
// podman with.
func podmanEnv(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		unavailable(t, "podman is not installed")
	}
	if os.Geteuid() != 0 {
		unavailable(t, "this test drives a rootful podman and needs root")
	}
	if _, err := os.Stat(filepath.Join(rootfs, "bin", "busybox")); err != nil {
		unavailable(t, "no busybox rootfs at %s: run .ci/rootfs.sh", rootfs)
	}
	dir := t.TempDir()
	limit := func(resource int) uint64 {
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(resource, &rl); err != nil || rl.Max > 1024 {
			return 1024
		}
		return rl.Max
	}
	const rlimitNproc = 6 // RLIMIT_NPROC on Linux; syscall lacks the name
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=%[1]d:%[1]d", "nproc=%[2]d:%[2]d"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %[3]q
tmp_dir = %[4]q
`, limit(syscall.RLIMIT_NOFILE), limit(rlimitNproc), filepath.Join(dir, "events.log"), filepath.Join(dir, "libpod"))
	storage := fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	write(t, filepath.Join(dir, "containers.conf"), conf)
	write(t, filepath.Join(dir, "storage.conf"), storage)
	env := append(os.Environ(),
		"CONTAINERS_CONF="+filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(dir, "storage.conf"),
		"TMPDIR="+dir,
	)
	if out, err := podman(env, "info", "--format", "{{.Host.Security.Rootless}}"); err != nil {
		unavailable(t, "podman does not work here: %v\n%s", err, out)
	}
	return env
}

func podman(env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("podman", args...)
	cmd.Env = env
	return cmd.CombinedOutput()
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// importBusybox makes the image ref from the busybox tree, with no registry.
func importBusybox(t *testing.T, env []string, ref string) {
	t.Helper()
	tar := exec.Command("tar", "-C", rootfs, "-c", ".")
	imp := exec.Command("podman", "import", "-", ref)
	imp.Env = env
	pipe, err := tar.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = pipe
	var out bytes.Buffer
	imp.Stdout, imp.Stderr = &out, &out
	if err := tar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := imp.Run(); err != nil {
		t.Fatalf("podman import: %v\n%s", err, out.String())
	}
	if err := tar.Wait(); err != nil {
		t.Fatalf("tar: %v", err)
	}
}

// TestRootful renders one plan for a rootful service and carries it out
// twice on the real engine: the printed snippet run as printed with sh, and
// the spec sent to the Podman service's API. Both containers must see the
// plan's environment (an inherited value, a constant one with quotes),
// mounts (read-write, read-only, a masked directory, a masked file), no
// network and the plan's user, and both must be removed when they exit.
func TestRootful(t *testing.T) {
	env := podmanEnv(t)
	const image = "localhost/launch-busybox:it"
	importBusybox(t, env, image)

	// Awkward names on purpose: a space and both kinds of quote must survive
	// the shell, podman's --mount CSV and the bind.
	host := t.TempDir()
	ws := filepath.Join(host, `my "work" it's`)
	write(t, filepath.Join(ws, "docs", "readme"), "docs\n")
	write(t, filepath.Join(ws, "secrets", "key"), "hidden-dir-content\n")
	write(t, filepath.Join(ws, ".env"), "hidden-file-content\n")
	write(t, filepath.Join(host, "ref", "data"), "ref\n")
	// The container user is 1000: let it write the workspace.
	if err := os.Chmod(ws, 0o777); err != nil {
		t.Fatal(err)
	}
	prepared := filepath.Join(host, "state", ".codex")

	const secret = `s3cret value with 'quotes'`
	env = append(env, "LAUNCH_IT_SECRET="+secret)

	script := strings.Join([]string{
		`echo "uid=$(id -u)"`,
		`echo "gid=$(id -g)"`,
		`echo "pwd=$(pwd)"`,
		`echo "msg=$MSG"`,
		`echo "secret=$LAUNCH_IT_SECRET"`,
		`echo "home=$HOME"`,
		`echo "docs=$(cat docs/readme)"`,
		`echo "ref=$(cat /ref/data)"`,
		`touch docs/new 2>/dev/null && echo docs-writable=yes || echo docs-writable=no`,
		`touch /ref/new 2>/dev/null && echo ref-writable=yes || echo ref-writable=no`,
		`touch "written-$RUN" && echo ws-writable=yes || echo ws-writable=no`,
		`echo "secrets=[$(ls -A secrets)]"`,
		`touch secrets/new 2>/dev/null && echo secrets-writable=yes || echo secrets-writable=no`,
		`echo "envfile=[$(cat .env)]"`,
		`echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ' ')"`,
		`echo "proxy=[$http_proxy$HTTP_PROXY]"`,
	}, "; ")
	base := plan.Plan{
		Agent:     "shell",
		Image:     plan.Image{OCI: image},
		Argv:      []string{"/bin/sh", "-c", script},
		Workdir:   ws,
		Workspace: ws,
		User:      plan.User{UID: 1000, GID: 1000, Name: "devuser", Home: "/home/devuser"},
		// The caller is the image user: the agent runs as 1000:1000 (see
		// TestRootfulCaller for a caller who is not).
		Caller: plan.Caller{UID: 1000, GID: 1000},
		Mounts: []plan.Mount{
			{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace},
			{Kind: plan.MountBind, Source: filepath.Join(host, "ref"), Target: "/ref", ReadOnly: true, Origin: plan.OriginUser},
			{Kind: plan.MountBind, Source: filepath.Join(ws, "docs"), Target: filepath.Join(ws, "docs"), ReadOnly: true, Origin: plan.OriginReadOnly},
			{Kind: plan.MountMask, Target: filepath.Join(ws, "secrets"), ReadOnly: true, Origin: plan.OriginMask},
			{Kind: plan.MountMask, Target: filepath.Join(ws, ".env"), ReadOnly: true, File: true, Origin: plan.OriginMask},
		},
		Network: plan.Network{Mode: plan.NetworkNone},
		Prepare: []plan.HostPath{{Path: prepared, Dir: true}},
	}
	render := func(t *testing.T, run string) (plan.Plan, Rendered) {
		p := base
		p.Env = []plan.EnvVar{
			{Name: "HOME", Value: "/home/devuser"},
			{Name: "LAUNCH_IT_SECRET", Value: secret, FromHost: true},
			{Name: "MSG", Value: `it's a "$HOME" test`},
			{Name: "RUN", Value: run},
		}
		r, err := Render(p, Config{Rootless: false, Name: fmt.Sprintf("launch-it-%d-%s", os.Getpid(), run)})
		if err != nil {
			t.Fatal(err)
		}
		return p, r
	}
	check := func(t *testing.T, p plan.Plan, run, stdout string) {
		t.Helper()
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			k, v, _ := strings.Cut(line, "=")
			got[k] = v
		}
		want := map[string]string{
			"uid":              "1000",
			"gid":              "1000",
			"pwd":              ws,
			"msg":              `it's a "$HOME" test`,
			"secret":           secret,
			"home":             "/home/devuser",
			"docs":             "docs",
			"ref":              "ref",
			"docs-writable":    "no",
			"ref-writable":     "no",
			"ws-writable":      "yes",
			"secrets":          "[]",
			"secrets-writable": "no",
			"envfile":          "[]",
			"ifaces":           "lo ",
			"proxy":            "[]",
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s = %q, want %q", k, got[k], w)
			}
		}
		written := filepath.Join(ws, "written-"+run)
		if fi, err := os.Stat(written); err != nil {
			t.Errorf("the container's write to the workspace is missing on the host: %v", err)
		} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("the container's file is owned by %d:%d on the host, want 1000:1000", st.Uid, st.Gid)
		}
		if b, _ := os.ReadFile(filepath.Join(ws, ".env")); string(b) != "hidden-file-content\n" {
			t.Errorf("the masked file changed on the host: %q", b)
		}
		// --rm (Spec.Remove): nothing is left behind.
		out, err := podman(env, "ps", "-a", "--filter", "label="+naming.LabelPlan+"="+p.Hash(), "--format", "{{.ID}}")
		if err != nil {
			t.Fatalf("podman ps: %v\n%s", err, out)
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("containers left behind: %s", s)
		}
	}

	t.Run("snippet", func(t *testing.T) {
		p, r := render(t, "snippet")
		snippet := r.Snippet()
		if strings.Contains(snippet, secret) {
			t.Fatalf("the snippet prints the inherited value:\n%s", snippet)
		}
		sh := exec.Command("sh", "-c", snippet)
		// http_proxy in podman's own environment must not reach the container.
		sh.Env = append(env, "http_proxy=http://leak.invalid:1")
		var stdout, stderr bytes.Buffer
		sh.Stdout, sh.Stderr = &stdout, &stderr
		if err := sh.Run(); err != nil {
			t.Fatalf("snippet: %v\nstderr:\n%s\nsnippet:\n%s", err, stderr.String(), snippet)
		}
		check(t, p, "snippet", stdout.String())
		if fi, err := os.Stat(prepared); err != nil || !fi.IsDir() {
			t.Errorf("the snippet did not create %s: %v", prepared, err)
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s\nsnippet:\n%s", stdout.String(), stderr.String(), snippet)
		}
	})

	t.Run("spec over the API", func(t *testing.T) {
		p, r := render(t, "api")
		// A proxy in the service's environment must not reach the container.
		sock := serve(t, append(env, "http_proxy=http://leak.invalid:1"))
		id := create(t, sock, r)
		// Start and attach with the CLI: the executor that does this over
		// the API is a later issue.
		cmd := exec.Command("podman", "start", "--attach", id)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("podman start: %v\n%s", err, stderr.String())
		}
		check(t, p, "api", stdout.String())
		if t.Failed() {
			spec, _ := json.MarshalIndent(r.Spec, "", "  ")
			t.Logf("stdout:\n%s\nstderr:\n%s\nspec:\n%s", stdout.String(), stderr.String(), spec)
		}
	})
}

// serve starts `podman system service` on a socket of its own, stopped when
// the test ends, and returns the socket's path once the service answers.
func serve(t *testing.T, env []string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "podman.sock")
	cmd := exec.Command("podman", "system", "service", "--time=0", "unix://"+sock)
	cmd.Env = env
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	c := client(sock)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := c.Get("http://d/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return sock
			}
		}
	}
	t.Fatalf("podman system service did not answer on %s:\n%s", sock, logs.String())
	return ""
}

func client(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
}

// create posts r.Spec to the libpod API (v4.0.0, the oldest the service
// serves: Debian's podman is 4.3) and returns the new container's id.
func create(t *testing.T, sock string, r Rendered) string {
	t.Helper()
	body, err := json.Marshal(r.Spec)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client(sock).Post("http://d/v4.0.0/libpod/containers/create", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID      string `json:"Id"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("create: status %s: %v", resp.Status, err)
	}
	if resp.StatusCode != http.StatusCreated || out.ID == "" {
		t.Fatalf("create: status %s: %s", resp.Status, out.Message)
	}
	return out.ID
}

// TestRootfulCaller carries out, on a real rootful service, the identity
// rule for a caller who is not the image user: root runs the agent as 0:0
// with the image's home; anyone else runs it as themselves, with a private,
// empty, writable tmpfs home that they own (podman's U option), and what
// the agent writes in the workspace is theirs on the host.
func TestRootfulCaller(t *testing.T) {
	env := podmanEnv(t)
	const image = "localhost/launch-busybox:caller"
	importBusybox(t, env, image)
	script := strings.Join([]string{
		`echo "id=$(id -u):$(id -g)"`,
		`echo "home=$(stat -c '%u:%g' "$HOME" 2>&1)"`,
		`echo "homefiles=[$(ls -A "$HOME" 2>&1)]"`,
		`touch "$HOME/x" && echo home-writable=yes || echo home-writable=no`,
		`touch ws-file && echo ws-writable=yes || echo ws-writable=no`,
	}, "; ")
	for _, tt := range []struct {
		name   string
		caller plan.Caller
		want   map[string]string
		owner  string // of the file the agent wrote in the workspace
	}{
		{
			name:   "other caller",
			caller: plan.Caller{UID: 4321, GID: 4322},
			want:   map[string]string{"id": "4321:4322", "home": "4321:4322", "homefiles": "[]", "home-writable": "yes", "ws-writable": "yes"},
			owner:  "4321:4322",
		},
		{
			name:   "root caller",
			caller: plan.Caller{},
			want:   map[string]string{"id": "0:0", "home-writable": "yes", "ws-writable": "yes"},
			owner:  "0:0",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ws := t.TempDir()
			if err := os.Chmod(ws, 0o777); err != nil {
				t.Fatal(err)
			}
			p := plan.Plan{
				Agent:     "shell",
				Image:     plan.Image{OCI: image},
				Argv:      []string{"/bin/sh", "-c", script},
				Workdir:   ws,
				Workspace: ws,
				// The busybox image has /home/devuser (0755, 1000:1000):
				// root keeps it; the tmpfs over it takes its mode (runc
				// keeps the mode of a directory the image has) and the
				// caller's ids (U).
				User:    plan.User{UID: 1000, GID: 1000, Name: "devuser", Home: "/home/devuser"},
				Caller:  tt.caller,
				Mounts:  []plan.Mount{{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace}},
				Env:     []plan.EnvVar{{Name: "HOME", Value: "/home/devuser"}},
				Network: plan.Network{Mode: plan.NetworkNone},
			}
			r, err := Render(p, Config{Rootless: false})
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "-c", r.Snippet())
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("snippet: %v\n%s\n%s", err, stderr.String(), r.Snippet())
			}
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
				k, v, _ := strings.Cut(line, "=")
				got[k] = v
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q", k, got[k], w)
				}
			}
			if fi, err := os.Stat(filepath.Join(ws, "ws-file")); err != nil {
				t.Errorf("the agent's file is missing on the host: %v", err)
			} else if st := fi.Sys().(*syscall.Stat_t); fmt.Sprintf("%d:%d", st.Uid, st.Gid) != tt.owner {
				t.Errorf("the agent's file is owned by %d:%d on the host, want %s", st.Uid, st.Gid, tt.owner)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s\nsnippet:\n%s\nnotes: %q", stdout.String(), stderr.String(), r.Snippet(), r.Notes())
			}
		})
	}
}
