//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

// peakRSS is measured on Linux only (bench_linux_test.go).
func peakRSS(*exec.Cmd) (kib int64, code int, err error) {
	return 0, 0, errors.New("peak RSS is measured on Linux only")
}
