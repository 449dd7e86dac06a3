// Package mounts turns mount specs ("HOST", "HOST:CTR", "HOST:CTR:ro"),
// --ro and --mask paths into plan.Mounts, and keeps the list consistent:
// identical mounts are merged, two sources for one target are refused, and
// unintended nesting is reported.
//
// It imports plan and the standard library only. File-system facts come in
// through a StatFunc, so callers (and tests) decide what "exists" means.
package mounts

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/launchcli/launch/plan"
)

// ErrSpec is wrapped by every error about a malformed spec or path.
var ErrSpec = errors.New("bad mount")

// StatFunc reports on a host path; os.Stat fits.
type StatFunc func(path string) (fs.FileInfo, error)

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
		return Spec{}, fmt.Errorf("mount spec %q: empty; want HOST, HOST:CTR or HOST:CTR:ro: %w", s, ErrSpec)
	}
	if strings.ContainsAny(s, ",\n\x00") {
		return Spec{}, fmt.Errorf("mount spec %q: paths may not contain ',' or a newline (the engines' mount syntax cannot carry them): %w", s, ErrSpec)
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
			return Spec{}, fmt.Errorf("mount spec %q: option %q: want ro or rw: %w", s, parts[2], ErrSpec)
		}
	default:
		return Spec{}, fmt.Errorf("mount spec %q: too many ':'; want HOST, HOST:CTR or HOST:CTR:ro (paths may not contain ':'): %w", s, ErrSpec)
	}
	if sp.Host == "" {
		return Spec{}, fmt.Errorf("mount spec %q: empty host path: %w", s, ErrSpec)
	}
	if sp.Container != "" && !strings.HasPrefix(sp.Container, "/") {
		return Spec{}, fmt.Errorf("mount spec %q: container path %q must be absolute: %w", s, sp.Container, ErrSpec)
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
// exist; the container path defaults to the host path.
func Resolve(sp Spec, cwd, home string, stat StatFunc) (plan.Mount, error) {
	src := Expand(sp.Host, cwd, home)
	fi, err := stat(src)
	if err != nil {
		return plan.Mount{}, fmt.Errorf("mount %q: %s; create it or fix the spec: %w", src, describe(err), ErrSpec)
	}
	dst := sp.Container
	if dst == "" {
		dst = src
	}
	dst = filepath.Clean(dst)
	if dst == "/" {
		return plan.Mount{}, fmt.Errorf("mount %q: cannot mount over / in the container: %w", sp.String(), ErrSpec)
	}
	return plan.Mount{
		Kind:     plan.MountBind,
		Source:   src,
		Target:   dst,
		ReadOnly: sp.ReadOnly,
		File:     !fi.IsDir(),
		Origin:   plan.OriginUser,
	}, nil
}

// Sub resolves a --ro or --mask path: it must lie strictly inside the
// workspace (host path ws, container path wsTarget) and exist. flag names the
// option for messages ("--ro", "--mask").
func Sub(flag, p, ws, wsTarget string, stat StatFunc) (host, target string, isDir bool, err error) {
	host = filepath.Clean(p)
	if !filepath.IsAbs(host) {
		host = filepath.Join(ws, host)
	}
	rel, relErr := filepath.Rel(ws, host)
	if relErr != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", "", false, fmt.Errorf("%s %q: not inside the workspace %q; give a path inside it: %w", flag, p, ws, ErrSpec)
	}
	if rel == "." {
		return "", "", false, fmt.Errorf("%s %q: is the workspace itself; use --global-read-only for a read-only workspace: %w", flag, p, ErrSpec)
	}
	fi, statErr := stat(host)
	if statErr != nil {
		return "", "", false, fmt.Errorf("%s %q: %s; it must exist inside the workspace: %w", flag, host, describe(statErr), ErrSpec)
	}
	return host, filepath.Join(wsTarget, rel), fi.IsDir(), nil
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
func (l *List) Add(m plan.Mount) error {
	for i, o := range l.mounts {
		if o.Target != m.Target {
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
		return fmt.Errorf("mount conflict at %q: %s (%s) and %s (%s); remove one or give one another container path: %w",
			m.Target, describeMount(o), o.Origin, describeMount(m), m.Origin, ErrSpec)
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

// Mounts returns the mounts in order, with --ro and --mask entries placed
// after the mounts they sit on, so that they shadow them.
func (l *List) Mounts() []plan.Mount {
	out := append([]plan.Mount(nil), l.mounts...)
	sort.SliceStable(out, func(i, j int) bool { return overlay(out[i]) < overlay(out[j]) })
	return out
}

func overlay(m plan.Mount) int {
	if m.Origin == plan.OriginReadOnly || m.Origin == plan.OriginMask {
		return 1
	}
	return 0
}

// Warnings lists nested container paths that were not intended: a mount at
// or below another one's target, other than --ro and --mask on the
// workspace. Sorted.
func (l *List) Warnings() []string {
	var out []string
	for _, inner := range l.mounts {
		if overlay(inner) == 1 {
			continue
		}
		for _, outer := range l.mounts {
			if outer.Target == inner.Target || !within(inner.Target, outer.Target) {
				continue
			}
			out = append(out, fmt.Sprintf("mount %q at %q lies inside mount %q at %q: the inner one shadows part of the outer",
				inner.Source, inner.Target, outer.Source, outer.Target))
		}
	}
	sort.Strings(out)
	return out
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
