package podman

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
)

// MachineConfig is what launch reads of a podman machine's own file,
// CONFIG/containers/podman/machine/PROVIDER/NAME.json (CONFIG is
// $XDG_CONFIG_HOME or ~/.config; PROVIDER applehv or libkrun with Podman 5,
// qemu with Podman 4): whether it runs rootful and which Mac directories
// it shares.
type MachineConfig struct {
	// Name is the machine's name (podman-machine-default).
	Name string
	// File is the file it was read from; Provider its directory's name.
	File, Provider string
	// Rootful: the machine's default connection is its root one
	// (`podman machine set --rootful`).
	Rootful bool
	// Shares are the Mac directories the machine mounts at the same path
	// (`podman machine init -v SRC:SRC`); nil when the file lists none.
	Shares []string
	// Elsewhere are the mounts at another path in the machine, SRC:DST;
	// launch's bind sources are Mac paths, so these do not serve them.
	Elsewhere []string
}

// machineProviders are the directories a machine's file may be in, in the
// order Podman on macOS prefers them.
var machineProviders = []string{"applehv", "libkrun", "qemu"}

// machineFile is the part of a machine's file launch reads (Podman's
// vmconfigs.MachineConfig).
type machineFile struct {
	Name     string
	HostUser struct{ Rootful bool }
	Mounts   []struct {
		Source, Target string
	}
}

// Machine is the podman machine that the service launch would use runs
// in (the endpoint of Endpoints that is a machine's connection), and its
// file. ok is false when that service is not a machine's, or its file
// cannot be found; err says why a file that exists cannot be read.
func (h Host) Machine() (ep Endpoint, mc MachineConfig, ok bool, err error) {
	eps, err := Endpoints(h)
	if err != nil || len(eps) == 0 || !eps[0].Machine {
		return Endpoint{}, MachineConfig{}, false, err
	}
	ep = eps[0]
	name := machineName(ep.Source)
	if name == "" {
		return ep, MachineConfig{}, false, nil
	}
	dir := h.configHome()
	if dir == "" {
		return ep, MachineConfig{Name: name}, false, nil
	}
	for _, prov := range machineProviders {
		file := filepath.Join(dir, "containers", "podman", "machine", prov, name+".json")
		b, rerr := h.readFile(file)
		if rerr != nil {
			continue
		}
		var f machineFile
		if err := json.Unmarshal(b, &f); err != nil {
			return ep, MachineConfig{Name: name, File: file, Provider: prov}, false, fmt.Errorf("podman machine %q: %s: %w", name, file, err)
		}
		mc := MachineConfig{Name: name, File: file, Provider: prov, Rootful: f.HostUser.Rootful}
		for _, m := range f.Mounts {
			switch {
			case m.Source == "":
			case m.Target == "" || filepath.Clean(m.Target) == filepath.Clean(m.Source):
				mc.Shares = append(mc.Shares, filepath.Clean(m.Source))
			default:
				mc.Elsewhere = append(mc.Elsewhere, m.Source+":"+m.Target)
			}
		}
		return ep, mc, true, nil
	}
	return ep, MachineConfig{Name: name}, false, nil
}

// Rootful reports whether the endpoint is a machine's root connection
// (NAME-root, ssh://root@…), which `podman machine set --rootful` makes
// the default.
func (e Endpoint) Rootful() bool {
	return strings.HasPrefix(e.URI, "ssh://root@") || strings.Contains(e.Source, `-root"`)
}
