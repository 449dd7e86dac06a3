//go:build integration

package podman

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

// debianTree is the Debian tree that .ci/rootfs.sh builds.
const debianTree = "/var/cache/launch-ci/debian"

// importSetuid makes ref from the Debian tree plus /usr/local/bin/suid-id,
// a setuid-root copy of coreutils' id (as .ci/docker.sh's
// launch-test/setuid), with no registry.
func importSetuid(t *testing.T, env []string, ref string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(debianTree, ".complete")); err != nil {
		unavailable(t, "no Debian tree at %s: run .ci/rootfs.sh", debianTree)
	}
	extra := t.TempDir()
	if out, err := exec.Command("install", "-D", "-o", "0", "-g", "0", "-m", "4755", filepath.Join(debianTree, "usr/bin/id"), filepath.Join(extra, "usr/local/bin/suid-id")).CombinedOutput(); err != nil {
		t.Fatalf("install: %v: %s", err, out)
	}
	cmd := exec.Command("sh", "-c", `tar -C "$1" --exclude ./.complete -c . -C "$2" ./usr/local/bin/suid-id | podman import - "$3"`, "sh", debianTree, extra, ref)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("podman import: %v\n%s", err, out)
	}
}

// TestRootfulPrivilegesAndLimits carries out the printed `podman run` and
// the spec over the API on a rootful service: by default the agent has no
// capabilities, no_new_privs, a setuid binary that does not raise, and the
// limits in its cgroup; with plan.PrivilegesImage the setuid binary raises.
func TestRootfulPrivilegesAndLimits(t *testing.T) {
	env := podmanEnv(t)
	const image = "localhost/launch-setuid:it"
	importSetuid(t, env, image)
	ws := t.TempDir()
	probe := `/usr/local/bin/suid-id; grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; ` +
		`echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max); ` +
		`echo pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max); ` +
		`echo cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max)`
	base := plan.Plan{
		Agent: "shell", Image: plan.Image{OCI: image}, Argv: []string{"/bin/sh", "-c", probe},
		Workdir: ws, Workspace: ws,
		User:       plan.User{UID: 1000, GID: 1000, Name: "devuser", Home: "/home/devuser"},
		Caller:     plan.Caller{UID: 1000, GID: 1000},
		Mounts:     []plan.Mount{{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace}},
		Network:    plan.Network{Mode: plan.NetworkNone},
		Privileges: plan.DefaultPrivileges(),
		Limits:     plan.Limits{Memory: 64 << 20, MilliCPUs: 500, PIDs: 64},
	}
	runBoth := func(t *testing.T, p plan.Plan, run string) map[string]string {
		r, err := Render(p, Config{Rootless: false, Name: fmt.Sprintf("launch-it-%d-%s", os.Getpid(), run)})
		if err != nil {
			t.Fatal(err)
		}
		sh := exec.Command("sh", "-c", r.Snippet())
		sh.Env = env
		var out, errb bytes.Buffer
		sh.Stdout, sh.Stderr = &out, &errb
		if err := sh.Run(); err != nil {
			t.Fatalf("printed command: %v\n%s\n%s", err, errb.String(), r.Snippet())
		}
		// The same spec over the API must give the same container.
		api := renderAndRunAPI(t, env, p, run+"-api")
		if api != out.String() {
			t.Errorf("printed command and API differ:\n--- printed\n%s--- api\n%s", out.String(), api)
		}
		got := map[string]string{"id": strings.SplitN(out.String(), "\n", 2)[0]}
		for _, line := range strings.Split(out.String(), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				got[k] = strings.TrimSpace(v)
			} else if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "uid=") {
				got[k] = v
			}
		}
		return got
	}
	t.Run("least", func(t *testing.T) {
		got := runBoth(t, base, "least")
		want := map[string]string{"CapEff": "0000000000000000", "CapBnd": "0000000000000000", "NoNewPrivs": "1", "mem": "67108864", "pids": "64", "cpu": "50000"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q (%v)", k, got[k], v, got)
			}
		}
		if strings.Contains(got["id"], "euid=0") {
			t.Errorf("the setuid binary raised privileges: %s", got["id"])
		}
	})
	t.Run("image", func(t *testing.T) {
		p := base
		p.Privileges = plan.PrivilegesOf(plan.PrivilegesImage, nil)
		got := runBoth(t, p, "image")
		if !strings.Contains(got["id"], "euid=0(root)") || got["NoNewPrivs"] != "0" || got["CapBnd"] == "0000000000000000" {
			t.Errorf("privileges image: want euid=0, NoNewPrivs 0 and podman's capabilities: %v", got)
		}
	})
}

// renderAndRunAPI creates the rendered spec over the libpod API, starts it
// attached with the CLI (the executor is another issue) and returns stdout.
func renderAndRunAPI(t *testing.T, env []string, p plan.Plan, run string) string {
	t.Helper()
	r, err := Render(p, Config{Rootless: false, Name: fmt.Sprintf("launch-it-%d-%s", os.Getpid(), run)})
	if err != nil {
		t.Fatal(err)
	}
	sock := serve(t, env)
	id := create(t, sock, r)
	cmd := exec.Command("podman", "start", "--attach", id)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	// Spec.Remove has the service remove the container once it exits; make
	// sure it is gone (its shm mount with it) before the service stops.
	if out, err := podman(env, "rm", "-f", "--ignore", id); err != nil {
		t.Errorf("podman rm: %v\n%s", err, out)
	}
	if err != nil {
		t.Fatalf("podman start: %v\n%s", err, errb.String())
	}
	return out.String()
}
