// Package mounts turns mount specs ("HOST", "HOST:CTR", "HOST:CTR:ro"),
// --ro and --mask paths into plan.Mounts, and keeps the list consistent:
// identical mounts are merged, two sources for one target are refused, and
// unintended nesting is reported.
//
// It imports plan and the standard library only. File-system facts come in
// through an FS, so callers (and tests) decide what "exists" means. Every
// host path is resolved with its symbolic links before it is checked or
// rendered: a link can make a path that reads as inside the workspace point
// anywhere.
package mounts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/launchcli/launch/plan"
)

// ErrSpec is wrapped by every error about a malformed spec or path.
var ErrSpec = errors.New("bad mount")

// StatFunc reports on a host path; os.Stat fits.
type StatFunc func(path string) (fs.FileInfo, error)

// FS is what this package reads of the host file system.
type FS struct {
	// Stat follows links; os.Stat fits.
	Stat StatFunc
	// EvalSymlinks returns the path with every symbolic link resolved, or an
	// error when it does not exist; filepath.EvalSymlinks fits.
	EvalSymlinks func(path string) (string, error)
}

// OS is the machine's own file system.
var OS = FS{Stat: os.Stat, EvalSymlinks: filepath.EvalSymlinks}

// Workspace is the workspace as this package checks paths against it.
type Workspace struct {
	// Host is the workspace's host path as the user knows it (the working
	// directory); Real is the same with every link resolved.
	Host, Real string
	// Target is the workspace's path inside the container.
	Target string
}

// Inside maps a resolved host path inside the workspace to its container
// path; ok is false for a path outside it.
func (w Workspace) Inside(real string) (target string, ok bool) {
	rel, err := filepath.Rel(w.Real, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return "", false
	}
	return filepath.Join(w.Target, rel), true
}

// Spec is one parsed mount spec.
type Spec struct {
	// Host is the host path as written (maybe relative, maybe "~/...").
	Host string
	// Container is the container path; empty means the same as the resolved
	// host path.
	Container string
	ReadOnly  bool
}

// String formats s the way ParseSpec reads it.
func (s Spec) String() string {
	out := s.Host
	if s.Container != "" || s.ReadOnly {
		out += ":" + s.Container
	}
	if s.ReadOnly {
		out += ":ro"
	}
	return out
}

// ParseSpec parses HOST, HOST:CTR or HOST:CTR:ro (also HOST:CTR:rw, and
// HOST::ro for a read-only mount at the same path).
func ParseSpec(s string) (Spec, error) {
	if strings.TrimSpace(s) == "" {
		return Spec{}, plan.Errorf(ErrSpec, "mount spec %q: empty; want HOST, HOST:CTR or HOST:CTR:ro", s)
	}
	if strings.ContainsAny(s, ",\n\x00") {
		return Spec{}, plan.Errorf(ErrSpec, "mount spec %q: paths may not contain ',' or a newline (the engines' mount syntax cannot carry them)", s)
	}
	parts := strings.Split(s, ":")
	sp := Spec{Host: parts[0]}
	switch len(parts) {
	case 1:
	case 2:
		sp.Container = parts[1]
	case 3:
		sp.Container = parts[1]
		switch parts[2] {
		case "ro":
			sp.ReadOnly = true
		case "rw":
		default:
			return Spec{}, plan.Errorf(ErrSpec, "mount spec %q: option %q: want ro or rw", s, parts[2])
		}
	default:
		return Spec{}, plan.Errorf(ErrSpec, "mount spec %q: too many ':'; want HOST, HOST:CTR or HOST:CTR:ro (paths may not contain ':')", s)
	}
	if sp.Host == "" {
		return Spec{}, plan.Errorf(ErrSpec, "mount spec %q: empty host path", s)
	}
	if sp.Container != "" && !strings.HasPrefix(sp.Container, "/") {
		return Spec{}, plan.Errorf(ErrSpec, "mount spec %q: container path %q must be absolute", s, sp.Container)
	}
	return sp, nil
}

// Expand resolves a host path: "~" and "~/..." against home, a relative path
// against cwd; the result is clean and absolute.
func Expand(p, cwd, home string) string {
	switch {
	case p == "~":
		p = home
	case strings.HasPrefix(p, "~/"):
		p = filepath.Join(home, p[2:])
	case !filepath.IsAbs(p):
		p = filepath.Join(cwd, p)
	}
	return filepath.Clean(p)
}

// Resolve turns a Spec into a bind mount: the host path is expanded and must
// exist. The source is rendered with its links resolved (what the engine
// would bind anyway); the container path defaults to the host path as
// written.
func Resolve(sp Spec, cwd, home string, fsys FS) (plan.Mount, error) {
	src := Expand(sp.Host, cwd, home)
	real, err := fsys.EvalSymlinks(src)
	var fi fs.FileInfo
	if err == nil {
		fi, err = fsys.Stat(real)
	}
	if err != nil {
		return plan.Mount{}, plan.Errorf(ErrSpec, "mount %q: %s; create it or fix the spec", src, describe(err))
	}
	dst := sp.Container
	if dst == "" {
		dst = src
	}
	dst = filepath.Clean(dst)
	if dst == "/" {
		return plan.Mount{}, plan.Errorf(ErrSpec, "mount %q: cannot mount over / in the container", sp.String())
	}
	return plan.Mount{
		Kind:     plan.MountBind,
		Source:   real,
		Target:   dst,
		ReadOnly: sp.ReadOnly,
		File:     !fi.IsDir(),
		Origin:   plan.OriginUser,
	}, nil
}

// Sub resolves a --ro or --mask path: with its links resolved, it must lie
// strictly inside the workspace and exist. host is the resolved path and
// target its place in the container: a link inside the workspace that points
// elsewhere in it protects what it points to, and one that leaves the
// workspace is refused. flag names the option for messages ("--ro",
// "--mask").
func Sub(flag, p string, ws Workspace, fsys FS) (host, target string, isDir bool, err error) {
	host = filepath.Clean(p)
	if !filepath.IsAbs(host) {
		host = filepath.Join(ws.Host, host)
	}
	if !Within(host, ws.Host) {
		return "", "", false, plan.Errorf(ErrSpec, "%s %q: not inside the workspace %q; give a path inside it", flag, p, ws.Host)
	}
	real, err := fsys.EvalSymlinks(host)
	if err != nil {
		return "", "", false, plan.Errorf(ErrSpec, "%s %q: %s; it must exist inside the workspace", flag, host, describe(err))
	}
	target, ok := ws.Inside(real)
	switch {
	case !ok:
		return "", "", false, plan.Errorf(ErrSpec, "%s %q: a symbolic link makes it %q, outside the workspace %q; give the path inside the workspace, or mount the other place with --mount", flag, p, real, ws.Real)
	case target == ws.Target:
		return "", "", false, plan.Errorf(ErrSpec, "%s %q: is the workspace itself; use --global-read-only for a read-only workspace", flag, p)
	}
	fi, err := fsys.Stat(real)
	if err != nil {
		return "", "", false, plan.Errorf(ErrSpec, "%s %q: %s; it must exist inside the workspace", flag, host, describe(err))
	}
	return real, target, fi.IsDir(), nil
}

func describe(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// List is an ordered set of mounts being built up.
type List struct {
	mounts []plan.Mount
}

// Add appends m. An identical mount already present is dropped (the first
// one stays, where it was); another mount at the same target is an error.
// A mount that a later one hides counts for neither: m goes on top of what
// hides it (a read-only re-mount of a path that another mount shows again
// must not be merged into a mount nobody sees).
func (l *List) Add(m plan.Mount) error {
	for i, o := range l.mounts {
		if o.Target != m.Target || l.hiddenBy(i) >= 0 {
			continue
		}
		if o.Kind == m.Kind && o.Source == m.Source && o.ReadOnly == m.ReadOnly {
			return nil
		}
		if o.Kind == m.Kind && o.Source == m.Source {
			// The same bind asked for twice, once read-only: the safer wins.
			l.mounts[i].ReadOnly = true
			return nil
		}
		return plan.Errorf(ErrSpec, "mount conflict at %q: %s (%s) and %s (%s); remove one or give one another container path",
			m.Target, describeMount(o), o.Origin, describeMount(m), m.Origin)
	}
	l.mounts = append(l.mounts, m)
	return nil
}

func describeMount(m plan.Mount) string {
	if m.Kind == plan.MountMask {
		return "a mask"
	}
	return fmt.Sprintf("%q", m.Source)
}

// Mounts returns the container's effective mounts, in the order they are
// made. The rule, the same for every backend: mounts apply in the order
// they were added, so a mount at or above the target of an earlier one
// hides it completely; the hidden one is left out (Shadowed lists it). What
// remains has every parent before its children, which is the order every
// engine mounts in, whatever order it is given.
func (l *List) Mounts() []plan.Mount {
	var out []plan.Mount
	for i, m := range l.mounts {
		if l.hiddenBy(i) < 0 {
			out = append(out, m)
		}
	}
	return out
}

// Shadowed returns the mounts that a later mount hides, each with the one
// that hides it.
func (l *List) Shadowed() (hidden, by []plan.Mount) {
	for i, m := range l.mounts {
		if j := l.hiddenBy(i); j >= 0 {
			hidden, by = append(hidden, m), append(by, l.mounts[j])
		}
	}
	return hidden, by
}

// hiddenBy is the index of the first later mount whose target is at or
// above mount i's, or -1.
func (l *List) hiddenBy(i int) int {
	for j := i + 1; j < len(l.mounts); j++ {
		if within(l.mounts[i].Target, l.mounts[j].Target) {
			return j
		}
	}
	return -1
}

// Warnings lists, sorted, what the user may not have meant: a mount hidden
// by a later one, and a bind that puts other host content inside another
// mount. Masks and read-only re-mounts of a parent's own content (--ro,
// --mask) are what the user asked for and are not reported.
func (l *List) Warnings() []string {
	var out []string
	hidden, by := l.Shadowed()
	for i, m := range hidden {
		out = append(out, fmt.Sprintf("mount %s at %q is hidden by the later mount %s at %q, so it is not made", describeMount(m), m.Target, describeMount(by[i]), by[i].Target))
	}
	ms := l.Mounts()
	for _, inner := range ms {
		if inner.Kind == plan.MountMask {
			continue
		}
		for _, outer := range ms {
			if !within(inner.Target, outer.Target) || remount(inner, outer) {
				continue
			}
			out = append(out, fmt.Sprintf("mount %q at %q lies inside mount %s at %q: the inner one shadows part of the outer",
				inner.Source, inner.Target, describeMount(outer), outer.Target))
		}
	}
	sort.Strings(out)
	return out
}

// remount reports whether inner binds outer's own content at the same
// place (a read-only sub-directory of the workspace, say).
func remount(inner, outer plan.Mount) bool {
	if outer.Kind != plan.MountBind {
		return false
	}
	rel, err := filepath.Rel(outer.Target, inner.Target)
	return err == nil && inner.Source == filepath.Join(outer.Source, rel)
}

// within reports whether p is strictly below dir.
func within(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}

// Within reports whether path p is dir or lies below it.
func Within(p, dir string) bool { return p == dir || within(p, dir) }
