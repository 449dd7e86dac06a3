package podman

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

// TestMachine: with a podman machine (macOS), bind sources are named as the
// machine sees them (/tmp is /private/tmp), a source outside the machine's
// shares is a warning that says how to share it, and an amd64 image on an
// arm64 machine is a warning about emulation. Without a machine nothing
// changes.
func TestMachine(t *testing.T) {
	mac := &Machine{Arch: "arm64", Shares: DefaultShares("/Users/ana")}
	volumes := &Machine{Arch: "arm64", Shares: []string{"/Users", "/Volumes/data"}}
	tests := []struct {
		name     string
		machine  *Machine
		source   string
		platform plan.Platform
		want     string   // the rendered bind source
		warnings []string // substrings of the warnings, in order
	}{
		{"home-shared", mac, "/Users/ana/proj", plan.Platform{}, "/Users/ana/proj", nil},
		{"tmp-resolved-shared", mac, "/tmp/proj", plan.Platform{}, "/private/tmp/proj", nil},
		{"private-shared", mac, "/private/etc/x", plan.Platform{}, "/private/etc/x", nil},
		{"other-users-shared", mac, "/Users/bo/proj", plan.Platform{}, "/Users/bo/proj", nil},
		{"users-prefix-not-a-share", mac, "/Usersx/proj", plan.Platform{}, "/Usersx/proj", []string{`mount "/Usersx/proj" is outside`}},
		{"tmp-not-shared", volumes, "/tmp/proj", plan.Platform{}, "/private/tmp/proj", []string{`mount "/tmp/proj" is outside what the podman machine shares`, "podman machine set -v /private/tmp/proj:/private/tmp/proj"}},
		{"volume-shared", volumes, "/Volumes/data/proj", plan.Platform{}, "/Volumes/data/proj", nil},
		{"other-volume-warned", volumes, "/Volumes/other/proj", plan.Platform{}, "/Volumes/other/proj", []string{`mount "/Volumes/other/proj" is outside what the podman machine shares with this Mac (/Users, /Volumes/data)`}},
		{"var-folders-shared", mac, "/var/folders/xy/T/proj", plan.Platform{}, "/private/var/folders/xy/T/proj", nil},
		{"volumes-warned", mac, "/Volumes/data/proj", plan.Platform{}, "/Volumes/data/proj", []string{`mount "/Volumes/data/proj" is outside`, "podman machine set -v /Volumes/data/proj:/Volumes/data/proj"}},
		{"amd64-on-apple-silicon", mac, "/Users/ana/proj", plan.Platform{OS: "linux", Arch: "amd64"}, "/Users/ana/proj", []string{"platform linux/amd64 on a arm64 podman machine runs under emulation"}},
		{"arm64-on-apple-silicon", mac, "/Users/ana/proj", plan.Platform{OS: "linux", Arch: "arm64"}, "/Users/ana/proj", nil},
		{"no-machine", nil, "/tmp/proj", plan.Platform{OS: "linux", Arch: "amd64"}, "/tmp/proj", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := small()
			p.Workspace, p.Workdir = tt.source, tt.source
			p.Mounts = []plan.Mount{{Kind: plan.MountBind, Source: tt.source, Target: tt.source, Origin: plan.OriginWorkspace}}
			p.Image.Platform = tt.platform
			r, err := Render(p, Config{Rootless: true, Machine: tt.machine})
			if err != nil {
				t.Fatal(err)
			}
			var src string
			for _, m := range r.Spec.Mounts {
				if m.Destination == tt.source {
					src = m.Source
				}
			}
			if src != tt.want {
				t.Errorf("bind source %q, want %q", src, tt.want)
			}
			if !slices.Contains(r.Argv, "type=bind,source="+tt.want+",destination="+tt.source) {
				t.Errorf("argv %q lacks the resolved source", r.Argv)
			}
			var warnings []string
			for _, n := range r.Notes() {
				if strings.HasPrefix(n, "warning: ") {
					warnings = append(warnings, n)
				}
			}
			all := strings.Join(warnings, "\n")
			for _, w := range tt.warnings {
				if !strings.Contains(all, w) {
					t.Errorf("warnings %q lack %q", warnings, w)
				}
			}
			if len(tt.warnings) == 0 && len(warnings) > 0 {
				t.Errorf("unexpected warnings %q", warnings)
			}
		})
	}
}

// TestDefaultShares: Podman 5's defaults, and a home directory outside
// /Users (Podman 4 shared the home directory).
func TestDefaultShares(t *testing.T) {
	if got := DefaultShares("/Users/ana"); !slices.Equal(got, []string{"/Users", "/private", "/var/folders"}) {
		t.Errorf("home under /Users: %q", got)
	}
	if got := DefaultShares("/Network/home/ana"); !slices.Equal(got, []string{"/Network/home/ana", "/Users", "/private", "/var/folders"}) {
		t.Errorf("home elsewhere: %q", got)
	}
}

// TestMachineConfig: the machine behind the default connection is found
// in its own file, under any provider, with whether it is rootful and the
// directories it shares at the same path.
func TestMachineConfig(t *testing.T) {
	conns := `{"Connection":{"Default":"%s","Connections":{
 "podman-machine-default":{"URI":"ssh://core@127.0.0.1:53720/run/user/501/podman/podman.sock","Identity":"/Users/ana/.local/share/containers/podman/machine/machine","IsMachine":true},
 "podman-machine-default-root":{"URI":"ssh://root@127.0.0.1:53720/run/podman/podman.sock","Identity":"/Users/ana/.local/share/containers/podman/machine/machine","IsMachine":true},
 "remote":{"URI":"ssh://me@build:22/run/user/1000/podman/podman.sock"}}}}`
	machine := `{"Name":"podman-machine-default","HostUser":{"Rootful":%t,"UID":501},"Mounts":[
 {"ReadOnly":false,"Source":"/Users","Tag":"a","Target":"/Users","Type":"virtiofs"},
 {"ReadOnly":false,"Source":"/private","Tag":"b","Target":"/private","Type":"virtiofs"},
 {"ReadOnly":false,"Source":"/var/folders","Tag":"c","Target":"/var/folders","Type":"virtiofs"},
 {"ReadOnly":false,"Source":"/Volumes/data","Tag":"d","Target":"/Volumes/data","Type":"virtiofs"},
 {"ReadOnly":true,"Source":"/opt/x","Tag":"e","Target":"/mnt/x","Type":"virtiofs"}]}`
	host := func(def, provider string, rootful bool) Host {
		files := map[string]string{
			"/Users/ana/.config/containers/podman-connections.json": fmt.Sprintf(conns, def),
		}
		if provider != "" {
			files["/Users/ana/.config/containers/podman/machine/"+provider+"/podman-machine-default.json"] = fmt.Sprintf(machine, rootful)
		}
		return Host{Home: "/Users/ana", GOOS: "darwin", UID: 501, Getenv: func(string) string { return "" },
			ReadFile: func(p string) ([]byte, error) {
				if c, ok := files[p]; ok {
					return []byte(c), nil
				}
				return nil, os.ErrNotExist
			}, Exists: func(string) bool { return false }}
	}
	for _, prov := range []string{"applehv", "libkrun", "qemu"} {
		ep, mc, ok, err := host("podman-machine-default", prov, false).Machine()
		if err != nil || !ok || mc.Provider != prov || mc.Rootful || ep.Rootful() {
			t.Fatalf("%s: %+v %+v %v %v", prov, ep, mc, ok, err)
		}
		if want := []string{"/Users", "/private", "/var/folders", "/Volumes/data"}; !slices.Equal(mc.Shares, want) {
			t.Errorf("%s: shares %q, want %q", prov, mc.Shares, want)
		}
		if !slices.Equal(mc.Elsewhere, []string{"/opt/x:/mnt/x"}) {
			t.Errorf("%s: elsewhere %q", prov, mc.Elsewhere)
		}
	}
	ep, mc, ok, err := host("podman-machine-default-root", "applehv", true).Machine()
	if err != nil || !ok || !mc.Rootful || !ep.Rootful() || mc.Name != "podman-machine-default" {
		t.Errorf("rootful machine: %+v %+v %v %v", ep, mc, ok, err)
	}
	if _, mc, ok, err := host("podman-machine-default", "", false).Machine(); ok || err != nil || mc.Name != "podman-machine-default" {
		t.Errorf("no machine file: %+v %v %v", mc, ok, err)
	}
	if _, _, ok, err := host("remote", "applehv", false).Machine(); ok || err != nil {
		t.Errorf("a connection that is not a machine's: %v %v", ok, err)
	}
}
