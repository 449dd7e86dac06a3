package shell

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestTerminalLines(t *testing.T) {
	want := []string{
		`launch_tty=; if [ -t 0 ] && [ -t 1 ]; then launch_tty=-t; fi`,
		`case $- in *i*) ;; *s*) if [ -t 1 ] && { true </dev/tty; } 2>/dev/null; then launch_tty=-t; exec </dev/tty; else exec </dev/null; fi ;; esac`,
	}
	if got := Terminal("-t"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Terminal(-t) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := Terminal(""); len(got) != 1 || strings.Contains(got[0], TTYVar) || !strings.Contains(got[0], "exec </dev/tty") {
		t.Errorf("Terminal(\"\") = %q: want only the redirection", got)
	}
	if got := JoinTTY([]string{"docker", "run", "-i", "-t", "--name", "a b", "img", "-t"}, "-t"); got != `docker run -i $launch_tty --name 'a b' img -t` {
		t.Errorf("JoinTTY = %s", got)
	}
}

// TestTerminalWithoutTerminal runs the terminal lines in real shells with no
// controlling terminal (a new session): stdin read as a script (`| sh`) or
// as data (`echo hi | sh -c`). The terminal cases run under tmux in
// cmd/launch (TestE2EDryRunInATerminal).
func TestTerminalWithoutTerminal(t *testing.T) {
	// The command stands for the agent: it says whether it got -t and
	// what its stdin holds.
	body := "(\n" + strings.Join(Terminal("-t"), "\n") + "\n" + `echo "tty=[$launch_tty]"; echo "in=[$(cat)]"` + "\n)\n"
	for _, sh := range []string{"sh", "dash", "bash", "busybox"} {
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("%s: not installed", sh)
			continue
		}
		argv := []string{sh}
		if sh == "busybox" {
			argv = append(argv, "sh")
		}
		t.Run(sh, func(t *testing.T) {
			for _, tt := range []struct {
				name  string
				args  []string
				stdin string
				want  string
			}{
				// The script on stdin: the agent reads nothing, and the
				// shell goes on with the rest of its script.
				{"piped-to-sh", nil, body + "echo after\n", "tty=[]\nin=[]\nafter\n"},
				{"piped-to-sh-s", []string{"-s"}, body + "echo after\n", "tty=[]\nin=[]\nafter\n"},
				// Data on stdin: the agent reads it.
				{"sh-c-with-a-pipe", []string{"-c", body}, "hi\n", "tty=[]\nin=[hi]\n"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					c := exec.Command(argv[0], append(argv[1:], tt.args...)...)
					c.Stdin = strings.NewReader(tt.stdin)
					c.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no /dev/tty
					out, err := c.CombinedOutput()
					if err != nil || string(out) != tt.want {
						t.Errorf("%v: %v\n got %q\nwant %q", c.Args, err, out, tt.want)
					}
				})
			}
		})
	}
}
