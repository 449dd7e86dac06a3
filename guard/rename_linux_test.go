//go:build linux

package guard

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWalkNoFollow: the fallback for kernels without openat2 opens plain
// directories and refuses a link or ".." on the way.
func TestWalkNoFollow(t *testing.T) {
	ws := t.TempDir()
	outside := t.TempDir()
	write(t, filepath.Join(ws, "a/b/file"), "x")
	if err := os.Symlink(outside, filepath.Join(ws, "link")); err != nil {
		t.Fatal(err)
	}
	root, err := unix.Open(ws, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	for _, tt := range []struct {
		dir  string
		want error
	}{
		{".", nil},
		{"a/b", nil},
		{"link", unix.ELOOP},
		{"a/../..", unix.EXDEV},
	} {
		fd, err := walkNoFollow(root, tt.dir)
		if err == nil {
			unix.Close(fd)
		}
		if !errors.Is(err, tt.want) && !(tt.want == unix.ELOOP && errors.Is(err, unix.ENOTDIR)) {
			t.Errorf("walkNoFollow(%q) = %v, want %v", tt.dir, err, tt.want)
		}
	}
}
