package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/launchcli/launch/guard"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// gitLayout is the workspace's git repository as launch found it on the
// host, before the session.
type gitLayout struct {
	// file is set when the workspace's .git is a file ("gitdir: PATH"): a
	// git worktree or a submodule.
	file bool
	// gitdir is the git directory a .git file names, resolved and checked
	// (gitDirOf); common its common directory (PATH/commondir: the main
	// repository's .git for a linked worktree; gitdir itself otherwise).
	// Both empty for a plain repository, or none.
	gitdir, common string
}

// configFiles are the repository's own git config files (config, and
// config.worktree, which git reads once extensions.worktreeConfig is on;
// launch reads it whether or not).
func (g gitLayout) configFiles(ws workspace) []string {
	switch {
	case g.file && g.gitdir == "":
		return nil
	case g.file:
		return []string{filepath.Join(g.common, "config"), filepath.Join(g.gitdir, "config.worktree")}
	}
	dir := filepath.Join(ws.real, guard.GitDir)
	return []string{filepath.Join(dir, "config"), filepath.Join(dir, "config.worktree")}
}

// gitLayoutOf reads the workspace's .git. A .git file is followed only into
// a git directory that names this workspace as its worktree (gitDirOf);
// anything else is refused before the session, since launch would mount
// it. With --isolate nothing is mounted, and a .git file is only checked.
func gitLayoutOf(h *Host, ws workspace, n *notes) (gitLayout, error) {
	dotgit := filepath.Join(ws.real, guard.GitDir)
	fi, err := h.Stat(dotgit)
	if err != nil || fi.IsDir() {
		return gitLayout{}, nil // a plain repository, or none
	}
	g := gitLayout{file: true}
	b, err := h.ReadFile(dotgit)
	if err != nil {
		return g, nil
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	gitdir, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "gitdir:")
	if !ok {
		n.warn("%s is a file but not \"gitdir: PATH\"; git will not work inside", dotgit)
		return g, nil
	}
	gitdir = strings.TrimSpace(gitdir)
	if !filepath.IsAbs(gitdir) {
		gitdir = filepath.Join(ws.real, gitdir)
	}
	real, err := h.EvalSymlinks(gitdir)
	if err != nil {
		n.warn("%s names the git directory %q, which does not exist; git will not work inside", dotgit, gitdir)
		return g, nil
	}
	if g.gitdir, g.common, err = gitDirOf(h, ws, real); err != nil {
		return gitLayout{}, usagef("%s names the git directory %q: %v; launch mounts only the git directory of a worktree or submodule that names this workspace back; fix the file (git worktree repair, git submodule absorbgitdirs) or remove it", dotgit, gitdir, err)
	}
	return g, nil
}

// gitDirOf checks the git directory gitdir (resolved) that the
// workspace's .git file names, and returns it with its common directory.
// A .git file is the agent's to write, and the next launch mounts what it
// names: so the directory must be a real git directory (HEAD; objects/ and
// refs/ in its common directory) that names this workspace as its worktree
// (its gitdir file, for a linked worktree; core.worktree, for a
// submodule), and neither it nor its common directory may be the home
// directory or above it, a secret store, a system directory (/run, /proc,
// ...), or hold a socket.
func gitDirOf(h *Host, ws workspace, gitdir string) (string, string, error) {
	common := gitdir
	if c, err := h.ReadFile(filepath.Join(gitdir, "commondir")); err == nil {
		dir := strings.TrimSpace(string(c))
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(gitdir, dir)
		}
		real, err := h.EvalSymlinks(dir)
		if err != nil {
			return "", "", fmt.Errorf("its commondir %q does not exist", dir)
		}
		common = real
	}
	for _, d := range []string{gitdir, common} {
		if err := notSensitive(h, d); err != nil {
			return "", "", err
		}
	}
	if fi, err := h.Stat(filepath.Join(gitdir, "HEAD")); err != nil || !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("not a git directory (no HEAD)")
	}
	for _, sub := range []string{"objects", "refs"} {
		if fi, err := h.Stat(filepath.Join(common, sub)); err != nil || !fi.IsDir() {
			return "", "", fmt.Errorf("not a git directory (no %s/ in %q)", sub, common)
		}
	}
	if !namesWorkspace(h, ws, gitdir) {
		return "", "", fmt.Errorf("it does not name this workspace as its worktree (no gitdir file naming %q, no core.worktree naming %q)", filepath.Join(ws.real, guard.GitDir), ws.real)
	}
	return gitdir, common, nil
}

// namesWorkspace reports whether the git directory gitdir names the
// workspace as its worktree: a linked worktree's gitdir file holds the
// path of the workspace's .git file; a submodule's config sets
// core.worktree (relative to gitdir) to the workspace.
func namesWorkspace(h *Host, ws workspace, gitdir string) bool {
	same := func(p string) bool {
		real, err := h.EvalSymlinks(p)
		return err == nil && real == ws.real
	}
	if b, err := h.ReadFile(filepath.Join(gitdir, "gitdir")); err == nil {
		p := strings.TrimSpace(string(b))
		if !filepath.IsAbs(p) {
			p = filepath.Join(gitdir, p)
		}
		if filepath.Base(p) == guard.GitDir && same(filepath.Dir(p)) {
			return true
		}
	}
	for _, wt := range guard.Values(guard.ReadGitConfig(h.ReadFile, filepath.Join(gitdir, "config"), h.Home), "core.worktree") {
		if !filepath.IsAbs(wt) {
			wt = filepath.Join(gitdir, wt)
		}
		if same(wt) {
			return true
		}
	}
	return false
}

// systemDirs hold the host's sockets and kernel interfaces; no git
// directory that launch mounts lies there.
var systemDirs = []string{"/run", "/var/run", "/proc", "/sys", "/dev"}

// credentialDirs are agents' credential directories, relative to the home
// directory.
var credentialDirs = []string{".codex", ".claude", ".pi", ".config/launch"}

// notSensitive refuses a directory that launch must not mount for a git
// directory: the root, the home directory or a directory above it, a
// secret store or credential directory, a system directory, or one that
// holds a socket.
func notSensitive(h *Host, dir string) error {
	home := filepath.Clean(h.Home)
	if home != "" {
		if realHome, err := h.EvalSymlinks(home); err == nil {
			home = realHome
		}
	}
	switch {
	case dir == "/" || filepath.Dir(dir) == dir:
		return fmt.Errorf("it is the root directory")
	case home != "" && mounts.Within(home, dir):
		return fmt.Errorf("it is or holds your home directory %q", home)
	}
	for _, s := range append(append([]string{}, secretStores...), credentialDirs...) {
		if home != "" && mounts.Within(dir, filepath.Join(home, s)) {
			return fmt.Errorf("it lies in %q, a store of credentials", filepath.Join(home, s))
		}
	}
	for _, s := range systemDirs {
		if mounts.Within(dir, s) {
			return fmt.Errorf("it lies in %q, a system directory", s)
		}
	}
	if h.ReadDir != nil {
		entries, _ := h.ReadDir(dir)
		for _, e := range entries {
			if e.Type()&fs.ModeSocket != 0 {
				return fmt.Errorf("it holds a socket, %q", filepath.Join(dir, e.Name()))
			}
		}
	}
	return nil
}

// gitMounts makes git work inside when the workspace is a git worktree or
// a submodule: its .git is then a file ("gitdir: PATH") naming a git
// directory outside the workspace, whose objects and refs live in the
// common directory (PATH/commondir). Both are mounted at their own paths,
// read-only unless git_dir_writable is set; even then everything in them
// but the data git writes (guard.GitWritable) stays read-only.
func gitMounts(o *options, h *Host, g gitLayout, ws workspace, add func(plan.Mount, fmt.Stringer) error, n *notes) error {
	if !g.file || g.gitdir == "" {
		return nil
	}
	if o.Isolate {
		n.info("git: the workspace is a git worktree or submodule; with --isolate its copy becomes a repository of its own (cloned from it), so its git directory is not mounted")
		return nil
	}
	if _, inside := ws.m().Inside(g.common); inside {
		return nil // already in the workspace mount
	}
	rw := o.GitDirWritable
	for _, d := range g.gitDirs() {
		if err := add(plan.Mount{Kind: plan.MountBind, Source: d, Target: d, ReadOnly: !rw, Origin: plan.OriginGit}, nil); err != nil {
			return err
		}
	}
	if rw {
		for _, d := range g.gitDirs() {
			if err := gitReadOnly(h, d, d, add); err != nil {
				return err
			}
		}
	}
	mode := "read-only: git can read history and status, not commit (set git_dir_writable = true, or --git-dir-writable, to commit)"
	if rw {
		mode = "writable, all but its objects, refs, logs, index and HEAD read-only"
	}
	n.info("git: the workspace is a git worktree or submodule; its git directory %s is mounted %s", g.common, mode)
	return nil
}

// gitDirs are the git directories a .git file leads to: the common
// directory, and the worktree's own git directory where it lies elsewhere
// (gitdir inside common is a unit of common's: worktrees/NAME,
// modules/NAME). gitMounts mounts them; with git_dir_writable they are
// what the session may write, and what is fingerprinted.
func (g gitLayout) gitDirs() []string {
	if !g.file || g.gitdir == "" {
		return nil
	}
	out := []string{g.common}
	if !mounts.Within(g.gitdir, g.common) {
		out = append(out, g.gitdir)
	}
	return out
}

// gitReadOnly mounts read-only, at target, each guarded entry of the git
// directory src (guard.GitUnits): everything but the data git writes.
func gitReadOnly(h *Host, src, target string, add func(plan.Mount, fmt.Stringer) error) error {
	if h.ReadDir == nil {
		return nil
	}
	units, err := guard.GitUnits(h.ReadDir, src)
	if err != nil {
		return usagef("git directory %q: %w", src, err)
	}
	for _, u := range units {
		s := filepath.Join(src, filepath.FromSlash(u))
		if real, err := h.EvalSymlinks(s); err != nil || real != s {
			continue // a link: the fingerprint after the session covers it
		}
		fi, err := h.Stat(s)
		if err != nil {
			continue
		}
		t := filepath.Join(target, filepath.FromSlash(u))
		if err := add(plan.Mount{Kind: plan.MountBind, Source: s, Target: t, ReadOnly: true, File: !fi.IsDir(), Origin: plan.OriginProtect}, nil); err != nil {
			return err
		}
	}
	return nil
}
