//go:build integration && !linux

package main

import (
	"net"
	"testing"
)

// listenIn needs Linux's network namespaces: the tests of the network
// lab run on Linux only (this file keeps them compiling for macOS).
func listenIn(t *testing.T, _, _ string, _ int) []net.Listener {
	t.Helper()
	t.Skip("network namespaces are Linux's: this test runs on Linux")
	return nil
}
