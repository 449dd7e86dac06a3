package main

import (
	"fmt"
	"path"
	"path/filepath"

	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// overlay is one workspace path that the container must not show as it is:
// read-only (protected, --ro) or hidden (--mask).
type overlay struct {
	host   string // its host path, links resolved, inside the workspace
	mask   bool
	file   bool
	origin string // a plan.Origin* constant
}

// resolveMount resolves mount i of the settings; one from the project file
// must lead where it led when the file was reviewed.
func (o *options) resolveMount(i int, sp mounts.Spec, h *Host) (plan.Mount, error) {
	mt, err := mounts.Resolve(sp, h.Cwd, h.Home, h.fs())
	if err == nil && o.from.of("mounts", i).project {
		err = o.asReviewed(sp.Host, mt.Source, h)
	}
	return mt, err
}

// asReviewed refuses a host path that the project file names when its
// links now lead elsewhere than when launch reviewed the file, moments
// before: what is mounted or read is what was judged (and trusted).
func (o *options) asReviewed(p, real string, h *Host) error {
	want, ok := o.reviewed[mounts.Expand(p, h.Cwd, h.Home)]
	if !ok || want == real {
		return nil
	}
	return usagef("%q now leads to %q, not to %q as when launch reviewed the project file: something changed it while launch started; look at the workspace, then run launch again", p, real, want)
}

// protectAll mounts the protected paths read-only on the workspace, then
// carries them, the --ro paths and the masks to every other mount of the
// workspace's content.
func protectAll(rels []string, h *Host, ws workspace, g gitLayout, isolate bool, list *mounts.List, add func(plan.Mount, fmt.Stringer) error) error {
	if err := protectMounts(rels, h, ws, g, isolate, list.Mounts(), add); err != nil {
		return err
	}
	return carryOverlays(rels, h, ws, list.Mounts(), add)
}

// carryOverlays makes workspace content look the same at every container
// path that shows it. A mount of the workspace, of a path inside it or of
// a parent of it (".:/w", "..:/up") shows the same files a second time;
// without this, .git/hooks, .git/config and .launch.toml would be writable
// there, and a --mask'ed file readable. Each protected path, --ro path and
// --mask that such a mount shows is made again at its place under that
// mount; a mount of a path inside one of them is made read-only (or, under
// a mask, refused as a conflict). So a second mount of the workspace, the
// user's or a project file's, gives the agent nothing that the workspace
// mount does not, and a project file may add one without trust.
func carryOverlays(rels []string, h *Host, ws workspace, have []plan.Mount, add func(plan.Mount, fmt.Stringer) error) error {
	ovs := overlaysOf(rels, h, ws, have)
	for i, m := range have {
		switch {
		case m.Kind != plan.MountBind:
			continue
		case m.Origin == plan.OriginWorkspace, m.Origin == plan.OriginProtect, m.Origin == plan.OriginReadOnly:
			continue // the workspace's own overlays sit on it already
		}
		for _, o := range ovs {
			src, target := o.host, ""
			switch {
			case mounts.Within(o.host, m.Source):
				rel, _ := filepath.Rel(m.Source, o.host)
				target = path.Join(m.Target, filepath.ToSlash(rel))
			case mounts.Within(m.Source, o.host):
				src, target = m.Source, m.Target
			default:
				continue
			}
			if deepest(target, have) != i || (m.ReadOnly && !o.mask) {
				continue // another mount shows something else there, or nothing is writable
			}
			mt := plan.Mount{Kind: plan.MountBind, Source: src, Target: target, ReadOnly: true, File: o.file, Origin: o.origin}
			if src != o.host {
				mt.File = m.File
			}
			if o.mask {
				mt = plan.Mount{Kind: plan.MountMask, Target: target, ReadOnly: true, File: mt.File, Origin: plan.OriginMask}
			}
			if err := add(mt, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// overlaysOf lists the workspace paths to carry: the protected ones that
// exist (whether or not the workspace mount itself needed them read-only),
// and the --ro and --mask mounts on the workspace.
func overlaysOf(rels []string, h *Host, ws workspace, have []plan.Mount) []overlay {
	var out []overlay
	for _, rel := range rels {
		real, err := h.EvalSymlinks(filepath.Join(ws.host, filepath.FromSlash(rel)))
		if err != nil {
			continue
		}
		fi, err := h.Stat(real)
		if _, in := ws.m().Inside(real); err != nil || !in {
			continue
		}
		out = append(out, overlay{host: real, file: !fi.IsDir(), origin: plan.OriginProtect})
	}
	for _, m := range have {
		switch m.Origin {
		case plan.OriginReadOnly:
			out = append(out, overlay{host: m.Source, file: m.File, origin: m.Origin})
		case plan.OriginMask:
			if rel, err := filepath.Rel(ws.target, m.Target); err == nil && mounts.Within(m.Target, ws.target) {
				out = append(out, overlay{host: filepath.Join(ws.real, filepath.FromSlash(rel)), mask: true, file: m.File, origin: m.Origin})
			}
		}
	}
	return out
}

// deepest is the index of the mount that shows target: the deepest one at
// or above it (in an effective list, a later mount never sits above an
// earlier one at the same place), or -1.
func deepest(target string, have []plan.Mount) int {
	best := -1
	for i, m := range have {
		if mounts.Within(target, m.Target) && (best < 0 || len(m.Target) > len(have[best].Target)) {
			best = i
		}
	}
	return best
}
