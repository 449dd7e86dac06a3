package shell

import (
	"slices"
	"strings"
)

// TTYVar is the shell variable that Terminal sets: the flag that asks for a
// terminal (docker's -t, srun's --pty), or empty.
const TTYVar = "launch_tty"

// Terminal returns the lines a printed snippet starts with, so that the
// snippet decides at run time what a real run decides from launch's own
// terminal. The rule, in the shell that runs the snippet:
//
//   - stdin and stdout are terminals (a copied command, eval "$(...)" in a
//     terminal): the agent gets a terminal (TTYVar is flag) and that stdin;
//   - the shell reads the snippet itself from stdin (`launch --dry-run ... |
//     sh`; $- holds s, and the shell is not interactive): stdin is the
//     script, never the agent's; the agent reads the terminal (/dev/tty)
//     and gets one when stdout is a terminal and /dev/tty opens, else it
//     reads nothing (/dev/null);
//   - anything else (a pipe or a file as stdin, `echo hi | sh -c "$(...)"`):
//     no terminal, and the streams as they are.
//
// The lines redirect the stdin of the shell that runs them, so a snippet
// that uses them is a subshell: "(" before them, ")" after its command.
// The probe of /dev/tty is `true </dev/tty`, not `:`, because a failed
// redirection of a special built-in ends a POSIX shell (dash, busybox).
// flag is the word the command has in place of TTYVar (JoinTTY); empty for
// a runtime that takes the terminal from its streams (Apptainer), which
// then needs only the redirection.
func Terminal(flag string) []string {
	if flag == "" {
		return []string{`case $- in *i*) ;; *s*) if [ -t 1 ] && { true </dev/tty; } 2>/dev/null; then exec </dev/tty; else exec </dev/null; fi ;; esac`}
	}
	f := Quote(flag)
	return []string{
		TTYVar + "=; if [ -t 0 ] && [ -t 1 ]; then " + TTYVar + "=" + f + "; fi",
		`case $- in *i*) ;; *s*) if [ -t 1 ] && { true </dev/tty; } 2>/dev/null; then ` + TTYVar + "=" + f + `; exec </dev/tty; else exec </dev/null; fi ;; esac`,
	}
}

// JoinTTY is Join with the first word equal to flag printed as $TTYVar,
// unquoted, so that it is the flag or nothing, as Terminal decided. argv
// must hold flag.
func JoinTTY(argv []string, flag string) string {
	i := slices.Index(argv, flag)
	if i < 0 {
		panic("shell.JoinTTY: " + flag + " not in the command")
	}
	q := make([]string, len(argv))
	for j, w := range argv {
		q[j] = Quote(w)
	}
	q[i] = "$" + TTYVar
	return strings.Join(q, " ")
}
