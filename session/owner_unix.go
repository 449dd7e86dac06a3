//go:build unix

package session

import (
	"io/fs"
	"os"
	"syscall"
)

// ownedByMe reports whether fi is the caller's.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
