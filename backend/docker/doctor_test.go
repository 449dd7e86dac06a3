package docker

import (
	"context"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/launchcli/launch/internal/health"
)

// fakeProber answers Info and ImageInspect from fixed values.
type fakeProber struct {
	info   system.Info
	images map[string]bool
}

func (f fakeProber) DaemonHost() string { return "unix:///var/run/docker.sock" }
func (f fakeProber) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return client.SystemInfoResult{Info: f.info}, nil
}
func (f fakeProber) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	if f.images[ref] {
		return client.ImageInspectResult{}, nil
	}
	return client.ImageInspectResult{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name      string
		info      system.Info
		images    map[string]bool
		wantFacts []string
		wantWarn  []string
	}{
		{
			name:      "rootful-runsc-image",
			info:      system.Info{ServerVersion: "28.1.1", Runtimes: map[string]system.RuntimeWithStatus{"runc": {}, "runsc": {Runtime: system.Runtime{Args: []string{"--host-uds=open"}}}}},
			images:    map[string]bool{"img:tag": true},
			wantFacts: []string{"version=28.1.1", "rootless=no", "runsc=registered", "image=img:tag (present)"},
		},
		{
			name:      "runsc-without-host-uds",
			info:      system.Info{ServerVersion: "28.1.1", Runtimes: map[string]system.RuntimeWithStatus{"runc": {}, "runsc": {}}},
			images:    map[string]bool{"img:tag": true},
			wantFacts: []string{"version=28.1.1", "rootless=no", "runsc=registered", "image=img:tag (present)"},
			wantWarn:  []string{`"runtimeArgs": ["--host-uds=open"]`},
		},
		{
			name:      "rootless-no-runsc-no-image",
			info:      system.Info{ServerVersion: "27.0", SecurityOptions: []string{"name=seccomp,profile=builtin", "name=rootless"}, Runtimes: map[string]system.RuntimeWithStatus{"runc": {}}},
			wantFacts: []string{"rootless=yes", "runsc=not registered (runtimes: runc)", "image=img:tag (not pulled yet)"},
			wantWarn:  []string{"/etc/docker/daemon.json", "docker pull img:tag"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := health.Report{Ready: true}
			probe(context.Background(), &r, fakeProber{tt.info, tt.images}, "img:tag")
			var facts []string
			for _, f := range r.Facts {
				facts = append(facts, f.Name+"="+f.Value)
			}
			for _, w := range tt.wantFacts {
				if !strings.Contains(strings.Join(facts, "\n"), w) {
					t.Errorf("facts %q lack %q", facts, w)
				}
			}
			if len(r.Problems) != len(tt.wantWarn) || !r.Ready {
				t.Fatalf("problems %+v (ready %v), want %d warnings", r.Problems, r.Ready, len(tt.wantWarn))
			}
			for i, w := range tt.wantWarn {
				if p := r.Problems[i]; p.Fatal || !strings.Contains(p.Fix, w) {
					t.Errorf("problem %+v: want a warning whose fix names %q", p, w)
				}
			}
		})
	}
}

func TestDoctorUnreachable(t *testing.T) {
	r := Doctor(context.Background(), Host{Getenv: func(k string) string {
		if k == "DOCKER_HOST" {
			return "unix:///nonexistent/docker.sock"
		}
		return ""
	}}, "img")
	if r.Ready || len(r.Problems) != 1 || !r.Problems[0].Fatal || !strings.Contains(r.Problems[0].Fix, "start dockerd") {
		t.Errorf("report %+v: want not ready, one fatal problem whose fix starts dockerd", r)
	}
}
