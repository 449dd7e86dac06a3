//go:build integration && linux

package main

import (
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// listenIn opens n TCP listeners on ip inside the network namespace at
// nsPath: a socket belongs to the namespace it was made in, so the thread
// enters it, listens, and comes back.
func listenIn(t *testing.T, nsPath, ip string, n int) []net.Listener {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), syscall.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	var ls []net.Listener
	for range n {
		l, lerr := net.Listen("tcp", ip+":0")
		if lerr != nil {
			err = lerr
			break
		}
		ls = append(ls, l)
	}
	if serr := unix.Setns(int(self.Fd()), syscall.CLONE_NEWNET); serr != nil {
		// This thread is in the lab's namespace: never let it run Go code again.
		panic(serr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ls
}
