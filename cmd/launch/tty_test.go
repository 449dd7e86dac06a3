//go:build integration

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/shell"
)

// tmuxPane runs one command in a detached tmux session, as a person would in
// a terminal, and reads the screen back.
type tmuxPane struct {
	t      *testing.T
	socket string
	name   string
}

func newPane(t *testing.T, s *session, width, height int, argv ...string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		need(t, fmt.Errorf("tmux missing (apt-get install tmux): %v", err))
	}
	p := &tmuxPane{t: t, socket: filepath.Join(s.home, "tmux.sock"), name: "launch"}
	// The script records the exit code where the test can read it.
	status := filepath.Join(s.home, "status")
	script := "cd " + shell.Quote(s.ws) + " && " + shell.Join(argv) + "; echo $? > " + shell.Quote(status) + "; sleep 600"
	c := s.command("tmux", "-S", p.socket, "new-session", "-d", "-s", p.name,
		"-x", strconv.Itoa(width), "-y", strconv.Itoa(height), "sh", "-c", script)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", p.socket, "kill-server").Run() })
	return p
}

func (p *tmuxPane) screen() string {
	out, _ := exec.Command("tmux", "-S", p.socket, "capture-pane", "-p", "-t", p.name).Output()
	return string(out)
}

// waitFor waits until the screen shows want.
func (p *tmuxPane) waitFor(want string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.screen(), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("the terminal never showed %q; it shows:\n%s", want, p.screen())
}

func (p *tmuxPane) send(keys ...string) {
	p.t.Helper()
	args := append([]string{"-S", p.socket, "send-keys", "-t", p.name}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		p.t.Fatalf("send-keys: %v: %s", err, out)
	}
}

func (p *tmuxPane) resize(width, height int) {
	p.t.Helper()
	if out, err := exec.Command("tmux", "-S", p.socket, "resize-window", "-t", p.name, "-x", strconv.Itoa(width), "-y", strconv.Itoa(height)).CombinedOutput(); err != nil {
		p.t.Fatalf("resize-window: %v: %s", err, out)
	}
}

func readStatus(t *testing.T, s *session) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(filepath.Join(s.home, "status"))
		if err == nil && len(b) > 0 {
			n, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("launch did not exit")
	return -1
}

// TestE2ETerminal: on a terminal, launch asks before it launches, gives the
// agent a terminal of the right size, passes a resize and typed input on,
// and returns the agent's exit code.
func TestE2ETerminal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		// Engines older than API 1.42 (Debian's dockerd 20.10) take no size
		// at create: it arrives by a resize right after start, so the probe
		// waits a moment before it reads it. Newer engines get the size with
		// the create request.
		settle := ""
		if s.backend.name == backendDocker {
			settle = "sleep 1; "
		}
		args := append(append([]string{s.bin}, s.backend.debian...), "shell",
			settle+`stty size; read -r line; echo "got:$line"; trap 'stty size; exit 3' WINCH; echo waiting; while :; do sleep 1; done`)
		p := newPane(t, s, 120, 40, args...)
		p.waitFor("launch this agent? [y/N]")
		if !strings.Contains(p.screen(), "network:  open") {
			t.Errorf("the confirmation does not show the plan:\n%s", p.screen())
		}
		p.send("y", "Enter")
		p.waitFor("40 120")
		p.send("hello there", "Enter")
		p.waitFor("got:hello there")
		p.waitFor("waiting")
		p.resize(100, 30)
		p.waitFor("30 100")
		if code := readStatus(t, s); code != 3 {
			t.Errorf("exit code %d, want 3 (the agent's)", code)
		}
	})
}

// TestE2EConfirmDeclined: answering no launches nothing and creates nothing.
func TestE2EConfirmDeclined(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		args := append(append([]string{s.bin}, s.backend.flags...), "codex")
		p := newPane(t, s, 120, 40, args...)
		p.waitFor("launch this agent? [y/N]")
		p.send("n", "Enter")
		p.waitFor("not launched")
		if code := readStatus(t, s); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if _, err := os.Stat(filepath.Join(s.home, ".codex")); err == nil {
			t.Error("a declined launch created ~/.codex")
		}
	})
}
