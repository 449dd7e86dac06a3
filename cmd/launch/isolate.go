package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// defaultIsolateMax is --isolate's size limit when none is set.
const defaultIsolateMax = 2 << 30

var sessionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9-]*-[0-9]{8}-[0-9]{6}-[0-9]+$`) })

// isolationOf decides an isolated session (--isolate): its name, its copy
// and where the result goes, and rebinds every mount of a workspace path to
// the same path of the copy. It reads the host (the workspace's size) and
// writes nothing: the copy is made by a real run (isolateStart).
func isolationOf(o *options, a agent, h *Host, ws workspace, ms []plan.Mount, n *notes) (*plan.Isolation, error) {
	if !o.Isolate {
		if o.Resume != "" {
			return nil, usagef("--resume %q: only with --isolate", o.Resume)
		}
		return nil, nil
	}
	iso := &plan.Isolation{Source: ws.real, MaxBytes: int64(o.IsolateMax)}
	if _, set := o.from["isolate_max"]; !set {
		iso.MaxBytes = defaultIsolateMax
	}
	if fi, err := h.Stat(filepath.Join(ws.real, ".git")); err == nil {
		iso.Git, iso.Worktree = true, !fi.IsDir()
	}
	dir := filepath.Join(stateDir(h), "isolated")
	if o.Resume != "" {
		if !sessionRE().MatchString(o.Resume) {
			return nil, usagef("--resume %q: want a session name such as claude-20261201-154233-4242, as launch printed it", o.Resume)
		}
		iso.Session, iso.Resume = o.Resume, true
		iso.Copy = filepath.Join(dir, iso.Session)
		if fi, err := h.Stat(iso.Copy); err != nil || !fi.IsDir() {
			return nil, usagef("--resume %q: no kept copy at %s; launch keeps one only for an interrupted session", o.Resume, iso.Copy)
		}
		// The record's own check (isolateStart), here too, so that a dry
		// run refuses what the real run would.
		var rec sessionRecord
		if b, err := h.ReadFile(recordPath(iso)); err == nil && json.Unmarshal(b, &rec) == nil && rec.Source != iso.Source {
			return nil, resumeElsewhere(iso, rec)
		}
	} else {
		// The time for people, launch's pid for two launches in one second.
		iso.Session = fmt.Sprintf("%s-%s-%d", a.Name, h.Now().Format("20060102-150405"), h.PID)
		iso.Copy = filepath.Join(dir, iso.Session)
		size, err := h.DiskUsage(ws.real)
		if err != nil {
			return nil, usagef("--isolate: measuring the workspace %q: %w", ws.host, err)
		}
		iso.Bytes = size
		if iso.MaxBytes > 0 && size > iso.MaxBytes {
			return nil, usagef("--isolate: the workspace %q holds %s, more than the limit of %s; raise it with --isolate-max (isolate_max in your config, 0 for none), or run without --isolate", ws.host, plan.FormatBytes(size), plan.FormatBytes(iso.MaxBytes))
		}
	}
	if iso.Git {
		iso.Branch = "launch/" + iso.Session
	} else {
		iso.Result = ws.real + ".launch-" + iso.Session
	}
	for i, m := range ms {
		if m.Kind == plan.MountBind && mounts.Within(m.Source, ws.real) {
			ms[i].Source = iso.Copy + strings.TrimPrefix(m.Source, ws.real)
		}
	}
	n.info("isolate: the agent works on a copy of the workspace at %s", iso.Copy)
	return iso, nil
}

// gitSafe are the arguments of the git commands launch runs in the
// workspace's own repository and in the copy before the agent has had it
// (the snapshot commit): no hooks and no fsmonitor. After the session, no
// git runs with the copy's git directory at all (isolate_git.go).
var gitSafe = []string{"-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"}

// gitIdentity names the commits launch makes: launch made them, not you.
var gitIdentity = []string{"-c", "user.name=launch", "-c", "user.email=launch@localhost"}

// isolateLines are the shell lines of an isolated session, before and
// after the backend's command, as --dry-run prints them.
func isolateLines(iso *plan.Isolation) (before, after []string) {
	git := func(dir string, args ...string) string {
		return shell.Join(append(append([]string{"git"}, gitSafe...), append([]string{"-C", dir}, args...)...))
	}
	commit := func(msg string) string {
		return fmt.Sprintf("%s && { %s || %s; }", git(iso.Copy, "add", "-A"), git(iso.Copy, "diff", "--cached", "--quiet"),
			shell.Join(append(append(append([]string{"git"}, gitSafe...), gitIdentity...), "-C", iso.Copy, "commit", "-q", "--no-verify", "-m", msg)))
	}
	if !iso.Resume {
		before = append(before, "mkdir -p -m 0700 "+shell.Quote(filepath.Dir(iso.Copy)), shell.Join([]string{"cp", "-a", iso.Source + "/.", iso.Copy}))
		if iso.Worktree {
			before = append(before, worktreeLines(iso.Source, iso.Copy)...)
		}
		if iso.Git {
			before = append(before, commit(snapshotMessage(iso)))
		}
	}
	if iso.Git {
		after = append(after, finishLines(iso)...)
	} else {
		after = append(after, shell.Join([]string{"mv", iso.Copy, iso.Result}))
	}
	return before, after
}

// worktreeLines make the copy of a git worktree (or submodule), whose .git
// is a file naming a git directory elsewhere, a repository of its own: a
// clone of the worktree's repository (no hard links: the agent owns the
// copy's objects) on the worktree's HEAD, its index reset to HEAD, so that
// the uncommitted changes show as such. The same lines run in a real run
// and print in a dry run.
func worktreeLines(src, dst string) []string {
	gitDst := func(args ...string) string {
		return shell.Join(append(append(append([]string{"git"}, gitSafe...), "-C", dst), args...))
	}
	return []string{
		shell.Join([]string{"rm", "-f", dst + "/.git"}),
		shell.Join([]string{"git", "clone", "-q", "--bare", "--no-hardlinks", src, dst + "/.git"}),
		gitDst("config", "core.bare", "false"),
		fmt.Sprintf(`%s "$(git -C %s symbolic-ref -q HEAD)" || %s "$(git -C %s rev-parse HEAD)"`,
			gitDst("symbolic-ref", "HEAD"), shell.Quote(src), gitDst("update-ref", "--no-deref", "HEAD"), shell.Quote(src)),
		gitDst("reset", "-q"),
	}
}

func snapshotMessage(iso *plan.Isolation) string {
	return "launch: the workspace's uncommitted changes, as copied for session " + iso.Session
}

func resultMessage(iso *plan.Isolation) string {
	return "launch: what the agent left uncommitted in session " + iso.Session
}

// sessionRecord is what launch keeps next to a copy, for --resume.
type sessionRecord struct {
	Source string `json:"source"`
	Base   string `json:"base,omitempty"` // the commit the agent started from
	// WorktreeConfig is the SHA-256 of the copy's .git/config.worktree
	// when the session started ("" when it had none): one that the session
	// creates or changes stops the result (copyGitProblem).
	WorktreeConfig string `json:"worktree_config,omitempty"`
}

func recordPath(iso *plan.Isolation) string { return iso.Copy + ".json" }

// resumeElsewhere refuses --resume of a session that copied another
// workspace.
func resumeElsewhere(iso *plan.Isolation, rec sessionRecord) error {
	return usagef("--resume %s: that session copied %s, not this workspace %s; run launch there", iso.Session, rec.Source, iso.Source)
}

// isolateStart makes the session's copy: into COPY.part, then renamed, so
// that an interrupted copy leaves nothing. In a git repository the copy's
// uncommitted changes are committed first, so that the branch holds only the
// agent's work. A resumed session checks its record instead.
func isolateStart(ctx context.Context, iso *plan.Isolation) (sessionRecord, error) {
	rec := sessionRecord{Source: iso.Source}
	if iso.Resume {
		b, err := os.ReadFile(recordPath(iso))
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err != nil {
			return rec, fmt.Errorf("--resume %s: the session's record: %w", iso.Session, err)
		}
		if rec.Source != iso.Source {
			return rec, resumeElsewhere(iso, rec)
		}
		return rec, nil
	}
	if _, err := os.Stat(iso.Copy); err == nil {
		return rec, fmt.Errorf("--isolate: %s exists already (a session of the same name); launch again", iso.Copy)
	}
	if err := os.MkdirAll(filepath.Dir(iso.Copy), 0o700); err != nil {
		return rec, err
	}
	part := iso.Copy + ".part"
	fail := func(err error) (sessionRecord, error) {
		os.RemoveAll(part)
		os.Remove(recordPath(iso))
		if c := context.Cause(ctx); c != nil {
			return rec, c
		}
		return rec, err
	}
	os.RemoveAll(part)
	if out, err := exec.CommandContext(ctx, "cp", "-a", iso.Source+"/.", part).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("--isolate: copying %s to %s: %v: %s", iso.Source, part, err, strings.TrimSpace(string(out))))
	}
	if iso.Worktree {
		for _, line := range worktreeLines(iso.Source, part) {
			if out, err := exec.CommandContext(ctx, "sh", "-c", line).CombinedOutput(); err != nil {
				return fail(fmt.Errorf("--isolate: making the worktree's copy a repository: %s: %v: %s", line, err, strings.TrimSpace(string(out))))
			}
		}
	}
	if iso.Git {
		base, err := commitAll(ctx, part, snapshotMessage(iso))
		if err != nil {
			return fail(err)
		}
		rec.Base = base
		rec.WorktreeConfig = fileSum(filepath.Join(part, ".git", "config.worktree"))
	}
	b, _ := json.Marshal(rec)
	if err := os.WriteFile(recordPath(iso), b, 0o600); err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return fail(nil)
	}
	if err := os.Rename(part, iso.Copy); err != nil {
		return fail(err)
	}
	return rec, nil
}

// commitAll commits everything in the repository dir (if anything changed)
// and returns HEAD, "" when the repository has no commit.
func commitAll(ctx context.Context, dir, msg string) (string, error) {
	git := func(args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, "git", append(append(append([]string{}, gitSafe...), "-C", dir), args...)...)
	}
	if out, err := git("add", "-A").CombinedOutput(); err != nil {
		return "", fmt.Errorf("git add -A in %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
	if err := git("diff", "--cached", "--quiet").Run(); err != nil {
		args := append(append([]string{}, gitIdentity...), "commit", "-q", "--no-verify", "-m", msg)
		if out, err := git(args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("git commit in %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
		}
	}
	out, err := git("rev-parse", "-q", "--verify", "HEAD").Output()
	if err != nil {
		return "", nil // no commit yet
	}
	return strings.TrimSpace(string(out)), nil
}

// isolateFinish brings the session's result back and removes the copy: in
// a git repository it commits what the agent left on top of the copy's
// HEAD, in launch's own git directory and never with the copy's git
// configuration (isolate_git.go), and fetches that commit into the
// workspace's repository as the branch (git writes the ref last, in one
// step); otherwise it moves the copy next to the workspace.
// The workspace's working tree and index are never touched.
func isolateFinish(ctx context.Context, w io.Writer, iso *plan.Isolation, rec sessionRecord) error {
	if !iso.Git {
		if err := moveDir(iso.Copy, iso.Result); err != nil {
			return keptError(iso, fmt.Errorf("--isolate: moving the copy to %s: %w", iso.Result, err))
		}
		os.Remove(recordPath(iso))
		fmt.Fprintf(w, "launch: the workspace is not a git repository, so the agent's copy comes back as a new directory: %s\nlaunch: compare it: diff -ru %s %s\n", iso.Result, shell.Quote(iso.Source), shell.Quote(iso.Result))
		return nil
	}
	if why := copyGitProblem(iso.Copy, rec); why != "" {
		return keptError(iso, fmt.Errorf("--isolate: launch did not bring the session's work back: %s. Launch runs no git with a git directory the agent could rewrite; look at %s, remove what the session planted, and go on (--resume) or take the files by hand", why, filepath.Join(iso.Copy, ".git")))
	}
	g := launchGitDir(iso)
	defer os.RemoveAll(g)
	head, _, err := buildResult(context.WithoutCancel(ctx), iso, resultMessage(iso))
	if err != nil {
		return keptError(iso, err)
	}
	if head == rec.Base || head == "" {
		os.RemoveAll(iso.Copy)
		os.Remove(recordPath(iso))
		fmt.Fprintf(w, "launch: the agent changed nothing; no branch was made\n")
		return nil
	}
	if ctx.Err() != nil {
		return keptError(iso, context.Cause(ctx))
	}
	// Not cancelled by a signal from here on: the ref is written last and
	// whole, and the copy goes only after it.
	if err := fetchResult(iso, head); err != nil {
		return keptError(iso, err)
	}
	os.RemoveAll(iso.Copy)
	os.Remove(recordPath(iso))
	base := rec.Base
	if base == "" {
		fmt.Fprintf(w, "launch: the agent's work is on the branch %s\nlaunch: review: git log -p %s\n", iso.Branch, iso.Branch)
	} else {
		short := base[:min(12, len(base))]
		fmt.Fprintf(w, "launch: the agent's work is on the branch %s (on top of %s)\nlaunch: review: git log -p %s..%s   or   git diff %s %s\nlaunch: take it: git merge %s   drop it: git branch -D %s\n",
			iso.Branch, short, short, iso.Branch, short, iso.Branch, iso.Branch, iso.Branch)
	}
	return nil
}

// keptError says that the copy was kept and how to go on with it.
func keptError(iso *plan.Isolation, err error) error {
	return fmt.Errorf("%w\nlaunch: the session's copy is kept at %s; go on with it: launch --isolate --resume %s AGENT; or remove it: rm -rf %s %s",
		err, iso.Copy, iso.Session, shell.Quote(iso.Copy), shell.Quote(recordPath(iso)))
}

// moveDir renames src to dst, or copies and removes it across file systems.
func moveDir(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s exists", dst)
	}
	err := os.Rename(src, dst)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		os.RemoveAll(dst)
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return os.RemoveAll(src)
}
