//go:build integration

package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestE2EPodmanURL: --url picks the Podman service, over CONTAINER_HOST;
// one that does not answer fails naming --url.
func TestE2EPodmanURL(t *testing.T) {
	for _, b := range e2eBackends {
		if b.name != backendPodman {
			continue
		}
		s := newSession(t, b)
		s.env = append(s.env, "CONTAINER_HOST=unix:///nonexistent/podman.sock", "XDG_RUNTIME_DIR=/nonexistent")
		sock := fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID)
		out, errs, code := s.run("", "--yes", "--url", sock, "shell", "echo via-url")
		if code != 0 || out != "via-url\n" {
			t.Errorf("--url %s: exit %d, stdout %q, stderr:\n%s", sock, code, out, errs)
		}
		_, errs, code = s.run("", "--yes", "--url", "unix:///nonexistent/other.sock", "shell", "true")
		if code == 0 || !strings.Contains(errs, "--url") {
			t.Errorf("--url to nothing: exit %d, stderr:\n%s", code, errs)
		}
	}
}
