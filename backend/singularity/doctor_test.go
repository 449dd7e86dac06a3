package singularity

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fakeDoctorHost struct {
	path    string // "" = no runtime on PATH
	version string
	userNS  bool
}

func (f fakeDoctorHost) LookPath(name string) (string, error) {
	if f.path == "" || name != "apptainer" {
		return "", errors.New("not found")
	}
	return f.path, nil
}
func (f fakeDoctorHost) Output(_ context.Context, argv []string) ([]byte, error) {
	if len(argv) != 2 || argv[1] != "--version" {
		panic("unexpected call " + strings.Join(argv, " "))
	}
	return []byte(f.version), nil
}
func (f fakeDoctorHost) NeedsUserNS() bool { return f.userNS }
func (f fakeDoctorHost) FUSEUsable() bool  { return false }

func TestDoctor(t *testing.T) {
	cache := t.TempDir()
	sif := filepath.Join(t.TempDir(), "img.sif")
	os.WriteFile(sif, []byte("x"), 0o644)
	pulled := filepath.Join(cache, "oras/ghcr.io/org/img/v1.sif")
	os.MkdirAll(filepath.Dir(pulled), 0o755)
	os.WriteFile(pulled, []byte("x"), 0o644)
	tests := []struct {
		name      string
		host      fakeDoctorHost
		image     string
		wantReady bool
		want      []string
	}{
		{"missing", fakeDoctorHost{}, sif, false, []string{"no apptainer or singularity on PATH", "module load apptainer"}},
		{"local-sif", fakeDoctorHost{path: "/usr/bin/apptainer", version: "apptainer version 1.4.3\n", userNS: true}, sif, true, []string{"version=apptainer 1.4.3", "user namespace=needed here", "/dev/fuse=not usable", "(present)"}},
		{"sif-missing", fakeDoctorHost{path: "/usr/bin/apptainer", version: "apptainer version 1.4.3"}, sif + ".gone", false, []string{"check --sif-path"}},
		{"pulled", fakeDoctorHost{path: "/usr/bin/apptainer", version: "apptainer version 1.4.3"}, "oras://ghcr.io/org/img:v1", true, []string{"(pulled: " + pulled + ")"}},
		{"not-pulled", fakeDoctorHost{path: "/usr/bin/apptainer", version: "singularity-ce version 4.1.0"}, "oras://ghcr.io/org/img:v2", true, []string{"version=singularity 4.1.0", "launch pulls it on first use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Doctor(context.Background(), tt.host, "", tt.image, cache)
			var all []string
			for _, f := range r.Facts {
				all = append(all, f.Name+"="+f.Value)
			}
			for _, p := range r.Problems {
				all = append(all, p.What, p.Fix)
			}
			if r.Ready != tt.wantReady {
				t.Errorf("ready = %v, want %v (%q)", r.Ready, tt.wantReady, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(strings.Join(all, "\n"), w) {
					t.Errorf("report lacks %q: %q", w, all)
				}
			}
		})
	}
}
