//go:build integration

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/naming"
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
	return newPaneLine(t, s, width, height, shell.Join(argv))
}

// newPaneLine runs a shell command line (sh) in the pane.
func newPaneLine(t *testing.T, s *session, width, height int, line string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		need(t, fmt.Errorf("tmux missing (apt-get install tmux): %v", err))
	}
	// A socket of its own: a test may open panes one after another.
	p := &tmuxPane{t: t, socket: filepath.Join(s.home, fmt.Sprintf("tmux-%d.sock", time.Now().UnixNano()%1e9)), name: "launch"}
	// The script records the exit code where the test can read it.
	status := filepath.Join(s.home, "status")
	os.Remove(status)
	script := "cd " + shell.Quote(s.ws) + " && " + line + "; echo $? > " + shell.Quote(status) + "; sleep 600"
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

// TestE2EDryRunInATerminal: the printed command decides the terminal when
// it runs (issue 16). Piped to sh or run by eval in a terminal, it starts an
// interactive shell whose terminal is the pane's size; fed by a pipe in the
// same terminal, the agent reads the pipe, not the terminal.
func TestE2EDryRunInATerminal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		dry := shell.Join(append(append([]string{s.bin}, s.backend.debian...), "--dry-run", "shell"))
		// The docker CLI of Debian's dockerd 20.10 (API 1.41) cannot give
		// the size with the create request: it resizes right after start,
		// best effort (docker/cli#3554), while the shell may already read
		// the line typed ahead. As in TestE2ETerminal, the probe waits a
		// moment before it reads the size.
		settle := ""
		if s.backend.name == backendDocker {
			settle = "sleep 1; "
		}
		for _, tt := range []struct{ name, line string }{
			{"piped-to-sh", dry + " 2>/dev/null | sh"},
			{"eval", `eval "$(` + dry + ` 2>/dev/null)"`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				p := newPaneLine(t, s, 120, 40, s.snippetEnv()+tt.line)
				// A failed check leaves the shell running in its container,
				// whose name the next case's command would then find taken.
				t.Cleanup(func() { s.removeWorkspaceContainers() })
				p.send(settle+"stty size; [ -t 0 ] && [ -t 1 ] && echo both-terminals", "Enter")
				p.waitFor("40 120")
				p.waitFor("both-terminals")
				p.send("exit 5", "Enter")
				if code := readStatus(t, s); code != 5 {
					t.Errorf("exit code %d, want 5 (the shell's)\n%s", code, p.screen())
				}
				exec.Command("tmux", "-S", p.socket, "kill-server").Run()
			})
		}
		t.Run("pipe-in-a-terminal", func(t *testing.T) {
			p := newPaneLine(t, s, 120, 40, s.snippetEnv()+`echo from-the-pipe | sh -c "$(`+dry+` -- 'cat; [ -t 0 ] || echo no-terminal' 2>/dev/null)"`)
			p.waitFor("no-terminal")
			if !strings.Contains(p.screen(), "from-the-pipe") {
				t.Errorf("the agent did not read the pipe:\n%s", p.screen())
			}
			if code := readStatus(t, s); code != 0 {
				t.Errorf("exit code %d, want 0\n%s", code, p.screen())
			}
		})
	})
}

// TestE2EDryRunPipedWithoutTerminal: `launch --dry-run ... | sh` without
// any terminal runs the command with nothing on its stdin: the agent never
// reads the script that sh is reading.
func TestE2EDryRunPipedWithoutTerminal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		snippet, errOut, code := s.run("", "--dry-run", "shell", "--", "echo before; cat; echo after")
		if code != 0 {
			t.Fatalf("--dry-run: exit %d: %s", code, errOut)
		}
		var errb bytes.Buffer
		c := s.command("sh", "-c", s.snippetEnv()+"sh")
		c.Stdin, c.Stderr = strings.NewReader(snippet+"echo the-rest-of-the-script\n"), &errb
		out, err := c.Output()
		if err != nil {
			t.Fatalf("| sh: %v\n%s%s", err, out, errb.String())
		}
		if got := string(out); !strings.HasSuffix(got, "before\nafter\nthe-rest-of-the-script\n") {
			t.Errorf("| sh printed %q; want before, after, then the rest of the script (cat reads nothing)", got)
		}
		errb.Reset()
		c = s.command("sh", "-c", s.snippetEnv()+snippet)
		c.Stdin, c.Stderr = strings.NewReader("from-the-pipe\n"), &errb
		out, err = c.Output()
		if err != nil || !strings.HasSuffix(string(out), "before\nfrom-the-pipe\nafter\n") {
			t.Errorf(`echo from-the-pipe | sh -c "$(launch --dry-run ...)": %v, printed %q%s`, err, out, errb.String())
		}
	})
}

// snippetEnv is what a printed command needs in the test's shell: the
// session's scratch HOME has no podman storage of its own, so the printed
// podman run talks to the service the real run uses (CONTAINER_HOST).
func (s *session) snippetEnv() string {
	if s.backend.name != backendPodman {
		return ""
	}
	return fmt.Sprintf("CONTAINER_HOST=unix:///run/user/%d/podman/podman.sock; export CONTAINER_HOST; ", testUID)
}

// removeWorkspaceContainers removes the containers of s's workspace on a
// Docker or Podman backend (what a pane killed mid-session leaves running:
// with a terminal the engine's CLI does not pass its hangup on).
func (s *session) removeWorkspaceContainers() {
	if s.backend.name == backendSingularity {
		return
	}
	eng := engineCLI(s.backend)
	out, _ := exec.Command(eng[0], append(eng[1:], "ps", "-aq", "--filter", "label="+naming.LabelWorkspace+"="+s.ws)...).Output()
	for _, id := range strings.Fields(string(out)) {
		exec.Command(eng[0], append(eng[1:], "rm", "-f", id)...).Run()
	}
}
