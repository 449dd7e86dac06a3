package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// gitMounts makes git work inside when the workspace is a git worktree or
// a submodule: its .git is then a file ("gitdir: PATH") naming a git
// directory outside the workspace, whose objects and refs live in the
// common directory (PATH/commondir). Both are mounted at their own paths,
// read-only unless git_dir_writable is set; even then the common
// directory's hooks and config stay read-only (they run code on the host).
func gitMounts(o *options, h *Host, ws workspace, add func(plan.Mount, fmt.Stringer) error, n *notes) error {
	dotgit := filepath.Join(ws.real, ".git")
	fi, err := h.Stat(dotgit)
	if err != nil || fi.IsDir() {
		return nil // a plain repository, or none
	}
	if o.Isolate {
		n.info("git: the workspace is a git worktree or submodule; with --isolate its copy becomes a repository of its own (cloned from it), so its git directory is not mounted")
		return nil
	}
	b, err := h.ReadFile(dotgit)
	if err != nil {
		return nil
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	gitdir, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "gitdir:")
	if !ok {
		return nil
	}
	gitdir = strings.TrimSpace(gitdir)
	if !filepath.IsAbs(gitdir) {
		gitdir = filepath.Join(ws.real, gitdir)
	}
	gitdir, err = h.EvalSymlinks(gitdir)
	if err != nil {
		n.warn("%s names the git directory %q, which does not exist; git will not work inside", dotgit, gitdir)
		return nil
	}
	common := gitdir
	if c, err := h.ReadFile(filepath.Join(gitdir, "commondir")); err == nil {
		dir := strings.TrimSpace(string(c))
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(gitdir, dir)
		}
		if real, err := h.EvalSymlinks(dir); err == nil {
			common = real
		}
	}
	if _, inside := ws.m().Inside(common); inside {
		return nil // already in the workspace mount
	}
	rw := o.GitDirWritable
	dirs := []string{common}
	if !mounts.Within(gitdir, common) {
		dirs = append(dirs, gitdir)
	}
	for _, d := range dirs {
		if err := add(plan.Mount{Kind: plan.MountBind, Source: d, Target: d, ReadOnly: !rw, Origin: plan.OriginGit}, nil); err != nil {
			return err
		}
	}
	if rw {
		for _, p := range []string{"hooks", "config"} {
			x := filepath.Join(common, p)
			if fi, err := h.Stat(x); err == nil {
				if err := add(plan.Mount{Kind: plan.MountBind, Source: x, Target: x, ReadOnly: true, File: !fi.IsDir(), Origin: plan.OriginProtect}, nil); err != nil {
					return err
				}
			}
		}
	}
	mode := "read-only: git can read history and status, not commit (set git_dir_writable = true, or --git-dir-writable, to commit)"
	if rw {
		mode = "writable, its hooks and config read-only"
	}
	n.info("git: the workspace is a git worktree or submodule; its git directory %s is mounted %s", common, mode)
	return nil
}
