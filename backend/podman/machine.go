package podman

import (
	"path"
	"strings"
)

// Machine is a podman machine: the Linux VM in which Podman on macOS runs
// its service. A bind mount reaches the container only through a directory
// the machine shares with the Mac, at the same path.
type Machine struct {
	// Arch is the machine's architecture: the Mac's ("arm64" on Apple
	// Silicon). An image for another one runs under emulation.
	Arch string
	// Shares are the Mac directories the machine mounts at the same path:
	// the machine's own list (MachineConfig.Shares), else Podman's
	// defaults (DefaultShares). Empty: no check.
	Shares []string
}

// DefaultShares are the directories a podman machine shares by default on
// macOS (`podman machine init` without -v), for the home directory home:
// /Users, /private (with /tmp and /var under it) and /var/folders since
// Podman 5 (containers/common's getDefaultMachineVolumes for darwin), and
// the home directory, Podman 4's default, when it is not under /Users. An
// external disk under /Volumes is not among them.
func DefaultShares(home string) []string {
	shares := []string{"/Users", "/private", "/var/folders"}
	if home = path.Clean(home); home != "." && home != "/" && home != "/Users" && !strings.HasPrefix(home, "/Users/") {
		shares = append([]string{home}, shares...)
	}
	return shares
}

// macLinks are macOS's fixed symbolic links at the root: the machine sees
// the target paths, not the links.
var macLinks = map[string]string{"/tmp": "/private/tmp", "/var": "/private/var", "/etc": "/private/etc"}

// macPath is p with macOS's root links resolved ("/tmp/x" is
// "/private/tmp/x"). It reads nothing: the links are fixed by the system.
func macPath(p string) string {
	for link, target := range macLinks {
		if p == link || strings.HasPrefix(p, link+"/") {
			return target + strings.TrimPrefix(p, link)
		}
	}
	return p
}

// hostPath is the source of a bind mount as the machine names it, and a
// warning (note) when no share holds it: the service would then create an
// empty directory in the VM, or fail, and the agent would not see the
// Mac's files.
func (m *Machine) hostPath(src string, note func(string, ...any)) string {
	resolved := macPath(src)
	if len(m.Shares) == 0 {
		return resolved
	}
	for _, sh := range m.Shares {
		for _, cand := range []string{src, resolved} {
			if sh = path.Clean(sh); cand == sh || strings.HasPrefix(cand, strings.TrimSuffix(sh, "/")+"/") {
				return resolved
			}
		}
	}
	note("warning: mount %q is outside what the podman machine shares with this Mac (%s), so the agent would not see it; move it under your home directory, or share it: `podman machine stop; podman machine set -v %s:%s` (Podman Desktop: Settings > Resources > the machine's volumes), then `podman machine start`",
		src, strings.Join(m.Shares, ", "), resolved, resolved)
	return resolved
}

// platformNote warns when the image is for another architecture than the
// machine's: it runs under emulation.
func (m *Machine) platformNote(imageArch string, note func(string, ...any)) {
	if m.Arch == "" || imageArch == "" || imageArch == m.Arch {
		return
	}
	note("warning: platform linux/%s on a %s podman machine runs under emulation (Rosetta or QEMU): slower, and some programs fail; use an image built for linux/%s when there is one (--arch)", imageArch, m.Arch, m.Arch)
}
