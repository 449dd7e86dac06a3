package main

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/launchcli/launch/guard"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// protectedOf is the list of protected workspace paths (guard.Defaults,
// plus protect, minus unprotect), any user config file that lies in the
// workspace, so that the agent cannot rewrite the settings of its next
// launch, and what git's configuration names in the workspace for git to
// run (gitRunsOf: core.hooksPath, core.fsmonitor).
func protectedOf(o *options, h *Host, ws workspace, g gitLayout) ([]string, error) {
	add := append([]string{}, o.Protect...)
	if o.userConfig != "" {
		if target, ok := ws.m().Inside(o.userConfig); ok && target != ws.target {
			rel, _ := filepath.Rel(ws.target, target)
			add = append(add, rel)
		}
	}
	add = append(add, gitRunsOf(h, ws, g)...)
	rels, err := guard.Paths(add, o.Unprotect)
	if err != nil {
		return nil, usagef("%s: %w", o.from.of("unprotect", 0), err)
	}
	return rels, nil
}

// gitRunsOf lists the workspace paths (relative) that git's configuration
// names as a command or a directory of hooks: core.hooksPath (husky's
// .husky/_, say) and core.fsmonitor, in the repository's config files and
// the user's and the system's. The agent must not rewrite what host git
// runs. The files are parsed, not given to git (guard.ReadGitConfig).
func gitRunsOf(h *Host, ws workspace, g gitLayout) []string {
	files := g.configFiles(ws)
	xdg := h.Getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		xdg = filepath.Join(h.Home, ".config")
	}
	files = append(files, filepath.Join(h.Home, ".gitconfig"), filepath.Join(xdg, "git", "config"), "/etc/gitconfig")
	var out []string
	for _, f := range files {
		s := guard.ReadGitConfig(h.ReadFile, f, h.Home)
		values := guard.Values(s, "core.hookspath")
		for _, v := range guard.Values(s, "core.fsmonitor") {
			if !gitBool(v) {
				values = append(values, strings.Fields(v)[0])
			}
		}
		for _, v := range values {
			switch {
			case v == "":
				continue
			case strings.HasPrefix(v, "~/"):
				v = filepath.Join(h.Home, v[2:])
			case !filepath.IsAbs(v):
				// Relative to the top of the worktree, where git runs hooks.
				v = filepath.Join(ws.real, v)
			}
			if rel, err := filepath.Rel(ws.real, filepath.Clean(v)); err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				out = append(out, filepath.ToSlash(rel))
			}
		}
	}
	return out
}

// gitBool reports whether v is one of git's boolean spellings.
func gitBool(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "true", "false", "yes", "no", "on", "off", "1", "0":
		return true
	}
	return false
}

// protectMounts mounts each protected path that exists read-only over the
// writable workspace, at the place its links lead to in the workspace. A
// path that is already read-only or masked (by --ro, --mask, a read-only
// workspace) or lies under another mount needs nothing; one whose links
// leave the workspace is outside the agent's reach already, and the
// fingerprint after the session catches a link that is replaced. A git
// directory (.git) is pinned in place by a writable mount of itself, so
// that the agent can neither rename nor replace it, and each of its
// guarded entries is mounted read-only (gitReadOnly): the agent commits,
// and changes nothing git runs.
//
// With --isolate, a worktree's .git file becomes a git directory of the
// copy's own when the session starts: nothing of it exists to mount now,
// and the fingerprint of the copy (taken then) guards it.
func protectMounts(rels []string, h *Host, ws workspace, g gitLayout, isolate bool, have []plan.Mount, add func(plan.Mount, fmt.Stringer) error) error {
	for _, rel := range rels {
		if rel == guard.GitDir && g.file && isolate {
			continue
		}
		real, err := h.EvalSymlinks(filepath.Join(ws.host, filepath.FromSlash(rel)))
		if err != nil {
			continue // absent: the fingerprint after the session covers it
		}
		target, ok := ws.m().Inside(real)
		if !ok || target == ws.target || !writableIn(target, have) {
			continue
		}
		fi, err := h.Stat(real)
		if err != nil {
			continue
		}
		if path.Base(rel) == guard.GitDir && fi.IsDir() {
			if err := gitDirMounts(h, real, target, add); err != nil {
				return err
			}
			// The .git of each submodule the index lists: git status at the
			// top looks into it, with its own configuration.
			for _, sub := range guard.SubmoduleGitDirs(h.ReadFile, real) {
				src := filepath.Join(filepath.Dir(real), filepath.FromSlash(sub))
				if r, err := h.EvalSymlinks(src); err != nil || r != src {
					continue // absent, or a link: the fingerprint covers it
				}
				t, ok := ws.m().Inside(src)
				sfi, err := h.Stat(src)
				if err != nil || !ok || !writableIn(t, have) {
					continue
				}
				if sfi.IsDir() {
					err = gitDirMounts(h, src, t, add)
				} else {
					err = add(plan.Mount{Kind: plan.MountBind, Source: src, Target: t, ReadOnly: true, File: true, Origin: plan.OriginProtect}, nil)
				}
				if err != nil {
					return err
				}
			}
			continue
		}
		if err := add(plan.Mount{Kind: plan.MountBind, Source: real, Target: target, ReadOnly: true, File: !fi.IsDir(), Origin: plan.OriginProtect}, nil); err != nil {
			return err
		}
	}
	return nil
}

// gitDirMounts pins the git directory src in place at target with a
// writable mount of itself, and mounts each of its guarded entries
// read-only.
func gitDirMounts(h *Host, src, target string, add func(plan.Mount, fmt.Stringer) error) error {
	if err := add(plan.Mount{Kind: plan.MountBind, Source: src, Target: target, Origin: plan.OriginProtect}, nil); err != nil {
		return err
	}
	return gitReadOnly(h, src, target, add)
}

// writableIn reports whether target lies in a writable part of the
// workspace mount: the deepest mount at or above it is the workspace, and
// it is writable.
func writableIn(target string, have []plan.Mount) bool {
	var deepest *plan.Mount
	for i, m := range have {
		if mounts.Within(target, m.Target) && (deepest == nil || len(m.Target) > len(deepest.Target)) {
			deepest = &have[i]
		}
	}
	return deepest != nil && deepest.Origin == plan.OriginWorkspace && !deepest.ReadOnly
}
