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

// exitCodeRows reads the first column of the exit-code table in
// docs/sessions.md, the one table the README and the other pages link to.
func exitCodeRows(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/sessions.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Exit codes\n")
	if !ok {
		t.Fatal("docs/sessions.md has no section ## Exit codes")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "|") {
			continue
		}
		code := strings.TrimSpace(cells[1])
		if code == "code" || strings.Trim(code, "-") == "" {
			continue
		}
		rows = append(rows, code)
	}
	if len(rows) == 0 {
		t.Fatal("docs/sessions.md: the exit-code table has no rows")
	}
	return rows
}

// TestE2EExitCodeTable runs, on each backend, a launch for each row of the
// documented exit-code table and checks that launch exits with the row's
// code: a row without a case here, or a case for a row the table no longer
// has, fails the test too.
func TestE2EExitCodeTable(t *testing.T) {
	type result struct {
		code    int
		errOut  string
		skipped string // why the case does not apply to this backend
	}
	cases := map[string]struct {
		want []int
		run  func(t *testing.T, s *session) []result
	}{
		"0": {[]int{0}, func(t *testing.T, s *session) []result {
			_, e, c := s.run("", "--yes", "shell", "--", "true")
			return []result{{code: c, errOut: e}}
		}},
		"1": {[]int{1}, func(t *testing.T, s *session) []result {
			// The confirmation, declined on a terminal.
			p := newPane(t, s, 120, 40, append(append([]string{s.bin}, s.backend.flags...), "shell")...)
			p.waitFor("launch this agent? [y/N]")
			p.send("n", "Enter")
			p.waitFor("not launched")
			return []result{{code: readStatus(t, s), errOut: p.screen()}}
		}},
		"2": {[]int{2}, func(t *testing.T, s *session) []result {
			_, e, c := s.run("", "--bogus", "shell")
			return []result{{code: c, errOut: e}}
		}},
		"125": {[]int{125}, func(t *testing.T, s *session) []result {
			if s.backend.name == backendSingularity {
				// Apptainer has no engine to fail: a missing SIF is a bad
				// path (2), and the runtime's own failures are the agent's
				// exit status.
				return []result{{skipped: "no engine"}}
			}
			// An image that is not there, and may not be pulled.
			_, e, c := s.run("", "--yes", "--image", "localhost/launch-test/absent-"+filepath.Base(s.ws)+":x", "--pull", "never", "shell", "--", "true")
			return []result{{code: c, errOut: e}}
		}},
		"126, 127": {[]int{126, 127}, func(t *testing.T, s *session) []result {
			_, e1, c1 := s.run("", "--yes", "shell", "--", "/etc")
			_, e2, c2 := s.run("", "--yes", "shell", "--", "launch-no-such-command")
			return []result{{code: c1, errOut: e1}, {code: c2, errOut: e2}}
		}},
		"128+N": {[]int{143}, func(t *testing.T, s *session) []result {
			// SIGTERM to launch once the agent runs (it says so in the
			// workspace): the container is stopped and removed, 128+15.
			started := filepath.Join(s.ws, "started")
			c := s.cmd("--yes", "shell", "touch "+started+"; sleep 60")
			var errb strings.Builder
			c.Stderr = &errb
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				if _, err := os.Stat(started); err == nil {
					break
				}
				if time.Now().After(deadline) {
					c.Process.Kill()
					c.Wait()
					t.Fatalf("the agent never started: %s", errb.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			c.Process.Signal(syscall.SIGTERM)
			c.Wait()
			return []result{{code: c.ProcessState.ExitCode(), errOut: errb.String()}}
		}},
		"137": {[]int{137}, func(t *testing.T, s *session) []result {
			_, e, c := s.run("", "--yes", "shell", "kill -9 $$")
			return []result{{code: c, errOut: e}}
		}},
		"other": {[]int{7}, func(t *testing.T, s *session) []result {
			_, e, c := s.run("", "--yes", "shell", "exit 7")
			return []result{{code: c, errOut: e}}
		}},
	}
	rows := exitCodeRows(t)
	inTable := map[string]bool{}
	for _, r := range rows {
		inTable[r] = true
		if _, ok := cases[r]; !ok {
			t.Errorf("docs/sessions.md: exit-code row %q has no case in TestE2EExitCodeTable", r)
		}
	}
	for k := range cases {
		if !inTable[k] {
			t.Errorf("TestE2EExitCodeTable: a case for %q, which the table of docs/sessions.md no longer has", k)
		}
	}
	forEachBackend(t, func(t *testing.T, s *session) {
		for _, row := range rows {
			tc, ok := cases[row]
			if !ok {
				continue
			}
			t.Run(strings.ReplaceAll(row, " ", ""), func(t *testing.T) {
				for i, r := range tc.run(t, s) {
					if r.skipped != "" {
						t.Skipf("not on %s: %s", s.backend.name, r.skipped)
					}
					if r.code != tc.want[i] {
						t.Errorf("exit %d, want %d (the row %q of docs/sessions.md); stderr:\n%s", r.code, tc.want[i], row, r.errOut)
					}
				}
			})
		}
	})
}
