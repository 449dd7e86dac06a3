//go:build linux

package guard

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// renameBeneath renames root/rel to newName in the same directory. The
// parent directory is opened from root with openat2's RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS, so no link on the way is followed and nothing
// outside root is reached, and the rename is made relative to that open
// directory: a link swapped in after the check changes nothing. Kernels
// without openat2 (before 5.6) walk the parents one openat(O_NOFOLLOW) at
// a time, which is as safe.
func renameBeneath(root, rel, newName string) error {
	dir, base := filepath.Split(filepath.FromSlash(rel))
	dir = filepath.Clean(dir)
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("%q: not a path inside %q", rel, root)
	}
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rootFD)
	fd, err := unix.Openat2(rootFD, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		// No openat2 here (or a seccomp filter refuses it).
		fd, err = walkNoFollow(rootFD, dir)
	}
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%q: %w", filepath.Join(root, dir), errLinkedParent)
	case err != nil:
		return &fs.PathError{Op: "open", Path: filepath.Join(root, dir), Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Renameat(fd, base, fd, newName); err != nil {
		return &fs.PathError{Op: "rename", Path: filepath.Join(root, rel), Err: err}
	}
	return nil
}

// walkNoFollow opens dir under rootFD one element at a time, refusing
// links and "..".
func walkNoFollow(rootFD int, dir string) (int, error) {
	fd, err := unix.Openat(rootFD, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if dir == "." {
		return fd, nil
	}
	for _, name := range splitPath(dir) {
		if name == ".." {
			unix.Close(fd)
			return -1, unix.EXDEV
		}
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}
