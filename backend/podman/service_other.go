//go:build !linux

package podman

import "syscall"

// serviceAttr: a private service is started on Linux only.
func serviceAttr() *syscall.SysProcAttr { return nil }
