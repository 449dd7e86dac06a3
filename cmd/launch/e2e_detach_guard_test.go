//go:build integration

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2EDetachedProtectedPaths: a detached session that creates .envrc (a
// protected path) has it moved aside and reported once launch finds the
// session ended: on Docker and Podman by launch stop (a running session is
// left alone by launch ps) and by launch ps -a after the session ended by
// itself; on Apptainer by the launch the supervisor runs, whose report is
// in the session's log.
func TestE2EDetachedProtectedPaths(t *testing.T) {
	const warning = "changed protected workspace paths"
	forEachBackend(t, func(t *testing.T, s *session) {
		envrc := filepath.Join(s.ws, ".envrc")
		quarantined := func() []string {
			m, _ := filepath.Glob(envrc + ".launch-quarantine-*")
			return m
		}
		detach := func(script string) string {
			t.Helper()
			out, errOut, code := s.run("", "--yes", "--detach", "shell", script)
			if code != 0 {
				t.Fatalf("launch --detach: exit %d: %s", code, errOut)
			}
			name := strings.TrimSpace(out)
			t.Cleanup(func() { s.runPlain("stop", name) })
			return name
		}
		waitFor := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(200 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no %s after 30 s", what)
				}
			}
		}

		if s.backend.name == backendSingularity {
			name := detach("echo 'echo gotcha' > .envrc; echo wrote")
			waitFor("ended session", func() bool {
				l := sessionsOf(t, s, true)
				return len(l) == 1 && l[0].Status.Ended()
			})
			if _, err := os.Stat(envrc); err == nil || len(quarantined()) != 1 {
				t.Errorf(".envrc not moved aside after the supervised session: quarantined %v", quarantined())
			}
			if out, _, _ := s.runPlain("logs", name); !strings.Contains(out, warning) || !strings.Contains(out, ".envrc (created)") {
				t.Errorf("the session's log lacks the report:\n%s", out)
			}
			return
		}

		// Ended by launch stop; ps leaves a running session alone.
		name := detach("echo 'echo gotcha' > .envrc; exec sleep 600")
		waitFor(".envrc from the session", func() bool { _, err := os.Stat(envrc); return err == nil })
		if _, errOut, code := s.runPlain("ps"); code != 0 || strings.Contains(errOut, warning) {
			t.Errorf("ps of a running session: exit %d, stderr %s", code, errOut)
		}
		if _, err := os.Stat(envrc); err != nil {
			t.Fatalf("ps moved a running session's .envrc: %v", err)
		}
		_, errOut, code := s.runPlain("stop", name)
		t.Logf("launch stop %s:\n%s", name, errOut)
		if code != 0 || !strings.Contains(errOut, "detached session "+name) || !strings.Contains(errOut, warning) || !strings.Contains(errOut, ".envrc (created) -> ") {
			t.Errorf("stop: exit %d, stderr:\n%s", code, errOut)
		}
		if _, err := os.Stat(envrc); err == nil || len(quarantined()) != 1 {
			t.Errorf("after stop, .envrc is still there or not moved aside: %v", quarantined())
		}
		for _, q := range quarantined() {
			os.Remove(q)
		}

		// Ended by itself: the first ps -a that sees it ended reports it.
		name = detach("echo 'echo gotcha' > .envrc")
		var report string
		waitFor("report from ps -a", func() bool {
			_, errOut, _ := s.runPlain("ps", "-a")
			report += errOut
			return strings.Contains(report, warning)
		})
		if !strings.Contains(report, "detached session "+name) || len(quarantined()) != 1 {
			t.Errorf("ps -a after the session ended: quarantined %v, stderr:\n%s", quarantined(), report)
		}
		if _, errOut, _ := s.runPlain("ps", "-a"); strings.Contains(errOut, warning) {
			t.Errorf("a second ps -a reports again:\n%s", errOut)
		}
		if _, errOut, code := s.runPlain("stop", name); code != 0 || strings.Contains(errOut, warning) {
			t.Errorf("stop after the check: exit %d, stderr %s", code, errOut)
		}
	})
}
