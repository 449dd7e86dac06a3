//go:build unix

package session

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestShared: while another launch holds the shared lock, a launch that
// ends is not the last; the one left then is, and holds the lock alone
// until it releases it.
func TestShared(t *testing.T) {
	p := filepath.Join(t.TempDir(), "placeholders.lock")
	lastA, releaseA, err := Shared(p)
	if err != nil {
		t.Fatal(err)
	}
	lastB, releaseB, err := Shared(p)
	if err != nil {
		t.Fatal(err)
	}
	if lastA() {
		t.Fatal("a launch was the last while another held the lock")
	}
	releaseA()
	if !lastB() {
		t.Fatal("the launch left alone was not the last")
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		t.Fatal("a new launch took the lock while the last held it alone")
	}
	releaseB()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		t.Fatalf("the lock stayed held after release: %v", err)
	}
}
