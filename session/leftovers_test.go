package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func paths(l []Leftover) string {
	var out []string
	for _, x := range l {
		out = append(out, filepath.Base(x.Path))
	}
	return strings.Join(out, ",")
}

// TestUnlinkedSIFs: only a digest-named SIF that no link points to is a
// leftover; a linked one and the user's own files stay.
func TestUnlinkedSIFs(t *testing.T) {
	dir := t.TempDir()
	used, stale := strings.Repeat("a", 64)+".sif", strings.Repeat("b", 64)+".sif"
	write(t, filepath.Join(dir, "sha256", used), "used")
	write(t, filepath.Join(dir, "sha256", stale), "stale!")
	write(t, filepath.Join(dir, "sha256", "mine.sif"), "the user's")
	write(t, filepath.Join(dir, "notes.txt"), "the user's")
	if err := os.MkdirAll(filepath.Join(dir, "oras", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "..", "sha256", used), filepath.Join(dir, "oras", "x", "latest.sif")); err != nil {
		t.Fatal(err)
	}
	got, err := UnlinkedSIFs(dir)
	if err != nil || paths(got) != stale || got[0].Size != 6 {
		t.Fatalf("UnlinkedSIFs = %+v, %v; want %s of 6 bytes", got, err, stale)
	}
	if got, err := UnlinkedSIFs(filepath.Join(dir, "none")); err != nil || len(got) != 0 {
		t.Errorf("a missing cache: %v %v", got, err)
	}
}

func TestStaleSandboxes(t *testing.T) {
	dir := t.TempDir()
	gone, kept := strings.Repeat("c", 64), strings.Repeat("d", 64)
	write(t, filepath.Join(dir, ".unpack.123", "f"), "x")
	write(t, filepath.Join(dir, ".unpack.busy", "f"), "x")
	write(t, filepath.Join(dir, gone, "f"), "x")
	write(t, filepath.Join(dir, gone+".source"), "/nonexistent/a.sif\n")
	write(t, filepath.Join(dir, kept, "f"), "x")
	write(t, filepath.Join(dir, kept+".source"), filepath.Join(dir, kept, "f")+"\n")
	write(t, filepath.Join(dir, "mine", "f"), "the user's")
	got, err := StaleSandboxes(dir, func(p string) bool { return strings.HasSuffix(p, "busy") })
	if err != nil || paths(got) != ".unpack.123,"+gone {
		t.Errorf("StaleSandboxes = %s, %v", paths(got), err)
	}
}

func TestStaleScratch(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write(t, filepath.Join(a, "launch.1", "mask"), "")
	write(t, filepath.Join(a, "launch.2", "mask"), "")
	write(t, filepath.Join(b, "launch.3", "mask"), "")
	write(t, filepath.Join(b, "launchpad", "x"), "the user's")
	write(t, filepath.Join(b, "launch.file"), "a file, not a scratch directory")
	got := StaleScratch([]string{a, b, a}, func(p string) bool { return strings.HasSuffix(p, "launch.2") })
	if paths(got) != "launch.1,launch.3" {
		t.Errorf("StaleScratch = %s", paths(got))
	}
}

func TestProcessesUsing(t *testing.T) {
	proc := t.TempDir()
	write(t, filepath.Join(proc, "12", "cmdline"), "apptainer\x00exec\x00--bind\x00/tmp/launch.9/m:/w/secret\x00")
	write(t, filepath.Join(proc, "13", "environ"), "APPTAINER_TMPDIR=/tmp/launch.8\x00")
	write(t, filepath.Join(proc, "self", "cmdline"), "/tmp/launch.7")
	in := ProcessesUsing(proc)
	for p, want := range map[string]bool{"/tmp/launch.9": true, "/tmp/launch.8": true, "/tmp/launch.7": false} {
		if in(p) != want {
			t.Errorf("in use %s = %v, want %v", p, !want, want)
		}
	}
}
