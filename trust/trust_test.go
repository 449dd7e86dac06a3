package trust

import (
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFile(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if got := File(getenv, "/home/ana"); got != "/home/ana/.local/state/launch/trust.json" {
		t.Errorf("File() = %q", got)
	}
	env["XDG_STATE_HOME"] = "/state"
	if got := File(getenv, "/home/ana"); got != "/state/launch/trust.json" {
		t.Errorf("File() = %q", got)
	}
	env["XDG_STATE_HOME"] = "relative" // the spec says to ignore it
	if got := File(getenv, "/home/ana"); got != "/home/ana/.local/state/launch/trust.json" {
		t.Errorf("File() = %q", got)
	}
}

func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "launch", "trust.json")
	s, err := Load(path, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	key := Key("/p")
	widens := []string{`line 1: mounts: mounts "data" (a link to "/d") from outside the workspace, read-only`}
	if st, _, _ := s.Check(key, []byte("a"), widens); st != Unknown {
		t.Errorf("empty store: status %v", st)
	}
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	s.Add(key, []byte("a"), widens, now)
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("store mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("store directory mode %v, want 0700", di.Mode().Perm())
	}
	s2, err := Load(path, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     string
		content string
		widens  []string
		want    Status
	}{
		{"same", key, "a", widens, Trusted},
		{"narrower now", key, "a", nil, Trusted},
		{"changed content", key, "a ", widens, Changed},
		{"a link leads elsewhere", key, "a", []string{`line 1: mounts: mounts "data" (a link to "/home/ana/.ssh") from outside the workspace, read-only`}, Widened},
		{"another workspace", Key("/q"), "a", widens, Unknown},
		{"a link to the trusted file", Key("/p/sub"), "a", widens, Unknown},
	}
	for _, tt := range tests {
		st, r, more := s2.Check(tt.key, []byte(tt.content), tt.widens)
		if st != tt.want {
			t.Errorf("%s: status %v, want %v", tt.name, st, tt.want)
		}
		if st == Trusted && !r.Trusted.Equal(now) {
			t.Errorf("%s: reloaded record %+v", tt.name, r)
		}
		if st == Widened && (len(more) != 1 || more[0] != tt.widens[0]) {
			t.Errorf("%s: more = %q", tt.name, more)
		}
	}
	if !s2.Remove(key) || s2.Remove(key) {
		t.Error("Remove: want true, then false")
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, os.ReadFile); err == nil {
		t.Error("Load of a broken store: no error")
	}
}

// TestOutdatedRecord: a record written before records held what the file
// widens is not trusted, whatever the file widens now.
func TestOutdatedRecord(t *testing.T) {
	old := `{"files": {"/p/.launch.toml": {"sha256": "` + Sum([]byte("a")) + `", "trusted": "2026-11-01T12:00:00Z"}}}`
	s, err := Load("/x", func(string) ([]byte, error) { return []byte(old), nil })
	if err != nil {
		t.Fatal(err)
	}
	if st, _, _ := s.Check(Key("/p"), []byte("a"), nil); st != Outdated {
		t.Errorf("status %v, want Outdated", st)
	}
}

// FuzzCheck: whatever the workspace, the content and what it widens, a
// record trusts exactly that content in exactly that workspace (its key is
// the cleaned workspace path), and nothing that widens more; a store
// written and read back says the same.
func FuzzCheck(f *testing.F) {
	f.Add("/home/ana/proj", "/home/ana/other", []byte("mounts = [\"data\"]"), []byte("mounts = [\"data\"] "), "mounts \"data\" (a link to \"/d\")", "mounts \"data\" (a link to \"/e\")")
	f.Add("/p/", "/p/./sub/..", []byte(""), []byte("\x00"), "", "x")
	f.Add("/a/b", "/a/b/.launch.toml/..", []byte("x"), []byte("x"), "w", "w")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, ws, ws2 string, content, content2 []byte, w, w2 string) {
		if !filepath.IsAbs(ws) || !filepath.IsAbs(ws2) {
			t.Skip()
		}
		if k := Key(ws); filepath.Dir(k) != filepath.Clean(ws) || filepath.Base(k) != ".launch.toml" {
			t.Fatalf("Key(%q) = %q: not the workspace's own file", ws, k)
		}
		if (Key(ws) == Key(ws2)) != (filepath.Clean(ws) == filepath.Clean(ws2)) {
			t.Fatalf("Key(%q) = %q, Key(%q) = %q", ws, Key(ws), ws2, Key(ws2))
		}
		path := filepath.Join(dir, "trust.json")
		s := &Store{path: path, Files: map[string]Record{}}
		s.Add(Key(ws), content, []string{w}, time.Unix(0, 0))
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
		s, err := Load(path, os.ReadFile)
		if err != nil {
			t.Fatal(err)
		}
		// What is not valid UTF-8 does not survive the JSON store: it is
		// never trusted (launch trust refuses such a workspace).
		if st, _, _ := s.Check(Key(ws), content, []string{w}); (st == Trusted) != (utf8.ValidString(ws) && utf8.ValidString(w)) {
			t.Fatalf("the trusted content: status %v", st)
		}
		st, _, more := s.Check(Key(ws2), content2, []string{w2})
		var want Status
		switch {
		case Key(ws2) != Key(ws), !utf8.ValidString(ws):
			want = Unknown
		case string(content2) != string(content):
			want = Changed
		case w2 != w, !utf8.ValidString(w2):
			want = Widened
		default:
			want = Trusted
		}
		if st != want {
			t.Fatalf("workspace %q, content %q, widens %q: status %v, want %v", ws2, content2, w2, st, want)
		}
		if want == Widened && (len(more) != 1 || more[0] != w2) {
			t.Fatalf("more = %q, want %q", more, w2)
		}
	})
}
