package shell

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "''"},
		{"plain", "codex", "codex"},
		{"path", "/home/a/b.c", "/home/a/b.c"},
		{"space", "a b", "'a b'"},
		{"single-quote", "it's", `'it'\''s'`},
		{"dollar", "$HOME", "'$HOME'"},
		{"glob", "*.go", "'*.go'"},
		{"tilde", "~/x", "'~/x'"},
		{"newline", "a\nb", "'a\nb'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quote(tt.in); got != tt.want {
				t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestJoinRoundTrip runs the quoted words through a real shell and checks
// that the shell splits them back into the same words.
func TestJoinRoundTrip(t *testing.T) {
	words := []string{"a b", "it's", "$HOME", "`id`", "\\", "\"q\"", "", "ü", "a\nb", "-e", "*", "!x", "#c", "~"}
	out, err := exec.Command("sh", "-c", `for a in `+Join(words)+`; do printf '%s\0' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	start := 0
	for i, b := range out {
		if b == 0 {
			got = append(got, string(out[start:i]))
			start = i + 1
		}
	}
	if len(got) != len(words) {
		t.Fatalf("shell split into %d words %q, want %d", len(got), got, len(words))
	}
	for i := range words {
		if got[i] != words[i] {
			t.Errorf("word %d: shell saw %q, want %q", i, got[i], words[i])
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a b", "it's", "$(id)", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range s {
			if r == 0 {
				return // a NUL cannot be passed to a shell at all
			}
		}
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("shell read %q as %q", s, out)
		}
	})
}
