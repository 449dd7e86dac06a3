// Package shell quotes words for a POSIX shell, for the commands that
// --dry-run prints. It imports only plan and the standard library.
package shell

import "strings"

// Quote returns s as one POSIX shell word. Words made only of safe characters
// are returned as they are; anything else is put in single quotes, with each
// single quote replaced by the four characters quote, backslash, quote, quote.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each word of argv and joins them with spaces.
func Join(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

// Var returns a double-quoted reference to the shell variable name ("$NAME"),
// for values the printed command takes from the user's shell rather than
// printing them.
func Var(name string) string { return `"$` + name + `"` }

func isSafe(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("@%+=:,./-_", r):
		default:
			return false
		}
	}
	return true
}
