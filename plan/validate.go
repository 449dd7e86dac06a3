package plan

import (
	"errors"
	"path"
	"strings"
)

// ErrInvalid is wrapped by every error that Validate and the Parse functions
// return: test with errors.Is(err, plan.ErrInvalid).
var ErrInvalid = errors.New("invalid plan")

// ErrUnsupported is wrapped by a backend's error when it cannot honour a part
// of a valid Plan (runsc on Singularity, say). The message names the backend
// and what to use instead.
var ErrUnsupported = errors.New("not supported by this backend")

// Validate checks that p is complete and self-consistent. Each problem is
// reported with the field and value at fault; the errors wrap ErrInvalid.
func (p *Plan) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, Errorf(ErrInvalid, format, args...))
	}
	if p.Image.OCI == "" && p.Image.SIF == "" {
		bad("image: no OCI reference and no SIF")
	}
	if !p.Image.Platform.IsZero() {
		if _, err := ParsePlatform(p.Image.Platform.String()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(p.Argv) == 0 || p.Argv[0] == "" {
		bad("argv: empty command")
	}
	if !isCleanAbs(p.Workdir) {
		bad("workdir %q: want an absolute, clean path", p.Workdir)
	}
	if p.User.UID < 0 || p.User.GID < 0 {
		bad("user %d:%d: ids must not be negative", p.User.UID, p.User.GID)
	}
	if p.Caller.UID < 0 || p.Caller.GID < 0 {
		bad("caller %d:%d: ids must not be negative", p.Caller.UID, p.Caller.GID)
	}
	if _, userPath := p.Lookup("PATH"); userPath && len(p.PathPrepend) > 0 {
		bad("path_prepend: PATH is set in env; put the directories in that PATH instead")
	}
	for _, d := range p.PathPrepend {
		if !isCleanAbs(d) || strings.Contains(d, ":") {
			bad("path_prepend %q: want an absolute, clean container path without ':'", d)
		}
	}
	if !isCleanAbs(p.User.Home) {
		bad("user home %q: want an absolute, clean path", p.User.Home)
	}
	targets := map[string]Mount{}
	for _, m := range p.Mounts {
		switch m.Kind {
		case MountBind:
			if !isCleanAbs(m.Source) {
				bad("mount source %q: want an absolute, clean host path", m.Source)
			}
		case MountMask:
			if m.Source != "" {
				bad("mask %q: a mask has no source", m.Target)
			}
			if !m.ReadOnly {
				bad("mask %q: a mask is read-only", m.Target)
			}
		default:
			bad("mount %q: unknown kind %q", m.Target, m.Kind)
		}
		if !isCleanAbs(m.Target) || m.Target == "/" {
			bad("mount target %q: want an absolute, clean path other than /", m.Target)
		}
		if strings.ContainsAny(m.Source+m.Target, ",:\n") {
			bad("mount %q:%q: paths may not contain ',', ':' or a newline", m.Source, m.Target)
		}
		if prev, dup := targets[m.Target]; dup && prev != m {
			bad("mount target %q: bound twice (%q and %q)", m.Target, prev.Source, m.Source)
		}
		targets[m.Target] = m
	}
	for i, e := range p.Env {
		if !ValidEnvName(e.Name) {
			bad("env name %q: want letters, digits and _, not starting with a digit", e.Name)
		}
		if strings.ContainsRune(e.Value, 0) {
			bad("env %s: value contains a NUL byte", e.Name)
		}
		if i > 0 && p.Env[i-1].Name >= e.Name {
			bad("env %s: names must be sorted and unique", e.Name)
		}
	}
	p.validatePublish(bad)
	switch p.Network.Mode {
	case NetworkOpen, NetworkNone:
		if len(p.Network.Allow) > 0 {
			bad("network %q: an allowlist needs mode allow", p.Network.Mode)
		}
		if p.Network.Proxy != nil || p.Network.Sidecar != nil {
			bad("network %q: a proxy needs mode allow", p.Network.Mode)
		}
	case NetworkAllow:
		if p.Network.Proxy != nil && p.Network.Sidecar != nil {
			bad("network allow: a proxy and a sidecar both set; want one")
		}
		if len(p.Network.Allow) == 0 {
			bad("network allow: empty allowlist")
		}
	default:
		bad("network mode %q: want none, open or allow", p.Network.Mode)
	}
	switch p.Runtime {
	case "", RuntimeRunc, RuntimeRunsc:
	default:
		bad("runtime %q: want runc or runsc", p.Runtime)
	}
	switch p.Pull {
	case "", PullMissing, PullAlways, PullNever:
	default:
		bad("pull %q: want missing, always or never", p.Pull)
	}
	if p.GPUs.All && len(p.GPUs.Devices) > 0 {
		bad("gpus: all and a device list are exclusive")
	}
	p.validateSecurity(bad)
	for _, h := range p.Prepare {
		if !isCleanAbs(h.Path) {
			bad("prepare %q: want an absolute, clean host path", h.Path)
		}
	}
	for _, r := range p.Protected {
		if r == "" || path.IsAbs(r) || path.Clean(r) != r || r == "." || r == ".." || strings.HasPrefix(r, "../") {
			bad("protected %q: want a clean path relative to the workspace, inside it", r)
		}
	}
	for _, d := range p.ProtectedGitDirs {
		if !isCleanAbs(d) {
			bad("protected git directory %q: want an absolute, clean host path", d)
		}
	}
	return errors.Join(errs...)
}

// ValidEnvName reports whether name is a portable environment variable name.
func ValidEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func isCleanAbs(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p
}
