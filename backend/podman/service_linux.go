package podman

import "syscall"

// serviceAttr puts a private service in a process group of its own (Ctrl-C
// reaches launch, which still removes the container through the service)
// and stops it if launch dies without closing it.
func serviceAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
