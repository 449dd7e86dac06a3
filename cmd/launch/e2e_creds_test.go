//go:build integration

package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// codexLogin is a Codex auth.json whose access token expires at exp.
func codexLogin(exp time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, exp.Unix())))
	return fmt.Sprintf(`{"tokens":{"access_token":"eyJhbGciOiJub25lIn0.%s.c2ln","refresh_token":"r","account_id":"a"}}`, payload)
}

// TestE2EExpiryWarning: before a real launch, a Codex token that expires in
// 10 minutes is named with its fix; one that expires in a day is not.
func TestE2EExpiryWarning(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		auth := filepath.Join(s.home, ".codex", "auth.json")
		s.write(auth, codexLogin(time.Now().Add(10*time.Minute)))
		_, errOut, code := s.run("", "--yes", "shell", "true")
		want := "launch: warning: " + auth + " (Codex login (ChatGPT)) expires in "
		if code != 0 || !strings.Contains(errOut, want+"9m") && !strings.Contains(errOut, want+"10m") || !strings.Contains(errOut, "renew it with: launch refresh --kind codex") {
			t.Errorf("token expiring in 10 minutes: exit %d, stderr:\n%s\nwant %q and the fix", code, errOut, want)
		}
		s.write(auth, codexLogin(time.Now().Add(24*time.Hour)))
		_, errOut, code = s.run("", "--yes", "shell", "true")
		if code != 0 || strings.Contains(errOut, "warning") {
			t.Errorf("token expiring in a day: exit %d, stderr:\n%s\nwant no warning", code, errOut)
		}
		// A dry run is no launch: no warning there either.
		s.write(auth, codexLogin(time.Now().Add(10*time.Minute)))
		if _, errOut, _ = s.run("", "--dry-run", "shell", "true"); strings.Contains(errOut, "expires") {
			t.Errorf("dry run warns: %s", errOut)
		}
	})
}

// doctorRun runs the launch binary's doctor as the session's user, with
// env added, and returns stdout and the exit code.
func doctorRun(t *testing.T, s *session, env []string, args ...string) (string, int) {
	t.Helper()
	c := s.command(s.bin, append(args, "doctor")...)
	c.Env = append(append([]string{}, s.env...), env...)
	out, err := c.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestE2EDoctor runs launch doctor against the engines CI starts, and with
// each one stopped (pointed at a socket nobody serves) or missing (not on
// PATH): the exit code follows the default backend, and the fix is printed.
func TestE2EDoctor(t *testing.T) {
	b := backendNamed(backendDocker)
	s := newSession(t, b)
	for _, name := range []string{"podman", "apptainer"} {
		if _, err := exec.LookPath(name); err != nil {
			need(t, fmt.Errorf("%s missing (run .ci/run): %v", name, err))
		}
	}
	// A PATH without apptainer and podman, with everything else.
	bare := t.TempDir()
	for _, tool := range []string{"sh", "docker"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		os.Symlink(p, filepath.Join(bare, tool))
	}
	os.Chmod(bare, 0o755)
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantCode int
		want     []string
	}{
		{"docker", []string{"--backend", "docker"}, nil, 0, []string{"docker: ready (default backend)", "runsc     registered", "launch can start agents here with the default backend, docker"}},
		{"podman", []string{"--backend", "podman"}, nil, 0, []string{"podman: ready (default backend)", "  version  ", "launch can start agents here with the default backend, podman"}},
		{"apptainer", []string{"--backend", "singularity"}, nil, 0, []string{"singularity: ready (default backend)", "apptainer 1."}},
		{"docker-stopped", []string{"--backend", "docker"}, []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, 1, []string{"docker: NOT READY (default backend)", "✗ no docker engine answers", "fix: start dockerd", "launch cannot start agents with the default backend, docker"}},
		{"podman-stopped", []string{"--backend", "podman"}, []string{"CONTAINER_HOST=unix:///nonexistent/podman.sock"}, 1, []string{"podman: NOT READY (default backend)", "✗ cannot reach the service at unix:///nonexistent/podman.sock (CONTAINER_HOST)", "fix: is the service running?"}},
		{"podman-missing", []string{"--backend", "podman"}, []string{"PATH=" + bare}, 1, []string{"✗ podman is not installed (not on PATH)", "fix: install Podman"}},
		{"apptainer-missing", []string{"--backend", "singularity"}, []string{"PATH=" + bare}, 1, []string{"singularity: NOT READY (default backend)", "✗ no apptainer or singularity on PATH", "fix: on an HPC cluster: module load apptainer"}},
		// Another backend down does not fail the default one.
		{"docker-default-apptainer-missing", []string{"--backend", "docker"}, []string{"PATH=" + bare}, 0, []string{"docker: ready (default backend)", "singularity: NOT READY"}},
		// Without apptainer, podman or a docker socket, the automatic
		// choice is singularity, whose absence is then the fix to print.
		{"nothing", nil, []string{"PATH=" + bare, "DOCKER_HOST=unix:///nonexistent/docker.sock"}, 1, []string{"docker: NOT READY", "singularity: NOT READY (default backend)", "module load apptainer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := doctorRun(t, s, tt.env, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d:\n%s", code, tt.wantCode, out)
			}
			// Columns widen with the longest fact: compare words, not spaces.
			words := strings.Join(strings.Fields(out), " ")
			for _, w := range tt.want {
				if !strings.Contains(words, strings.Join(strings.Fields(w), " ")) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		out, code := doctorRun(t, s, nil, "--backend", "docker", "--json")
		var res struct {
			Default  string `json:"default_backend"`
			Ready    bool   `json:"ready"`
			Backends []struct {
				Backend string `json:"backend"`
				Ready   bool   `json:"ready"`
			} `json:"backends"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || res.Default != "docker" || !res.Ready || len(res.Backends) != 3 {
			t.Errorf("exit %d, %+v (%v):\n%s", code, res, err, out)
		}
	})
}
