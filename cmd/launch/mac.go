package main

import (
	"strings"

	"github.com/launchcli/launch/backend/podman"
	"github.com/launchcli/launch/internal/health"
)

// On macOS the engines run Linux in a virtual machine: Podman's is the
// podman machine, which shares some Mac directories with it at the same
// paths. These functions hold what launch does differently there; they
// read only Host, so tests run them on Linux with GOOS=darwin facts.

// podmanMachine is the podman machine a Podman plan renders for on a Mac
// (nil elsewhere): the Mac's architecture, and the directories the
// machine shares, as its own file lists them, else Podman's defaults.
func podmanMachine(h *Host, url string) *podman.Machine {
	if h.GOOS != "darwin" {
		return nil
	}
	m := &podman.Machine{Arch: h.GOARCH, Shares: podman.DefaultShares(h.Home)}
	ph := podmanHost(h)
	ph.URL = url
	if _, mc, ok, _ := ph.Machine(); ok && len(mc.Shares) > 0 {
		m.Shares = mc.Shares
	}
	return m
}

// macDoctor adds to the Podman report on a Mac which connection launch
// uses and to which machine, whether that is rootful, what the machine
// shares, and where the Linux build of launch that an allowlist's proxy
// sidecar runs is, for arch (the image's) and for the machine's own
// architecture, with the command that installs a missing one.
func macDoctor(r *health.Report, h *Host, url, arch string) {
	if h.GOOS != "darwin" || r.Backend != "podman" {
		return
	}
	ph := podmanHost(h)
	ph.URL = url
	ep, mc, ok, err := ph.Machine()
	switch {
	case err != nil:
		r.Warn(err.Error(), "check the machine with `podman machine inspect`")
	case ep.URI == "":
		eps, _ := podman.Endpoints(ph)
		if len(eps) > 0 {
			r.Add("connection", eps[0].String())
		}
		r.Add("machine", "none: this connection is not a podman machine's")
	default:
		r.Add("connection", ep.String())
		mode := "rootless"
		if ep.Rootful() || mc.Rootful {
			mode = "rootful (podman machine set --rootful)"
		}
		name := mc.Name
		if ok {
			name += " (" + mc.File + ")"
		}
		r.Add("machine", name+", "+mode)
		shares, from := mc.Shares, "its file"
		if !ok || len(shares) == 0 {
			shares, from = podman.DefaultShares(h.Home), "Podman's defaults; the machine's file was not found"
		}
		r.Add("machine shares", strings.Join(shares, ", ")+" ("+from+"); a project elsewhere needs `podman machine set -v DIR:DIR`")
	}
	if arch == "" {
		arch = h.GOARCH
	}
	arches := []string{arch}
	if arch != h.GOARCH {
		arches = append(arches, h.GOARCH) // --arch of the machine's own
	}
	// The warning for the image's architecture is networkHealth's.
	for _, a := range arches {
		what := "launch-linux-" + a
		if bin, err := linuxBinary(h, a); err == nil {
			r.Add(what, bin)
			continue
		}
		use := "the proxy sidecar of --network allow=... needs it for linux/" + a + " images (the default image's platform)"
		if a != arch {
			use = "needed only for --network allow=... with --arch " + a + " (images built for the machine, no emulation)"
		}
		r.Add(what, "missing: "+use+"; install it: "+linuxBinaryFix(a))
	}
}

// doctorArch is the architecture of the image agentName would use (empty:
// the host's), which the sidecar's Linux binary must match.
func doctorArch(o *options, h *Host, agentName string) string {
	a, ok := o.Agents[agentName]
	if !ok {
		return ""
	}
	img, _, err := imageOf(o, a, h, &notes{})
	if err != nil {
		return ""
	}
	return img.Platform.Arch
}
