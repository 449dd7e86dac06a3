package shell

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
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

// TestPrepare runs the lines in a real shell twice: the first run creates
// the paths private, the second leaves an existing file alone.
func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	hp := []plan.HostPath{
		{Path: dir + "/a dir/.codex", Dir: true},
		{Path: dir + "/sub/.claude.json", Content: "{}"},
	}
	script := strings.Join(Prepare(hp), "\n")
	for i := 0; i < 2; i++ {
		if out, err := exec.Command("sh", "-c", "umask 022\n"+script).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s\n%s", err, out, script)
		}
		if i == 0 {
			if err := os.WriteFile(hp[1].Path, []byte("{\"kept\":1}"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	fi, err := os.Stat(hp[0].Path)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v, %v; want a 0700 directory", fi, err)
	}
	b, err := os.ReadFile(hp[1].Path)
	if err != nil || string(b) != "{\"kept\":1}" {
		t.Errorf("file = %q, %v; an existing file must be kept", b, err)
	}
	fi, _ = os.Stat(hp[1].Path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	os.Remove(hp[1].Path)
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if b, _ := os.ReadFile(hp[1].Path); string(b) != "{}" {
		t.Errorf("new file holds %q, want {} exactly", b)
	}
}
