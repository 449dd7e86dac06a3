//go:build !linux

package guard

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// renameBeneath renames root/rel to newName in the same directory, after
// checking with Lstat that no element of rel's parents is a link (or
// "..") and each is a directory. Unlike Linux's openat2 walk this leaves a
// moment between the check and the rename; the agent's container has
// ended by then, so only another process that writes the workspace could
// use it.
func renameBeneath(root, rel, newName string) error {
	dir, base := filepath.Split(filepath.FromSlash(rel))
	dir = filepath.Clean(dir)
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("%q: not a path inside %q", rel, root)
	}
	p := root
	if dir != "." {
		for _, name := range splitPath(dir) {
			if name == ".." {
				return fmt.Errorf("%q: %w", filepath.Join(root, dir), errLinkedParent)
			}
			p = filepath.Join(p, name)
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
				return fmt.Errorf("%q: %w", p, errLinkedParent)
			}
		}
	}
	return os.Rename(filepath.Join(p, base), filepath.Join(p, newName))
}
