//go:build unix

package session

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path (created if missing) and
// returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// Shared takes a shared lock on path (created if missing), held by every
// launch that uses what the lock guards. Its last user learns so from
// Last, which succeeds only while no other launch holds the lock, and then
// holds it alone until release. Call Last once, as the launch ends: the
// kernel converts a shared lock to an exclusive one by dropping it first,
// so a Last that fails has given the lock up.
func Shared(path string) (last func() bool, release func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, nil, err
	}
	last = func() bool { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil }
	return last, func() { f.Close() }, nil
}
