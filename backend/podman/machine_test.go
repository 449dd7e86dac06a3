package podman

import (
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
	tests := []struct {
		name     string
		machine  *Machine
		source   string
		platform plan.Platform
		want     string   // the rendered bind source
		warnings []string // substrings of the warnings, in order
	}{
		{"home-shared", mac, "/Users/ana/proj", plan.Platform{}, "/Users/ana/proj", nil},
		{"tmp-resolved-and-warned", mac, "/tmp/proj", plan.Platform{}, "/private/tmp/proj", []string{`mount "/tmp/proj" is outside what the podman machine shares`, "podman machine set -v /private/tmp/proj:/private/tmp/proj"}},
		{"var-folders-shared", mac, "/var/folders/xy/T/proj", plan.Platform{}, "/private/var/folders/xy/T/proj", nil},
		{"elsewhere-warned", mac, "/Volumes/data/proj", plan.Platform{}, "/Volumes/data/proj", []string{`mount "/Volumes/data/proj" is outside`}},
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
