//go:build integration

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The least-privilege and limits checks of issue 11, on the real engines,
// through the launch binary as an ordinary user: what the agent's own
// /proc/self/status and cgroup say, what a setuid binary does, and what
// launch reports when a limit stops the agent.

// setuidImage is launch-test/setuid:latest from .ci/docker.sh: Debian with
// /usr/local/bin/suid-id, a setuid-root copy of coreutils' id.
const setuidImage = "launch-test/setuid:latest"

// statusProbe prints the agent's capability sets and no_new_privs.
const statusProbe = `grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status`

// privilegeBackends are the engines whose privileges are checked: Docker
// with runc and with runsc (gVisor), rootless Podman, and Apptainer.
func privilegeBackends() []e2eBackend {
	docker, pod, sing := backendNamed(backendDocker), backendNamed(backendPodman), backendNamed(backendSingularity)
	runsc := docker
	runsc.name = "docker-runsc"
	runsc.flags = append(append([]string{}, docker.flags...), "--runtime", "runsc")
	runsc.debian = append(append([]string{}, docker.debian...), "--runtime", "runsc")
	ready := docker.ready
	runsc.ready = func() error {
		if err := ready(); err != nil {
			return err
		}
		out, err := exec.Command("docker", "info", "--format", "{{json .Runtimes}}").Output()
		if err != nil || !strings.Contains(string(out), `"runsc"`) {
			return fmt.Errorf("dockerd has no runsc runtime (run .ci/docker.sh): %v %s", err, out)
		}
		return nil
	}
	return []e2eBackend{docker, runsc, pod, sing}
}

func forEachPrivilegeBackend(t *testing.T, f func(t *testing.T, s *session)) {
	for _, b := range privilegeBackends() {
		t.Run(string(b.name), func(t *testing.T) { f(t, newSession(t, b)) })
	}
}

func statusOf(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

const noCaps = "0000000000000000"

// TestE2ELeastPrivilegeByDefault: the agent holds no capability (effective
// and bounding sets empty) and no_new_privs is set.
func TestE2ELeastPrivilegeByDefault(t *testing.T) {
	forEachPrivilegeBackend(t, func(t *testing.T, s *session) {
		out, errOut, code := s.run("", "--yes", "shell", statusProbe)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		st := statusOf(out)
		if st["CapEff"] != noCaps || st["CapBnd"] != noCaps || st["NoNewPrivs"] != "1" {
			t.Errorf("want empty CapEff and CapBnd and NoNewPrivs 1, got:\n%s", out)
		}
		// A capability added back by name is there, and only it.
		out, errOut, code = s.run("", "--yes", "--cap-add", "NET_BIND_SERVICE", "shell", statusProbe)
		if code != 0 {
			t.Fatalf("--cap-add: exit %d: %s", code, errOut)
		}
		if st := statusOf(out); st["CapBnd"] != "0000000000000400" || st["NoNewPrivs"] != "1" {
			t.Errorf("--cap-add NET_BIND_SERVICE: want CapBnd 0x400 (bit 10 only) and NoNewPrivs 1, got:\n%s", out)
		}
	})
}

// TestE2ESetuidDoesNotRaise: a setuid-root binary of the image runs with
// the caller's rights by default; with --privileges image it raises them
// (Docker), and Apptainer refuses the opt-out for an ordinary user.
func TestE2ESetuidDoesNotRaise(t *testing.T) {
	for _, b := range privilegeBackends() {
		t.Run(string(b.name), func(t *testing.T) {
			s := newSession(t, b)
			switch b.name {
			case backendSingularity:
				s.backend.flags = []string{"--backend", "singularity", "--sif-path", setuidSandbox(t)}
			case backendPodman:
				// .ci/podman.sh loads it from dockerd's store.
				s.backend.flags = append(append([]string{}, s.backend.flags...), "--image", "localhost/"+setuidImage)
			default:
				if err := exec.Command("docker", "image", "inspect", setuidImage).Run(); err != nil {
					need(t, fmt.Errorf("image %s missing (run .ci/docker.sh): %v", setuidImage, err))
				}
				s.backend.flags = append(append([]string{}, s.backend.flags...), "--image", setuidImage)
			}
			out, errOut, code := s.run("", "--yes", "shell", "/usr/local/bin/suid-id")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Contains(out, "euid=0") {
				t.Errorf("a setuid binary raised privileges by default: %s", out)
			}
			out, errOut, code = s.run("", "--yes", "--privileges", "image", "shell", "/usr/local/bin/suid-id; "+statusProbe)
			if b.name == backendSingularity {
				if code != 2 || !strings.Contains(errOut, "privileges image: not supported by the singularity backend for an unprivileged user") {
					t.Errorf("--privileges image as an ordinary user on apptainer: exit %d, %s; want exit 2 and the reason", code, errOut)
				}
				return
			}
			if code != 0 {
				t.Fatalf("--privileges image: exit %d: %s", code, errOut)
			}
			if statusOf(out)["NoNewPrivs"] != "0" || statusOf(out)["CapBnd"] == noCaps {
				t.Errorf("--privileges image: want NoNewPrivs 0 and the engine's capabilities:\n%s", out)
			}
			// gVisor does not honour the setuid bit of an image file even
			// without no_new_privs (runsc of .ci/docker.sh): there the
			// opt-out gives back the capabilities only (docs/security.md).
			if raised := strings.Contains(out, "euid=0(root)"); b.name == "docker-runsc" {
				t.Logf("runsc, --privileges image: setuid raised privileges: %v", raised)
			} else if !raised {
				t.Errorf("--privileges image: the setuid binary did not raise privileges (want euid=0):\n%s", out)
			}
		})
	}
}

// setuidSandbox builds an Apptainer sandbox from the Debian tree with a
// setuid-root copy of id, as launch-test/setuid has.
func setuidSandbox(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		need(t, fmt.Errorf("building a setuid sandbox needs root"))
	}
	src := filepath.Join(ciImages, "debian")
	if _, err := os.Stat(filepath.Join(src, ".complete")); err != nil {
		need(t, fmt.Errorf("no Debian tree at %s (run .ci/rootfs.sh): %v", src, err))
	}
	// Not under t.TempDir, whose parent only root may enter.
	root, err := os.MkdirTemp("", "launch-suid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "setuid.sandbox")
	if out, err := exec.Command("cp", "-a", src, dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if out, err := exec.Command("install", "-o", "0", "-g", "0", "-m", "4755", filepath.Join(src, "usr/bin/id"), filepath.Join(dir, "usr/local/bin/suid-id")).CombinedOutput(); err != nil {
		t.Fatalf("install: %v: %s", err, out)
	}
	return dir
}

// TestE2ERootApptainer: launch run by root on Apptainer renders --no-privs:
// the agent is root without capabilities; --privileges image keeps them.
func TestE2ERootApptainer(t *testing.T) {
	s := newSession(t, backendNamed(backendSingularity))
	s.cred = nil // root itself
	out, errOut, code := s.run("", "--yes", "shell", statusProbe)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if st := statusOf(out); st["CapEff"] != noCaps || st["CapBnd"] != noCaps || st["NoNewPrivs"] != "1" {
		t.Errorf("root, default: want no capabilities and NoNewPrivs 1:\n%s", out)
	}
	out, errOut, code = s.run("", "--yes", "--privileges", "image", "shell", statusProbe)
	if code != 0 {
		t.Fatalf("--privileges image: exit %d: %s", code, errOut)
	}
	if st := statusOf(out); st["CapEff"] == noCaps {
		t.Errorf("root, --privileges image: want root's capabilities:\n%s", out)
	}
}

// cgroupFile prints the first of the cgroup v1 and v2 files that exists.
func cgroupFile(v1, v2 string) string {
	return fmt.Sprintf("cat /sys/fs/cgroup/%s 2>/dev/null || cat /sys/fs/cgroup/%s", v1, v2)
}

// TestE2ELimits: on Docker (runc and runsc) the limits are in the
// container's cgroup; an allocation past the memory limit is killed and
// launch says why (exit 137); a fork bomb stops at the pids limit, quickly.
func TestE2ELimits(t *testing.T) {
	for _, b := range privilegeBackends()[:2] {
		t.Run(string(b.name), func(t *testing.T) {
			s := newSession(t, b)
			out, errOut, code := s.run("", "--yes", "--memory", "64m", "--cpus", "0.5", "--pids", "64", "shell",
				cgroupFile("memory/memory.limit_in_bytes", "memory.max")+"; "+cgroupFile("cpu/cpu.cfs_quota_us", "cpu.max"))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if f := strings.Fields(out); len(f) < 2 || f[0] != "67108864" || f[1] != "50000" {
				t.Errorf("cgroup: want memory 67108864 and a cpu quota of 50000, got %q", out)
			}

			_, errOut, code = s.run("", "--yes", "--memory", "64m", "shell", `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo ${#x}`)
			if code != 137 || !strings.Contains(errOut, "exit 137") || !strings.Contains(errOut, "memory limit of 64m") {
				t.Errorf("allocating past --memory 64m: exit %d, stderr %q; want 137 and a note naming the limit", code, errOut)
			}

			bomb := `i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; echo all-started`
			start := time.Now()
			out, _, code = s.run("", "--yes", "--pids", "64", "shell", bomb)
			if code == 0 || strings.Contains(out, "all-started") {
				t.Errorf("--pids 64: 200 processes started (exit %d, %q)", code, out)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("the fork bomb took %s to stop", d)
			}
			if err := exec.Command("true").Run(); err != nil {
				t.Errorf("the host cannot start a process after the bomb: %v", err)
			}
			out, errOut, code = s.run("", "--yes", "--pids", "512", "shell", bomb)
			if code != 0 || !strings.Contains(out, "all-started") {
				t.Errorf("--pids 512: the control did not start 200 processes: exit %d %q %s", code, out, errOut)
			}
			if b.name == backendDocker {
				// gVisor keeps its own cgroup view; runc shows the host's.
				out, _, _ = s.run("", "--yes", "shell", cgroupFile("pids/pids.max", "pids.max"))
				if strings.TrimSpace(out) != "4096" {
					t.Errorf("default pids limit: cgroup says %q, want 4096", out)
				}
			}
		})
	}
}

// TestE2EApptainerLimitsRefused: where Apptainer cannot apply limits (an
// ordinary user on a cgroup v1 host, or without systemd), a limit someone
// asked for is refused with the Slurm alternative, and a default launch
// goes ahead without the default pids limit, saying so with --verbose.
func TestE2EApptainerLimitsRefused(t *testing.T) {
	s := newSession(t, backendNamed(backendSingularity))
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: apptainer may apply limits")
	}
	_, errOut, code := s.run("", "--yes", "--memory", "64m", "shell", "true")
	if code != 2 || !strings.Contains(errOut, "apptainer cannot apply resource limits here") || !strings.Contains(errOut, "Slurm") {
		t.Errorf("--memory on apptainer: exit %d, %q; want 2 and the reason with the Slurm alternative", code, errOut)
	}
	_, errOut, code = s.run("", "--yes", "--verbose", "shell", "true")
	if code != 0 || !strings.Contains(errOut, "default limit of 4096 processes is not applied") {
		t.Errorf("default launch: exit %d, %q; want it to run and say the pids limit is not applied", code, errOut)
	}
}

// TestE2EWorkspaceHome: launch from the home directory is refused unless
// --allow-secrets, and then the preview names what is exposed.
func TestE2EWorkspaceHome(t *testing.T) {
	s := newSession(t, backendNamed(backendDocker))
	s.write(filepath.Join(s.home, ".ssh", "id_ed25519"), "key")
	c := s.cmd("--dry-run", "shell", "true")
	c.Dir = s.home
	out, err := c.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "is your home directory") {
		t.Errorf("launch from $HOME: %v\n%s", err, out)
	}
	c = s.cmd("--dry-run", "--allow-secrets", "shell", "true")
	c.Dir = s.home
	out, err = c.CombinedOutput()
	if err != nil || !strings.Contains(string(out), filepath.Join(s.home, ".ssh")) {
		t.Errorf("launch --allow-secrets from $HOME: %v\n%s", err, out)
	}
}
