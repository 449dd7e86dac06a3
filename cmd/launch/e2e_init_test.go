//go:build integration

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EAgentIsNotPID1: the runtime's init is PID 1 and the agent's
// parent: docker-init (tini), podman-init (catatonit), Apptainer's appinit
// (--pid).
func TestE2EAgentIsNotPID1(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		out, errOut, code := s.run("", "--yes", "shell", `echo "pid=$$"; echo "ppid=$(awk '/^PPid:/ {print $2}' /proc/$$/status)"; echo "init=$(cat /proc/1/comm)"`)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if strings.HasPrefix(out, "pid=1\n") {
			t.Errorf("the agent is PID 1:\n%s", out)
		}
		if !strings.Contains(out, "ppid=1\n") {
			t.Errorf("the agent's parent is not PID 1:\n%s", out)
		}
		init := strings.TrimSpace(out[strings.Index(out, "init=")+len("init="):])
		if init != "docker-init" && init != "podman-init" && init != "catatonit" && init != "tini" && init != "appinit" {
			t.Errorf("PID 1 is %q, not an init", init)
		}
	})
}

// TestE2ENoZombies: a child the agent leaves behind (a double fork, as a
// git run from an agent's tool can be) is reaped when it exits.
func TestE2ENoZombies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		script := `(sleep 0.2 &); sleep 1.5; n=0; for f in /proc/[0-9]*/stat; do case "$(cat $f 2>/dev/null)" in *") Z "*) n=$((n+1));; esac; done; echo "zombies=$n"`
		out, errOut, code := s.run("", "--yes", "shell", script)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if !strings.Contains(out, "zombies=0\n") {
			t.Errorf("zombies left in the container:\n%s", out)
		}
	})
}

// TestE2ESIGTERMEndsTheAgent: a SIGTERM to launch reaches the agent as
// SIGTERM (no wait for the stop timeout, no SIGKILL): an agent that handles
// it runs its handler, and one that does not (default disposition, which
// PID 1 would ignore) ends at once. launch exits 143.
func TestE2ESIGTERMEndsTheAgent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		for _, c := range []struct{ name, script string }{
			{"handler", `trap 'echo term > got-term; exit 143' TERM; echo ready > ready; while :; do sleep 0.1; done`},
			{"default", `echo ready > ready; exec sleep 60`},
		} {
			t.Run(c.name, func(t *testing.T) {
				for _, f := range []string{"ready", "got-term"} {
					os.Remove(filepath.Join(s.ws, f))
				}
				cmd := s.cmd("--yes", "shell", c.script)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(60 * time.Second)
				for {
					if _, err := os.Stat(filepath.Join(s.ws, "ready")); err == nil {
						break
					}
					if time.Now().After(deadline) {
						cmd.Process.Kill()
						t.Fatal("the agent did not start within 60s")
					}
					time.Sleep(50 * time.Millisecond)
				}
				time.Sleep(200 * time.Millisecond)
				sent := time.Now()
				cmd.Process.Signal(syscall.SIGTERM)
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					cmd.Process.Kill()
					t.Fatal("launch did not exit within 30s of SIGTERM")
				}
				took := time.Since(sent)
				if code := cmd.ProcessState.ExitCode(); code != 143 {
					t.Errorf("exit %d, want 143", code)
				}
				// The engines' stop timeout is 10 s; a SIGKILL would come
				// only after it.
				if took > 5*time.Second {
					t.Errorf("launch took %v to end after SIGTERM: the agent did not get it", took)
				}
				if c.name == "handler" {
					if b, err := os.ReadFile(filepath.Join(s.ws, "got-term")); err != nil || string(b) != "term\n" {
						t.Errorf("the agent's SIGTERM handler did not run: %q %v", b, err)
					}
				}
			})
		}
	})
}
