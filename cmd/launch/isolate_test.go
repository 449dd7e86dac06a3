package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

// TestIsolateFinishKeepsCopy: when the copy of a workspace that is not a
// git repository cannot come back (its result directory exists), the copy
// and its record stay, and the error says how to go on or remove them.
func TestIsolateFinishKeepsCopy(t *testing.T) {
	dir := t.TempDir()
	iso := &plan.Isolation{Session: "codex-20261201-154233-4242", Source: filepath.Join(dir, "ws"),
		Copy: filepath.Join(dir, "copy"), Result: filepath.Join(dir, "ws.launch-x")}
	for _, d := range []string{iso.Copy, iso.Result} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(recordPath(iso), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := isolateFinish(context.Background(), io.Discard, iso, sessionRecord{})
	if err == nil || !strings.Contains(err.Error(), "--resume "+iso.Session) || !strings.Contains(err.Error(), iso.Result+" exists") {
		t.Fatalf("error %v: want the result's clash and how to resume", err)
	}
	for _, p := range []string{iso.Copy, recordPath(iso)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v; the kept copy and its record must stay", p, err)
		}
	}
}

// isoRepo makes a git repository with one commit and an uncommitted
// change, and an isolated session of it, started (the copy made).
func isoRepo(t *testing.T) (*plan.Isolation, sessionRecord, func(dir string, args ...string) string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	git := func(d string, args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", d, "-c", "user.name=t", "-c", "user.email=t@e"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %q: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	ws := filepath.Join(dir, "ws")
	write(t, filepath.Join(ws, "a"), "one\n")
	git(ws, "init", "-q", "-b", "main")
	git(ws, "add", "-A")
	git(ws, "commit", "-q", "-m", "first")
	write(t, filepath.Join(ws, "a"), "one, changed\n")
	iso := &plan.Isolation{Session: "shell-20261201-154233-4242", Source: ws, Git: true,
		Copy: filepath.Join(dir, "state", "shell-20261201-154233-4242")}
	iso.Branch = "launch/" + iso.Session
	rec, err := isolateStart(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	return iso, rec, git
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIsolateFinishRunsNoAgentGitConfig: what the agent writes into the
// copy's git configuration (a clean filter that a .gitattributes asks for,
// gpg.program with commit.gpgsign, fsmonitor, a hook) runs nothing when
// launch brings the work back, and the work still comes back as a branch
// whose files are the copy's as they are on disk.
func TestIsolateFinishRunsNoAgentGitConfig(t *testing.T) {
	iso, rec, git := isoRepo(t)
	marker := filepath.Join(filepath.Dir(iso.Source), "ran")
	script := filepath.Join(filepath.Dir(iso.Source), "evil.sh")
	write(t, script, "#!/bin/sh\ntouch "+marker+"\ncat\n")
	os.Chmod(script, 0o755)
	cfg := filepath.Join(iso.Copy, ".git", "config")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[filter \"x\"]\n\tclean = %s\n\trequired = true\n[gpg]\n\tprogram = %s\n[commit]\n\tgpgsign = true\n[core]\n\tfsmonitor = %s\n\thooksPath = hooks\n[user]\n\tname = agent\n", script, script, script)
	f.Close()
	write(t, filepath.Join(iso.Copy, ".gitattributes"), "* filter=x\n")
	write(t, filepath.Join(iso.Copy, "hooks", "pre-commit"), "#!/bin/sh\ntouch "+marker+"\n")
	os.Chmod(filepath.Join(iso.Copy, "hooks", "pre-commit"), 0o755)
	write(t, filepath.Join(iso.Copy, "b"), "new\n")

	err = isolateFinish(context.Background(), io.Discard, iso, rec)
	if _, serr := os.Stat(marker); serr == nil {
		t.Fatalf("the agent's git configuration ran on the host (finish: %v)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := git(iso.Source, "show", iso.Branch+":b"); got != "new" {
		t.Errorf("branch %s: b = %q", iso.Branch, got)
	}
	if got := git(iso.Source, "diff", "--name-only", iso.Branch+"~1", iso.Branch); got != ".gitattributes\nb\nhooks/pre-commit" {
		t.Errorf("the agent's commit changes %q", got)
	}
	if got := git(iso.Source, "log", "-1", "--format=%an %G?", iso.Branch); got != "launch N" {
		t.Errorf("the result commit: author and signature %q, want launch, unsigned", got)
	}
	for _, p := range []string{iso.Copy, launchGitDir(iso), recordPath(iso)} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is left behind", p)
		}
	}
}

// TestIsolateFinishKeepsAgentCommits: commits the agent made in the copy
// are on the branch, under launch's commit of what it left uncommitted;
// a packed ref is read as well as a loose one.
func TestIsolateFinishKeepsAgentCommits(t *testing.T) {
	iso, rec, git := isoRepo(t)
	write(t, filepath.Join(iso.Copy, "c"), "committed by the agent\n")
	git(iso.Copy, "add", "c")
	git(iso.Copy, "commit", "-q", "-m", "agent's own")
	git(iso.Copy, "pack-refs", "--all")
	write(t, filepath.Join(iso.Copy, "d"), "left\n")
	if err := isolateFinish(context.Background(), io.Discard, iso, rec); err != nil {
		t.Fatal(err)
	}
	if got := git(iso.Source, "log", "--format=%s", "main.."+iso.Branch); got != resultMessage(iso)+"\nagent's own\n"+snapshotMessage(iso) {
		t.Errorf("the branch's commits:\n%s", got)
	}
}

// TestIsolateFinishRefuses: a copy whose .git is a file or a link, or has
// a commondir or a config.worktree the session made, is not read: the
// error says what and how to go on, and the copy stays.
func TestIsolateFinishRefuses(t *testing.T) {
	for name, plant := range map[string]func(g string) error{
		"commondir": func(g string) error {
			return os.WriteFile(filepath.Join(g, "commondir"), []byte("../evil\n"), 0o644)
		},
		"config.worktree": func(g string) error {
			return os.WriteFile(filepath.Join(g, "config.worktree"), []byte("[core]\n\tfsmonitor = /bin/false\n"), 0o644)
		},
		"a file": func(g string) error {
			if err := os.Rename(g, g+".old"); err != nil {
				return err
			}
			return os.WriteFile(g, []byte("gitdir: /tmp/evil\n"), 0o644)
		},
		"a link": func(g string) error {
			if err := os.Rename(g, g+".old"); err != nil {
				return err
			}
			return os.Symlink(g+".old", g)
		},
	} {
		t.Run(name, func(t *testing.T) {
			iso, rec, git := isoRepo(t)
			write(t, filepath.Join(iso.Copy, "b"), "new\n")
			if err := plant(filepath.Join(iso.Copy, ".git")); err != nil {
				t.Fatal(err)
			}
			err := isolateFinish(context.Background(), io.Discard, iso, rec)
			if err == nil || !strings.Contains(err.Error(), "did not bring the session's work back") || !strings.Contains(err.Error(), "--resume "+iso.Session) {
				t.Fatalf("error %v: want a refusal that says how to go on", err)
			}
			if _, err := os.Stat(filepath.Join(iso.Copy, "b")); err != nil {
				t.Errorf("the copy is not kept: %v", err)
			}
			if got := git(iso.Source, "branch", "--list", "launch/*"); got != "" {
				t.Errorf("a branch was made: %q", got)
			}
		})
	}
}

// TestIsolateKeepsUsersConfigWorktree: a config.worktree that the
// workspace had already (git sparse-checkout makes one) is no reason to
// refuse.
func TestIsolateKeepsUsersConfigWorktree(t *testing.T) {
	iso, rec, git := isoRepo(t)
	// As if the user's repository had it: the record holds its sum.
	p := filepath.Join(iso.Copy, ".git", "config.worktree")
	write(t, p, "[core]\n\tsparseCheckout = false\n")
	rec.WorktreeConfig = fileSum(p)
	write(t, filepath.Join(iso.Copy, "b"), "new\n")
	if err := isolateFinish(context.Background(), io.Discard, iso, rec); err != nil {
		t.Fatal(err)
	}
	if got := git(iso.Source, "show", iso.Branch+":b"); got != "new" {
		t.Errorf("b = %q", got)
	}
}

// TestReadHead: HEAD read from files, as git would resolve it; names that
// leave refs/ and links are refused.
func TestReadHead(t *testing.T) {
	id := strings.Repeat("ab", 20)
	other := strings.Repeat("cd", 20)
	for _, c := range []struct {
		name  string
		files map[string]string
		want  string
		err   bool
	}{
		{"detached", map[string]string{"HEAD": id + "\n"}, id, false},
		{"loose", map[string]string{"HEAD": "ref: refs/heads/main\n", "refs/heads/main": id + "\n"}, id, false},
		{"packed", map[string]string{"HEAD": "ref: refs/heads/main\n", "packed-refs": "# pack-refs with: peeled\n" + other + " refs/heads/x\n" + id + " refs/heads/main\n"}, id, false},
		{"loose over packed", map[string]string{"HEAD": "ref: refs/heads/main\n", "refs/heads/main": id, "packed-refs": other + " refs/heads/main\n"}, id, false},
		{"unborn", map[string]string{"HEAD": "ref: refs/heads/main\n"}, "", false},
		{"escape", map[string]string{"HEAD": "ref: refs/../../x\n"}, "", true},
		{"absolute", map[string]string{"HEAD": "ref: /etc/passwd\n"}, "", true},
		{"not an id", map[string]string{"HEAD": "ref: refs/heads/main\n", "refs/heads/main": "hello\n"}, "", true},
		{"no HEAD", map[string]string{}, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, s := range c.files {
				write(t, filepath.Join(dir, p), s)
			}
			got, err := readHead(dir)
			if got != c.want || (err != nil) != c.err {
				t.Errorf("readHead = %q, %v; want %q, error %v", got, err, c.want, c.err)
			}
		})
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "HEAD"), "ref: refs/heads/main\n")
	os.MkdirAll(filepath.Join(dir, "refs", "heads"), 0o755)
	os.Symlink("/etc/hostname", filepath.Join(dir, "refs", "heads", "main"))
	if got, err := readHead(dir); err == nil {
		t.Errorf("a ref that is a link: %q, no error", got)
	}
}

// TestIsolateTakeLeavesUntracked: the printed way to take the agent's work
// brings the agent's changes only: an untracked .env and an uncommitted
// change of the workspace, which launch's snapshot commit holds, stay
// untracked and uncommitted, and nothing of them is committed.
func TestIsolateTakeLeavesUntracked(t *testing.T) {
	iso, _, git := isoRepo(t)
	os.RemoveAll(iso.Copy)
	os.Remove(recordPath(iso))
	write(t, filepath.Join(iso.Source, ".env"), "SECRET=1\n")
	rec, err := isolateStart(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(iso.Copy, "b"), "the agent's\n")
	var out strings.Builder
	if err := isolateFinish(context.Background(), &out, iso, rec); err != nil {
		t.Fatal(err)
	}
	_, take, ok := strings.Cut(out.String(), "take it: ")
	take, _, _ = strings.Cut(take, "   drop it:")
	if !ok || !strings.HasPrefix(take, "git ") {
		t.Fatalf("no take-it command in:\n%s", out.String())
	}
	c := exec.Command("sh", "-c", take)
	c.Dir = iso.Source
	c.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@e", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@e")
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", take, err, b)
	}
	if got := git(iso.Source, "show", "HEAD:b"); got != "the agent's" {
		t.Errorf("the agent's file did not come: %q", got)
	}
	if got := git(iso.Source, "ls-tree", "-r", "--name-only", "HEAD"); strings.Contains(got, ".env") {
		t.Errorf("%s committed the untracked .env: %s", take, got)
	}
	if got := git(iso.Source, "show", "HEAD:a"); got != "one" {
		t.Errorf("%s committed the workspace's uncommitted change of a: %q", take, got)
	}
	if got := git(iso.Source, "status", "--porcelain"); got != "M a\n?? .env" && got != " M a\n?? .env" {
		t.Errorf("after %s, status:\n%s\nwant a modified, .env untracked", take, got)
	}
}
