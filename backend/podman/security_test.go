package podman

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/golden"
	"github.com/launchcli/launch/plan"
)

// TestLimitsOnCgroupV1: a rootless service on a cgroup v1 host cannot apply
// limits (podman would only warn); asked-for limits are refused with the
// alternatives, the default pids limit is left out with a note, and a
// rootful service renders them all.
func TestLimitsOnCgroupV1(t *testing.T) {
	limits := golden.Load(t, filepath.Join(corpus, "limits.json"))
	def := golden.Load(t, filepath.Join(corpus, "codex-default.json"))

	_, err := Render(limits, Config{Rootless: true, CgroupV1: true})
	if !errors.Is(err, plan.ErrUnsupported) || !strings.Contains(err.Error(), "memory 2g") || !strings.Contains(err.Error(), "podman_rootful") || !strings.Contains(err.Error(), "srun") {
		t.Errorf("rootless on cgroup v1 with limits: %v; want ErrUnsupported naming the limits, rootful podman and Slurm", err)
	}
	r, err := Render(def, Config{Rootless: true, CgroupV1: true})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(r.Argv, "--pids-limit") || r.Spec.ResourceLimits != nil {
		t.Errorf("the default pids limit is rendered where it cannot apply: %q", r.Argv)
	}
	if !slices.ContainsFunc(r.Notes(), func(n string) bool { return strings.Contains(n, "default limit of 4096") }) {
		t.Errorf("no note says the default pids limit is left out: %q", r.Notes())
	}
	r, err = Render(limits, Config{Rootless: false, CgroupV1: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"--memory 2g --memory-swap 2g --cpus 1.5 --pids-limit 512", "--cap-drop ALL", "--security-opt no-new-privileges"} {
		if !strings.Contains(strings.Join(r.Argv, " "), w) {
			t.Errorf("rootful argv lacks %q: %q", w, r.Argv)
		}
	}
}

// TestPrivilegesImage: the opt-out keeps podman's default capabilities and
// lets setuid work: no --cap-drop, no no-new-privileges, and a note.
func TestPrivilegesImage(t *testing.T) {
	p := golden.Load(t, filepath.Join(corpus, "privileges-image.json"))
	r, err := Render(p, Config{Rootless: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Spec.NoNewPrivileges != nil || r.Spec.CapDrop != nil || slices.Contains(r.Argv, "--cap-drop") || slices.Contains(r.Argv, "--security-opt") {
		t.Errorf("privileges image still drops: %q", r.Argv)
	}
	if !slices.ContainsFunc(r.Notes(), func(n string) bool { return strings.HasPrefix(n, "privileges image") }) {
		t.Errorf("no note on privileges image: %q", r.Notes())
	}
}
