//go:build integration

package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EDockerPermissionDenied: an ordinary user outside the docker group
// hears "permission denied" and the group fix from a launch and from
// launch doctor, not "start dockerd"; and the automatic backend choice
// passes over that Docker to a Podman on PATH, saying so (issue 26).
func TestE2EDockerPermissionDenied(t *testing.T) {
	s := newSession(t, backendNamed(backendDocker))
	if s.cred == nil {
		need(t, errors.New("run as root: the test runs launch as uid 1000 against sockets that only root may use"))
	}
	s.cred.Groups = nil // outside the docker group
	// A socket that exists, owned by root with mode 0600, that listens.
	dir, err := os.MkdirTemp("", "launch-denied-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := os.Chmod(sock, 0o600); err != nil {
		t.Fatal(err)
	}
	baseEnv := s.env
	check := func(t *testing.T, what, errs string) {
		t.Helper()
		for _, w := range []string{"permission denied", "sudo usermod -aG docker $USER", "rootless Podman"} {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: output lacks %q:\n%s", what, w, errs)
			}
		}
		if strings.Contains(errs, "start dockerd") {
			t.Errorf("%s: says start dockerd, though the engine runs:\n%s", what, errs)
		}
	}
	sockets := map[string][]string{
		"own-socket": {"DOCKER_HOST=unix://" + sock},
		// The real dockerd's socket, root:docker 0660 on a usual install.
		"dockerd-socket": nil,
	}
	for name, env := range sockets {
		t.Run(name, func(t *testing.T) {
			s.env = append(append([]string{}, baseEnv...), env...)
			if name == "dockerd-socket" {
				fi, err := os.Stat("/var/run/docker.sock")
				if err != nil || fi.Mode().Perm()&0o006 != 0 {
					need(t, errors.New("/var/run/docker.sock is missing or open to all users"))
				}
			}
			_, errs, code := runAs(t, s, "--backend", "docker", "--yes", "shell", "true")
			if code != 125 {
				t.Errorf("launch: exit %d, want 125", code)
			}
			check(t, "launch", errs)
			out, _, code := runAs(t, s, "--backend", "docker", "doctor")
			if code == 0 {
				t.Errorf("launch doctor: exit 0 with an unusable docker")
			}
			check(t, "launch doctor", out)
		})
	}
	t.Run("automatic-choice", func(t *testing.T) {
		podman, err := exec.LookPath("podman")
		if err != nil {
			need(t, err)
		}
		bin := filepath.Join(dir, "bin")
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(podman, filepath.Join(bin, "podman")); err != nil {
			t.Fatal(err)
		}
		// No apptainer on this PATH, which the choice would take first.
		s.env = append(append([]string{}, baseEnv...), "DOCKER_HOST=unix://"+sock, "PATH="+bin)
		out, errs, code := runAs(t, s, "--json", "shell", "true")
		if code != 0 || !strings.Contains(out, `"backend": "podman"`) {
			t.Fatalf("launch --json: exit %d, stdout %.200q, stderr %q; want the podman backend", code, out, errs)
		}
		for _, w := range []string{"backend podman", "unix://" + sock, "permission denied", "usermod -aG docker"} {
			if !strings.Contains(errs, w) {
				t.Errorf("stderr lacks %q (why podman):\n%s", w, errs)
			}
		}
	})
}

// runAs runs launch with args alone (not the backend's flags) as the
// session's user.
func runAs(t *testing.T, s *session, args ...string) (string, string, int) {
	t.Helper()
	c := s.command(s.bin, args...)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}
