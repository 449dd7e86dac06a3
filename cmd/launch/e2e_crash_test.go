//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/naming"
)

// killEngine kills (SIGKILL) the engine's process of a session: the one
// launch launchPid started (attached), or the detached session name. It
// asks until one is found or wait has passed (0: once), and reports
// whether it killed one. Shared engine processes (dockerd, the podman
// services) are never touched.
func killEngine(s *session, launchPid int, name string, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		if pid := engineProcess(s, launchPid, name); pid > 0 {
			return syscall.Kill(pid, syscall.SIGKILL) == nil
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// engineProcess is the pid of the session's own engine process; 0 when
// there is none (yet, or any more).
func engineProcess(s *session, launchPid int, name string) int {
	filter := "label=" + naming.LabelPID + "=" + strconv.Itoa(launchPid)
	if name != "" {
		filter = "name=^" + name + "$"
	}
	switch s.backend.name {
	case backendDocker:
		out, _ := exec.Command("docker", "ps", "-aq", "--no-trunc", "--filter", filter).Output()
		for _, id := range strings.Fields(string(out)) {
			for _, pid := range processesWith(nil) {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil &&
					bytes.Contains(b, []byte("containerd-shim")) && bytes.Contains(b, []byte("\x00-id\x00"+id+"\x00")) {
					return pid
				}
			}
		}
	case backendPodman:
		podman := func(args ...string) string {
			out, _ := s.command("podman", append([]string{"--url", fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID)}, args...)...).Output()
			return string(out)
		}
		for _, id := range strings.Fields(podman("ps", "-aq", "--no-trunc", "--filter", filter)) {
			if pid, _ := strconv.Atoi(strings.TrimSpace(podman("inspect", "--format", "{{.State.ConmonPid}}", id))); pid > 0 && syscall.Kill(pid, 0) == nil {
				return pid
			}
		}
	case backendSingularity:
		if name != "" {
			b, _ := os.ReadFile(filepath.Join(s.home, ".local", "state", "launch", "sessions", name+".json"))
			var st struct{ Supervisor int }
			if json.Unmarshal(b, &st) == nil && st.Supervisor > 0 && syscall.Kill(st.Supervisor, 0) == nil {
				return st.Supervisor
			}
			return 0
		}
		// The runtime's parent (starter), a child of launch.
		for _, pid := range processesWith(nil) {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...
			rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
			f := strings.Fields(rest)
			if len(f) < 2 || f[1] != strconv.Itoa(launchPid) {
				continue
			}
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if bytes.HasPrefix(cmd, []byte("Apptainer runtime parent")) || bytes.HasPrefix(comm, []byte("starter")) {
				return pid
			}
		}
	}
	return 0
}

// privateService is a rootless `podman system service` of the test's own,
// on the test user's storage (the shared service's), on a socket of its
// own: one the test may kill.
type privateService struct {
	t    *testing.T
	s    *session
	url  string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startPrivatePodman starts the test's own service; cleanup stops it.
func startPrivatePodman(t *testing.T, s *session) *privateService {
	t.Helper()
	dir, err := os.MkdirTemp("", "launch-podman-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, testUID, testUID); err != nil {
		t.Fatal(err)
	}
	p := &privateService{t: t, s: s, url: "unix://" + filepath.Join(dir, "podman.sock")}
	p.ensure()
	t.Cleanup(func() {
		if p.cmd != nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				p.cmd.Process.Kill()
			}
		}
	})
	return p
}

// ensure starts the service unless it runs, and waits for its socket.
func (p *privateService) ensure() {
	p.t.Helper()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return // it runs
		}
	}
	u, err := user.LookupId(strconv.Itoa(testUID))
	if err != nil {
		p.t.Fatal(err)
	}
	sock := strings.TrimPrefix(p.url, "unix://")
	os.Remove(sock)
	c := exec.Command("podman", "system", "service", "--time=0", p.url)
	c.Dir = "/"
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + u.HomeDir, fmt.Sprintf("XDG_RUNTIME_DIR=/run/user/%d", testUID)}
	c.SysProcAttr = &syscall.SysProcAttr{Credential: p.s.cred, Setpgid: true}
	if err := c.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	p.cmd, p.done = c, done
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return
		}
	}
	p.t.Fatalf("the private podman service on %s did not start within 20 s", p.url)
}

// kill kills the service with SIGKILL.
func (p *privateService) kill() bool {
	return p.cmd != nil && syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL) == nil
}
