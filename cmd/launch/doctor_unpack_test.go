package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/health"
)

// TestSandboxDir: a SIF is unpacked under LAUNCH_SANDBOX_DIR, else in
// Apptainer's own cache directory, else under XDG_CACHE_HOME or ~/.cache;
// gc and doctor look in the same place.
func TestSandboxDir(t *testing.T) {
	for _, c := range []struct {
		env       []string
		dir, from string
	}{
		{nil, "/home/ana/.cache/launch/sandbox", "the default"},
		{[]string{"XDG_CACHE_HOME=/c"}, "/c/launch/sandbox", "XDG_CACHE_HOME"},
		{[]string{"XDG_CACHE_HOME=/c", "APPTAINER_CACHEDIR=/data/ana/.apptainer"}, "/data/ana/.apptainer/launch-sandbox", "APPTAINER_CACHEDIR"},
		{[]string{"SINGULARITY_CACHEDIR=/data/s"}, "/data/s/launch-sandbox", "SINGULARITY_CACHEDIR"},
		{[]string{"APPTAINER_CACHEDIR=/data/a", "LAUNCH_SANDBOX_DIR=/lscratch/42/boxes"}, "/lscratch/42/boxes", "LAUNCH_SANDBOX_DIR"},
		{[]string{"APPTAINER_CACHEDIR=relative"}, "/home/ana/.cache/launch/sandbox", "the default"},
	} {
		h := fakeHost(fakeFS(), c.env, false)
		if dir, from := sandboxDir(h); dir != c.dir || from != c.from {
			t.Errorf("%v: %s (%s), want %s (%s)", c.env, dir, from, c.dir, c.from)
		}
	}
}

// TestDoctorUnpackCache: doctor names the unpack cache, what chose it and
// its free space, and warns when it is small and FUSE is not usable.
func TestDoctorUnpackCache(t *testing.T) {
	h := fakeHost(fakeFS(), []string{"APPTAINER_CACHEDIR=/data/ana/.apptainer"}, false)
	h.FUSEUsable = func() bool { return false }
	var r health.Report
	unpackCache(&r, h, func(dir string) (uint64, error) {
		if dir != "/data/ana/.apptainer/launch-sandbox" {
			t.Errorf("free space asked of %s", dir)
		}
		return 1 << 30, nil
	})
	if len(r.Facts) != 1 || r.Facts[0].Name != "unpack cache" || !strings.Contains(r.Facts[0].Value, "/data/ana/.apptainer/launch-sandbox (from APPTAINER_CACHEDIR") || !strings.Contains(r.Facts[0].Value, "1.1 GB free") {
		t.Errorf("facts %+v", r.Facts)
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Fix, "LAUNCH_SANDBOX_DIR") {
		t.Errorf("problems %+v, want a warning naming LAUNCH_SANDBOX_DIR", r.Problems)
	}
	r = health.Report{}
	unpackCache(&r, h, func(string) (uint64, error) { return 0, errors.New("statfs: denied") })
	if len(r.Problems) != 0 || !strings.Contains(r.Facts[0].Value, "free space unknown: statfs: denied") {
		t.Errorf("unknown free space: %+v", r)
	}
	if n, err := freeSpace(t.TempDir() + "/not/yet"); err != nil || n == 0 {
		t.Errorf("freeSpace of a directory not made yet: %d, %v", n, err)
	}
}
