package singularity

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/golden"
	"github.com/launchcli/launch/plan"
)

// TestLimitsWithoutCgroups: where apptainer cannot apply limits
// (Config.NoLimits), limits someone asked for are refused with the Slurm
// alternative, and the default pids limit is left out with a note.
func TestLimitsWithoutCgroups(t *testing.T) {
	c := goldenConfig()
	c.NoLimits = "this host has cgroup v1"
	limits := golden.Load(t, filepath.Join(golden.CorpusDir, "limits.json"))
	_, err := Render(limits, c)
	if !errors.Is(err, plan.ErrUnsupported) {
		t.Fatalf("limits without cgroups: %v; want ErrUnsupported", err)
	}
	for _, w := range []string{"memory 2g, cpus 1.5, pids 512", "cgroup v1", "Slurm", "--mem", "--backend docker"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	def := golden.Load(t, filepath.Join(golden.CorpusDir, "codex-default.json"))
	r, err := Render(def, c)
	if err != nil {
		t.Fatal(err)
	}
	if argv := r.argv("/S"); slices.Contains(argv, "--pids-limit") {
		t.Errorf("default pids limit rendered where it cannot apply: %q", argv)
	}
	if !slices.ContainsFunc(r.Notes(), func(n string) bool {
		return strings.Contains(n, "default limit of 4096") && strings.Contains(n, "cgroup v1")
	}) {
		t.Errorf("no note says why the default pids limit is left out: %q", r.Notes())
	}
}

// TestPrivilegesByCaller: --no-privs for least privilege (root and others);
// the opt-out keeps root's capabilities and is refused for anyone else.
func TestPrivilegesByCaller(t *testing.T) {
	least := golden.Load(t, filepath.Join(golden.CorpusDir, "least-privilege-root.json"))
	image := golden.Load(t, filepath.Join(golden.CorpusDir, "privileges-image-root.json"))
	r, err := Render(least, goldenConfig())
	if err != nil || !slices.Contains(r.argv("/S"), "--no-privs") {
		t.Errorf("root, least privilege: %v %q; want --no-privs", err, r.argv("/S"))
	}
	r, err = Render(image, goldenConfig())
	if err != nil || slices.Contains(r.argv("/S"), "--no-privs") {
		t.Errorf("root, privileges image: %v %q; want no --no-privs", err, r.argv("/S"))
	}
	image.Caller = plan.Caller{UID: 1000, GID: 1000}
	if _, err := Render(image, goldenConfig()); !errors.Is(err, plan.ErrUnsupported) || !strings.Contains(err.Error(), "nosuid") {
		t.Errorf("unprivileged caller, privileges image: %v; want ErrUnsupported", err)
	}
}
