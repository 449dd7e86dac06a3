//go:build integration

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The adversarial git suite of issue 22, items 1, 2 and 6: the agent,
// inside a real container, tries each way it has to make the user's next
// host git run a command (git metadata beyond .git/config and .git/hooks,
// a .git replaced by a file or a link), or to widen the next session
// (a .git file naming a host directory). Each test runs host git after the
// session, with a fixed environment, and asserts that the planted command
// left no marker, and that nothing outside the workspace was mounted or
// renamed. On Docker, rootless and rootful Podman, and Apptainer, each with
// the Debian image and the host's git mounted in (the agent commits).

// gitGuardBackends are the backends under test, each with the Debian
// image: Docker, rootless Podman (uid 1000), rootful Podman (launch as
// root) and Apptainer (uid 1000, unprivileged).
func gitGuardBackends() []e2eBackend {
	var out []e2eBackend
	for _, b := range networkBackends() {
		if b.name == "docker-runsc" {
			continue
		}
		if b.name == "podman-rootful" {
			b.debian = append(append([]string{}, backendNamed(backendPodman).debian...), "--url", "unix:///run/podman/podman.sock")
		}
		b.flags = append(append([]string{}, b.debian...), "--mount", "/usr/bin/git:/usr/bin/git:ro")
		out = append(out, b)
	}
	return out
}

func forEachGitGuardBackend(t *testing.T, f func(t *testing.T, s *session)) {
	for _, b := range gitGuardBackends() {
		t.Run(string(b.name), func(t *testing.T) { f(t, newNetSession(t, b)) })
	}
}

// hostGit runs the user's git on the host, in dir, as the session's user,
// with a fixed environment: the session's home, no system config, and
// every directory safe (rootful Podman's agent writes as root).
func (s *session) hostGit(dir string, args ...string) (string, error) {
	c := s.command("git", append([]string{"-c", "safe.directory=*", "-c", "user.name=u", "-c", "user.email=u@e", "-c", "protocol.file.allow=always"}, args...)...)
	c.Dir = dir
	c.Env = append(append([]string{}, s.env...), "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	out, err := c.CombinedOutput()
	return string(out), err
}

// mustGit is hostGit that fails the test on an error.
func (s *session) mustGit(dir string, args ...string) string {
	s.t.Helper()
	out, err := s.hostGit(dir, args...)
	if err != nil {
		s.t.Fatalf("git %q in %s: %v: %s", args, dir, err, out)
	}
	return out
}

// markers is a directory outside the workspace where a planted command
// leaves a file named after its attack.
func (s *session) markers() string {
	d := filepath.Join(s.home, "markers")
	s.write(filepath.Join(d, ".keep"), "")
	return d
}

// fsmonitor is a git config section that runs a command writing the
// marker name in dir whenever git looks at the worktree.
func fsmonitor(dir, name string) string {
	return fmt.Sprintf("[core]\n\tfsmonitor = \"echo pwned >> %s; false\"\n", filepath.Join(dir, name))
}

// afterSession runs what a user does next on the host (git status, and a
// commit, which runs the pre-commit hook) and reports which markers
// appeared.
func (s *session) afterSession(markers string) []string {
	s.t.Helper()
	s.hostGit(s.ws, "status")
	s.hostGit(s.ws, "commit", "-q", "--allow-empty", "-m", "host")
	entries, err := os.ReadDir(markers)
	if err != nil {
		s.t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Name() != ".keep" {
			got = append(got, e.Name())
		}
	}
	return got
}

// newRepo makes the workspace a git repository with one commit.
func (s *session) newRepo() {
	s.t.Helper()
	s.write(filepath.Join(s.ws, "README"), "hello\n")
	s.mustGit(s.ws, "init", "-q", "-b", "main")
	s.mustGit(s.ws, "add", "README")
	s.mustGit(s.ws, "commit", "-q", "-m", "first")
}

// TestE2EGitMetadataVariants: in one session the agent plants a command in
// a submodule's config (.git/modules/sub/config), in .git/config.worktree
// (extensions.worktreeConfig is on), in the directory core.hooksPath names
// (.husky), in a git directory of its own that the submodule's .git file
// is made to name, and in a repository of its own that it adds to the
// index as a submodule (git status at the top looks into it); each tries
// the direct write, then renaming the parent and writing a fresh copy.
// Host git after the session runs none of them, and the agent's own commit
// is there: git works inside.
func TestE2EGitMetadataVariants(t *testing.T) {
	forEachGitGuardBackend(t, func(t *testing.T, s *session) {
		m := s.markers()
		src := filepath.Join(s.home, "subsrc")
		s.write(filepath.Join(src, "a"), "a\n")
		s.mustGit(src, "init", "-q", "-b", "main")
		s.mustGit(src, "add", "a")
		s.mustGit(src, "commit", "-q", "-m", "a")
		s.newRepo()
		s.mustGit(s.ws, "submodule", "add", "-q", src, "sub")
		s.mustGit(s.ws, "submodule", "add", "-q", src, "sub2")
		s.mustGit(s.ws, "config", "extensions.worktreeConfig", "true")
		s.mustGit(s.ws, "config", "core.hooksPath", ".husky")
		s.write(filepath.Join(s.ws, ".husky/README"), "hooks\n")
		s.mustGit(s.ws, "add", "-A")
		s.mustGit(s.ws, "commit", "-q", "-m", "sub")
		hook := "#!/bin/sh\necho pwned >> " + filepath.Join(m, "hookspath") + "\n"
		script := `set +e
git -c user.name=a -c user.email=a@e commit -q --allow-empty -m agent && echo COMMITTED
plant() { printf '%s' "$2" >> "$1" 2>/dev/null && echo "WROTE $1"; }
f=.git/modules/sub/config
plant $f '` + fsmonitor(m, "modules") + `' || { mv .git/modules/sub .git/modules/sub.old && cp -a .git/modules/sub.old .git/modules/sub && plant $f '` + fsmonitor(m, "modules") + `'; }
plant .git/config.worktree '` + fsmonitor(m, "worktree") + `'
plant .husky/pre-commit '` + hook + `' || { mv .husky .husky.old && mkdir .husky && plant .husky/pre-commit '` + hook + `'; }
chmod +x .husky/pre-commit 2>/dev/null
mkdir -p subgd/objects subgd/refs && echo 'ref: refs/heads/main' > subgd/HEAD && printf '%s' '` + fsmonitor(m, "subgitfile") + `' > subgd/config
{ echo "gitdir: ../subgd" > sub2/.git; } 2>/dev/null || { mv sub2/.git sub2/.git.old && echo "gitdir: ../subgd" > sub2/.git; }
git init -q nested && git -C nested -c user.name=a -c user.email=a@e commit -q --allow-empty -m n && printf '%s' '` + fsmonitor(m, "gitlink") + `' >> nested/.git/config && git update-index --add --cacheinfo 160000,$(git -C nested rev-parse HEAD),nested && echo GITLINK
true`
		out, errs, code := s.run("", "--yes", "shell", script)
		if code != 0 || !strings.Contains(out, "COMMITTED") || !strings.Contains(out, "GITLINK") {
			t.Fatalf("the agent's session: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		if got := s.afterSession(m); len(got) != 0 {
			t.Errorf("host git ran what the agent planted: markers %q; session stdout:\n%s\nstderr:\n%s", got, out, errs)
		}
		if log := s.mustGit(s.ws, "log", "--format=%s"); !strings.Contains(log, "agent\n") {
			t.Errorf("the agent's commit is not in the host's log:\n%s\nstderr:\n%s", log, errs)
		}
		for _, quiet := range []string{".git/index", ".git/objects", ".git/refs", ".git/logs", ".git/HEAD"} {
			if strings.Contains(errs, quiet+" (") {
				t.Errorf("launch moved aside git's own data %s:\n%s", quiet, errs)
			}
		}
	})
}

// TestE2EGitCommondir: the agent writes .git/commondir naming a directory
// of its own whose config sets core.fsmonitor; host git after the session
// runs nothing, and launch reports the file it moved aside.
func TestE2EGitCommondir(t *testing.T) {
	forEachGitGuardBackend(t, func(t *testing.T, s *session) {
		m := s.markers()
		s.newRepo()
		script := `mkdir -p evil/objects evil/refs && printf '%s' '` + fsmonitor(m, "commondir") + `' > evil/config && echo ../evil > .git/commondir && echo PLANTED`
		out, errs, code := s.run("", "--yes", "shell", script)
		if code != 0 || !strings.Contains(out, "PLANTED") {
			t.Fatalf("the agent's session: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		if got := s.afterSession(m); len(got) != 0 {
			t.Errorf("host git ran what the agent planted: markers %q; stderr:\n%s", got, errs)
		}
		if !strings.Contains(errs, ".git/commondir (created) -> ") {
			t.Errorf("stderr does not report the moved .git/commondir:\n%s", errs)
		}
	})
}

// TestE2EGitReplacedByFile: the agent moves .git away and writes a .git
// file naming a git directory of its own. The workspace's .git stays the
// user's repository and host git runs nothing.
func TestE2EGitReplacedByFile(t *testing.T) {
	forEachGitGuardBackend(t, func(t *testing.T, s *session) {
		m := s.markers()
		s.newRepo()
		script := `mkdir -p gd/objects gd/refs && echo 'ref: refs/heads/main' > gd/HEAD && printf '%s' '` + fsmonitor(m, "gitfile") + `' > gd/config
if mv .git .git-old 2>/dev/null; then echo "gitdir: $PWD/gd" > .git && echo REPLACED; else echo refused; fi`
		out, errs, code := s.run("", "--yes", "shell", script)
		if code != 0 {
			// Still look at what host git does next.
			t.Errorf("the agent's session: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		if got := s.afterSession(m); len(got) != 0 {
			t.Errorf("host git ran what the agent planted: markers %q; stdout:\n%s\nstderr:\n%s", got, out, errs)
		}
		if fi, err := os.Lstat(filepath.Join(s.ws, ".git")); err != nil || !fi.IsDir() {
			t.Errorf("the workspace's .git is no longer the user's repository (%v); stdout:\n%s\nstderr:\n%s", err, out, errs)
		}
	})
}

// TestE2EGitLinkedOutside: in a workspace with no repository the agent
// makes .git a link to a host directory outside the workspace (that holds
// a hooks directory and a config, as a .git would). launch moves the link
// aside and renames nothing outside the workspace.
func TestE2EGitLinkedOutside(t *testing.T) {
	forEachGitGuardBackend(t, func(t *testing.T, s *session) {
		outside := filepath.Join(s.home, "outside")
		s.write(filepath.Join(outside, "hooks/keep"), "host file\n")
		s.write(filepath.Join(outside, "config"), "host file\n")
		out, errs, code := s.run("", "--yes", "shell", "ln -s "+outside+" .git && echo LINKED")
		if code != 0 || !strings.Contains(out, "LINKED") {
			t.Fatalf("the agent's session: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		entries, err := os.ReadDir(outside)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !reflect.DeepEqual(names, []string{"config", "hooks"}) {
			t.Errorf("launch renamed files outside the workspace: %s now holds %q; stderr:\n%s", outside, names, errs)
		}
		if _, err := os.Lstat(filepath.Join(s.ws, ".git")); err == nil {
			t.Errorf("the planted .git link is still in place; stderr:\n%s", errs)
		}
		if !strings.Contains(errs, ".git (created) -> ") {
			t.Errorf("stderr does not report the moved .git link:\n%s", errs)
		}
	})
}

// TestE2EGitdirFileRefused: a .git file naming ~/.ssh or /var/run (what
// an agent writes for the next session) is refused before anything
// starts: nothing is mounted, the container never runs.
func TestE2EGitdirFileRefused(t *testing.T) {
	forEachGitGuardBackend(t, func(t *testing.T, s *session) {
		s.write(filepath.Join(s.home, ".ssh/id_test"), "SECRET-KEY\n")
		for _, tt := range []struct{ gitdir, probe, want string }{
			{filepath.Join(s.home, ".ssh"), "cat " + filepath.Join(s.home, ".ssh/id_test"), "a store of credentials"},
			{"/var/run", "ls /var/run/", "a system directory"},
		} {
			s.write(filepath.Join(s.ws, ".git"), "gitdir: "+tt.gitdir+"\n")
			out, errs, code := s.run("", "--yes", "shell", "echo STARTED; "+tt.probe)
			if code != 2 || strings.Contains(out, "STARTED") || !strings.Contains(errs, tt.want) {
				t.Errorf("gitdir: %s: exit %d, stdout:\n%s\nstderr:\n%s", tt.gitdir, code, out, errs)
			}
		}
	})
}
