//go:build integration

package main

import (
	"strings"
	"testing"
)

// TestE2EVerboseRealRun: -v on a real run prints only what is true of that
// run; what concerns the printed command alone (a container name that may
// be taken, values read from the shell that runs it, its PATH) is the dry
// run's (issue 16).
func TestE2EVerboseRealRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		s.env = append(s.env, "LAUNCH_E2E_NOTE=x")
		args := []string{"--env", "LAUNCH_E2E_NOTE", "shell", "true"}
		_, dry, code := s.run("", append([]string{"--dry-run", "-v"}, args...)...)
		if code != 0 {
			t.Fatalf("--dry-run: exit %d: %s", code, dry)
		}
		_, real, code := s.run("", append([]string{"--yes", "-v"}, args...)...)
		if code != 0 {
			t.Fatalf("real run: exit %d: %s", code, real)
		}
		for _, line := range strings.Split(real, "\n") {
			for _, w := range []string{"the command", "printed command", "dry run"} {
				if strings.Contains(line, w) {
					t.Errorf("-v on a real run prints a note about the printed command: %q", line)
				}
			}
		}
		if s.backend.name != backendSingularity && !strings.Contains(dry, "LAUNCH_E2E_NOTE") {
			t.Errorf("the dry run no longer says the printed command reads LAUNCH_E2E_NOTE from its shell:\n%s", dry)
		}
	})
}
