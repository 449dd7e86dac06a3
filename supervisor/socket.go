package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// SocketDir makes the directory for the attach socket of a new session and
// returns it: runtime/launch when runtime (the user's $XDG_RUNTIME_DIR) is
// an absolute path, else a new directory under tmp ($TMPDIR), made with
// mkdtemp so that no other user can have made it first. Either way it is
// the caller's (uid) and mode 0700: whoever can open it can connect to the
// socket and type into the session.
func SocketDir(runtime, tmp string, uid int) (string, error) {
	if filepath.IsAbs(runtime) {
		dir := filepath.Join(runtime, "launch")
		return dir, PrivateDir(dir, uid)
	}
	if !filepath.IsAbs(tmp) {
		tmp = os.TempDir()
	}
	dir, err := os.MkdirTemp(tmp, tempPrefix(uid))
	if err != nil {
		return "", fmt.Errorf("a directory for the session's socket: %w", err)
	}
	if err := checkPrivate(dir, uid); err != nil {
		os.Remove(dir)
		return "", err
	}
	return dir, nil
}

// tempPrefix is the name prefix of the socket directories SocketDir makes
// under $TMPDIR.
func tempPrefix(uid int) string { return "launch-" + strconv.Itoa(uid) + "-" }

// PrivateDir makes dir (mode 0700) when it is missing and checks that it is
// private: a directory, not a link, owned by uid, with no permission for
// group or others. An existing directory that is not is refused, never
// changed: someone else may be using it.
func PrivateDir(dir string, uid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("socket directory %q: %w", dir, err)
	}
	return checkPrivate(dir, uid)
}

// ErrNotPrivate marks a socket directory that others can use.
var ErrNotPrivate = errors.New("not private")

// checkPrivate checks that dir is a directory that only uid can use.
func checkPrivate(dir string, uid int) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory %q: %w", dir, err)
	}
	why := ""
	switch st, ok := fi.Sys().(*syscall.Stat_t); {
	case fi.Mode()&fs.ModeSymlink != 0:
		why = "it is a symbolic link"
	case !fi.IsDir():
		why = "it is not a directory"
	case !ok:
		why = "its owner is unknown"
	case int(st.Uid) != uid:
		why = fmt.Sprintf("it is owned by uid %d, not by you (uid %d)", st.Uid, uid)
	case fi.Mode().Perm()&0o077 != 0:
		why = fmt.Sprintf("its mode is %#o, open to other users", fi.Mode().Perm())
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("socket directory %q: %w: %s, so another user could connect to the session's socket and read or type what you do; remove it (or, if it is yours, chmod 700 it), or set XDG_RUNTIME_DIR to a directory only you can open", dir, ErrNotPrivate, why)
}

// removeSocket removes the socket at path and, when SocketDir made its
// directory under $TMPDIR for this session alone, the directory too.
func removeSocket(path string, uid int) {
	os.Remove(path)
	if dir := filepath.Dir(path); strings.HasPrefix(filepath.Base(dir), tempPrefix(uid)) {
		os.Remove(dir) // only when empty
	}
}
