package singularity

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/iostreams"
)

// TestSandboxCache: where FUSE is not usable, the first launch of a SIF
// unpacks it into the cache under its digest and runs that; the second runs
// it straight away; a changed SIF is unpacked anew; an entry whose SIF is
// gone is removed; past the size limit the unpack is refused.
func TestSandboxCache(t *testing.T) {
	image := filepath.Join(t.TempDir(), "i.sif")
	makeSIF(t, image, runtime.GOARCH, `{}`)
	cache := filepath.Join(t.TempDir(), "sandbox")
	r, err := Render(execPlan(t, image), Config{Unsquash: true, SandboxDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := fileSHA256(image)
	box := filepath.Join(cache, sum)
	unpack := func(s *stub) {
		s.register([]string{"apptainer", "build", "--force", "--sandbox"}, 0, func(pr proc) {
			if pr.Argv[len(pr.Argv)-1] != image || filepath.Dir(pr.Argv[4]) != cache {
				t.Errorf("build argv %q", pr.Argv)
			}
			os.MkdirAll(filepath.Join(pr.Argv[4], "bin"), 0o755)
			os.WriteFile(filepath.Join(pr.Argv[4], "bin", "sh"), []byte("x"), 0o755)
		})
	}
	runs := func(s *stub, want string) {
		s.register([]string{"apptainer", "exec"}, 0, func(pr proc) {
			if !contains(pr.Argv, want) || contains(pr.Argv, image) || contains(pr.Argv, "--unsquash") {
				t.Errorf("exec argv %q, want the sandbox %s and no --unsquash", pr.Argv, want)
			}
		})
	}
	var errb bytes.Buffer
	st := iostreams.Streams{Err: &errb}
	s := newStub(t)
	unpack(s)
	runs(s, box)
	if _, err := r.Exec(context.Background(), s, st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "unpacking it once into "+box) {
		t.Errorf("first launch says:\n%s", errb.String())
	}
	if b, _ := os.ReadFile(box + ".source"); string(b) != image+"\n" {
		t.Errorf("source record %q", b)
	}
	// Second launch: no build.
	errb.Reset()
	s2 := newStub(t)
	runs(s2, box)
	if _, err := r.Exec(context.Background(), s2, st); err != nil {
		t.Fatal(err)
	}
	if errb.Len() != 0 {
		t.Errorf("second launch says:\n%s", errb.String())
	}
	// A changed SIF has another digest.
	makeSIF(t, image, runtime.GOARCH, `{"changed": "yes"}`)
	sum2, _ := fileSHA256(image)
	s3 := newStub(t)
	unpack(s3)
	runs(s3, filepath.Join(cache, sum2))
	if _, err := r.Exec(context.Background(), s3, st); err != nil {
		t.Fatal(err)
	}
	// An entry whose SIF is gone goes at the next unpack.
	other := filepath.Join(cache, "0000")
	os.MkdirAll(other, 0o700)
	os.WriteFile(other+".source", []byte("/nonexistent/x.sif\n"), 0o600)
	makeSIF(t, image, runtime.GOARCH, `{"changed": "again"}`)
	s4 := newStub(t)
	unpack(s4)
	s4.register([]string{"apptainer", "exec"}, 0, nil)
	errb.Reset()
	if _, err := r.Exec(context.Background(), s4, st); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) || !strings.Contains(errb.String(), "its SIF /nonexistent/x.sif is gone") {
		t.Errorf("stale entry: %v; stderr %s", err, errb.String())
	}
	// Past the limit: refused before unpacking.
	small, err := Render(execPlan(t, image), Config{Unsquash: true, SandboxDir: cache, SandboxMax: 1})
	if err != nil {
		t.Fatal(err)
	}
	makeSIF(t, image, runtime.GOARCH, `{"changed": "thrice"}`)
	if _, err := small.Exec(context.Background(), newStub(t), st); err == nil || !strings.Contains(err.Error(), "over the limit") || !strings.Contains(err.Error(), "sandbox_cache_max") {
		t.Errorf("over the limit: %v", err)
	}
	// The snippet does the same unpacking.
	snip := r.Snippet()
	for _, want := range []string{"launch_box=" + cache + "/$(sha256sum " + image, "apptainer build --force --sandbox \"$launch_part\" " + image, `"$launch_box"`} {
		if !strings.Contains(snip, want) {
			t.Errorf("snippet lacks %q:\n%s", want, snip)
		}
	}
}
