package main

import (
	"fmt"
	"path/filepath"

	"github.com/launchcli/launch/guard"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// protectedOf is the list of protected workspace paths (guard.Defaults,
// plus protect, minus unprotect) and any user config file that lies in the
// workspace, so that the agent cannot rewrite the settings of its next
// launch.
func protectedOf(o *options, ws workspace) ([]string, error) {
	rels, err := guard.Paths(o.Protect, o.Unprotect)
	if err != nil {
		return nil, usagef("%s: %w", o.from.of("unprotect", 0), err)
	}
	if o.userConfig != "" {
		if target, ok := ws.m().Inside(o.userConfig); ok && target != ws.target {
			rel, _ := filepath.Rel(ws.target, target)
			if rels, err = guard.Paths(append(o.Protect, rel), o.Unprotect); err != nil {
				return nil, usagef("%w", err)
			}
		}
	}
	return rels, nil
}

// protectMounts mounts each protected path that exists read-only over the
// writable workspace, at the place its links lead to in the workspace. A
// path that is already read-only or masked (by --ro, --mask, a read-only
// workspace) or lies under another mount needs nothing; one whose links
// leave the workspace is outside the agent's reach already, and the
// fingerprint after the session catches a link that is replaced.
func protectMounts(rels []string, h *Host, ws workspace, have []plan.Mount, add func(plan.Mount, fmt.Stringer) error) error {
	for _, rel := range rels {
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
		if err := add(plan.Mount{Kind: plan.MountBind, Source: real, Target: target, ReadOnly: true, File: !fi.IsDir(), Origin: plan.OriginProtect}, nil); err != nil {
			return err
		}
	}
	return nil
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
