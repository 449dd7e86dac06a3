//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/shell"
	sess "github.com/launchcli/launch/session"
)

// pane runs argv in a tmux session of its own (tag names its socket and
// status file), as a person would in a terminal; status reads its exit
// code once it is done.
func pane(t *testing.T, s *session, tag string, argv ...string) (*tmuxPane, func() int) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		need(t, fmt.Errorf("tmux missing (apt-get install tmux): %v", err))
	}
	p := &tmuxPane{t: t, socket: filepath.Join(s.home, "tmux-"+tag+".sock"), name: tag}
	status := filepath.Join(s.home, "status-"+tag)
	os.Remove(status)
	script := "cd " + shell.Quote(s.ws) + " && " + shell.Join(argv) + "; echo $? > " + shell.Quote(status) + "; sleep 600"
	c := s.command("tmux", "-S", p.socket, "new-session", "-d", "-s", p.name, "-x", "100", "-y", "30", "sh", "-c", script)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", p.socket, "kill-server").Run() })
	return p, func() int {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if b, err := os.ReadFile(status); err == nil && len(b) > 0 {
				n, err := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s did not exit; the terminal shows:\n%s", tag, p.screen())
		return -1
	}
}

// sessionsOf is launch ps --json (-a with all), as s's user, keeping the
// sessions of s's workspace.
func sessionsOf(t *testing.T, s *session, all bool) []sess.Info {
	t.Helper()
	args := []string{"ps", "--json"}
	if all {
		args = append(args, "-a")
	}
	out, errOut, code := s.runPlain(args...)
	if code != 0 {
		t.Fatalf("launch ps: exit %d: %s", code, errOut)
	}
	var list []sess.Info
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("launch ps --json: %v\n%s", err, out)
	}
	var mine []sess.Info
	for _, i := range list {
		if i.Workspace == s.ws {
			mine = append(mine, i)
		}
	}
	return mine
}

// runPlain runs launch without the backend's flags (the session commands
// take none).
func (s *session) runPlain(args ...string) (string, string, int) {
	s.t.Helper()
	saved := s.backend.flags
	s.backend.flags = nil
	defer func() { s.backend.flags = saved }()
	return s.run("", args...)
}

// TestE2EDetachedSession: launch --detach returns with the session's name;
// ps lists it; attach under a terminal passes typed input on and detaches
// with ctrl-p ctrl-q, leaving it running; logs shows its output; stop ends
// and removes it, and ps -a then lists nothing; another user's ps does not
// see it.
func TestE2EDetachedSession(t *testing.T) {
	for _, b := range e2eBackends {
		t.Run(string(b.name), func(t *testing.T) {
			s := newSession(t, b)
			script := `echo started; while read -r l; do echo "got:$l"; done`
			p, status := pane(t, s, "detach", append(append([]string{s.bin}, s.backend.debian...), "--yes", "--detach", "shell", script)...)
			if code := status(); code != 0 {
				t.Fatalf("launch --detach: exit %d:\n%s", code, p.screen())
			}
			list := sessionsOf(t, s, false)
			if len(list) != 1 {
				t.Fatalf("launch ps lists %d sessions of the workspace, want 1: %+v", len(list), list)
			}
			got := list[0]
			if got.Agent != "shell" || got.Backend != string(b.name) || got.Status != sess.Running || !got.Detached || got.Network != "open" || got.UID != testUID {
				t.Errorf("launch ps: %+v", got)
			}
			if !strings.Contains(p.screen(), got.Name) {
				t.Errorf("launch --detach did not print the name %s:\n%s", got.Name, p.screen())
			}
			t.Cleanup(func() { s.runPlain("stop", got.Name) })

			a, attached := pane(t, s, "attach", s.bin, "attach", got.Name)
			time.Sleep(500 * time.Millisecond)
			a.send("hello there", "Enter")
			a.waitFor("got:hello there")
			a.send("C-p", "C-q")
			a.waitFor("detached from " + got.Name)
			if code := attached(); code != 0 {
				t.Errorf("launch attach after a detach: exit %d", code)
			}
			if list := sessionsOf(t, s, false); len(list) != 1 || list[0].Status != sess.Running {
				t.Errorf("after the detach: %+v, want it running", list)
			}
			out, errOut, code := s.runPlain("logs", got.Name)
			if code != 0 || !strings.Contains(out, "started") || !strings.Contains(out, "got:hello there") {
				t.Errorf("launch logs: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if os.Getuid() == 0 && b.name == backendDocker {
				// Root is another user of the same engine.
				c := exec.Command(s.bin, "ps", "-a", "--json")
				c.Env = []string{"HOME=" + os.TempDir(), "PATH=" + os.Getenv("PATH")}
				out, err := c.Output()
				if err != nil || strings.Contains(string(out), got.ID) {
					t.Errorf("another user's launch ps shows the session (%v):\n%s", err, out)
				}
			}
			out, errOut, code = s.runPlain("stop", got.Name)
			if code != 0 || strings.TrimSpace(out) != got.Name {
				t.Errorf("launch stop: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
			}
			if list := sessionsOf(t, s, true); len(list) != 0 {
				t.Errorf("after launch stop, ps -a lists %+v", list)
			}
			// Nothing of the session runs on: no launch of this test's
			// binary (a supervisor, the launch it ran, a watcher), no agent.
			deadline := time.Now().Add(10 * time.Second)
			for len(processesOf(s.bin)) > 0 || len(processesRunning("/bin/busybox", "sh", "-c", script)) > 0 {
				if time.Now().After(deadline) {
					t.Errorf("after launch stop, still running: %v %v", processesOf(s.bin), processesRunning("/bin/busybox", "sh", "-c", script))
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestE2EDetachedSessionEnds: a detached session that ends stays, with its
// output and exit code, for ps -a and logs, until launch stop removes it;
// attach to it reports the exit code.
func TestE2EDetachedSessionEnds(t *testing.T) {
	for _, b := range e2eBackends {
		t.Run(string(b.name), func(t *testing.T) {
			s := newSession(t, b)
			name, list := detachUntilEnded(t, s, "echo bye; exit 7")
			if len(list) != 1 || list[0].Name != name || list[0].ExitCode == nil || *list[0].ExitCode != 7 {
				t.Fatalf("ps -a: %+v, want %s ended with 7", list, name)
			}
			if l := sessionsOf(t, s, false); len(l) != 0 {
				t.Errorf("ps without -a lists an ended session: %+v", l)
			}
			// Apptainer's log is a terminal's output ("\r\n"), the inner
			// launch's notes included.
			if out, _, _ := s.runPlain("logs", name); out != "bye\n" && (b.name != backendSingularity || !strings.Contains(out, "bye\r\n")) {
				t.Errorf("logs = %q, want bye", out)
			}
			if _, errOut, code := s.runPlain("attach", name); code != 7 || !strings.Contains(errOut, "has ended (exit 7)") {
				t.Errorf("attach to an ended session: exit %d, stderr %s", code, errOut)
			}
			if _, errOut, code := s.runPlain("stop", name); code != 0 {
				t.Errorf("stop: exit %d: %s", code, errOut)
			}
			if l := sessionsOf(t, s, true); len(l) != 0 {
				t.Errorf("after stop, ps -a lists %+v", l)
			}
		})
	}
}

// TestE2ESessionNameOnTwoBackends: a Docker and a Podman session of one
// workspace get the same name; launch stop NAME then stops neither and
// names both, and --backend chooses.
func TestE2ESessionNameOnTwoBackends(t *testing.T) {
	d, p := backendNamed(backendDocker), backendNamed(backendPodman)
	need(t, p.ready())
	s := newSession(t, d)
	start := func(b e2eBackend) string {
		c := s.command(s.bin, append(append([]string{}, b.flags...), "--yes", "--detach", "shell", "sleep 300")...)
		out, err := c.Output()
		name := strings.TrimSpace(string(out))
		if err != nil || name == "" {
			t.Fatalf("launch --detach on %s: %v: %q", b.name, err, out)
		}
		t.Cleanup(func() { s.runPlain("stop", "--backend", string(b.name), name) })
		return name
	}
	dn, pn := start(d), start(p)
	if dn != pn {
		t.Fatalf("one workspace, different session names on docker (%s) and podman (%s): want the same name, which launch must refuse to guess between", dn, pn)
	}
	_, errs, code := s.runPlain("stop", dn)
	if code != 2 || !strings.Contains(errs, "2 sessions have that name") || !strings.Contains(errs, "docker (ID ") || !strings.Contains(errs, "podman (ID ") || !strings.Contains(errs, "--backend") {
		t.Errorf("launch stop %s: exit %d, want 2 naming both; stderr:\n%s", dn, code, errs)
	}
	if list := sessionsOf(t, s, false); len(list) != 2 {
		t.Errorf("after the refused stop: %d sessions, want both running: %+v", len(list), list)
	}
	if out, errs, code := s.runPlain("stop", "--backend", "podman", pn); code != 0 || strings.TrimSpace(out) != pn {
		t.Errorf("launch stop --backend podman: exit %d, stdout %q; stderr:\n%s", code, out, errs)
	}
	if list := sessionsOf(t, s, false); len(list) != 1 || list[0].Backend != "docker" {
		t.Errorf("after stopping the Podman one: %+v, want the Docker one left", list)
	}
}

// detachUntilEnded starts script as a detached shell session, stops it
// when the test ends, and waits (30 s at most) until ps -a lists it as
// ended; it returns the session's name and what ps -a then lists.
func detachUntilEnded(t *testing.T, s *session, script string) (string, []sess.Info) {
	t.Helper()
	out, errOut, code := s.run("", "--yes", "--detach", "shell", script)
	if code != 0 {
		t.Fatalf("launch --detach: exit %d: %s", code, errOut)
	}
	name := strings.TrimSpace(out)
	t.Cleanup(func() { s.runPlain("stop", name) })
	var list []sess.Info
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		list = sessionsOf(t, s, true)
		if len(list) == 1 && list[0].Status.Ended() || time.Now().After(deadline) {
			return name, list
		}
	}
}
