package trust

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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
	if st, _ := s.Check("/p/.launch.toml", []byte("a")); st != Unknown {
		t.Errorf("empty store: status %v", st)
	}
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	s.Add("/p/.launch.toml", []byte("a"), now)
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
	st, r := s2.Check("/p/.launch.toml", []byte("a"))
	if st != Trusted || !r.Trusted.Equal(now) {
		t.Errorf("reloaded: %v %+v", st, r)
	}
	if st, _ := s2.Check("/p/.launch.toml", []byte("a ")); st != Changed {
		t.Errorf("changed content: status %v, want Changed", st)
	}
	if !s2.Remove("/p/.launch.toml") || s2.Remove("/p/.launch.toml") {
		t.Error("Remove: want true, then false")
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, os.ReadFile); err == nil {
		t.Error("Load of a broken store: no error")
	}
}
