package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// deniedAt is an Access that refuses this user the sockets in denied, as
// access(2) does, and allows the rest.
func deniedAt(denied ...string) func(string) error {
	return func(p string) error {
		for _, d := range denied {
			if p == d {
				return &fs.PathError{Op: "access", Path: p, Err: syscall.EACCES}
			}
		}
		return nil
	}
}

// TestConnectDenied: a socket that refuses this user is named as permission
// denied with the docker group fix, not as an engine to start (issue 26).
func TestConnectDenied(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	h := Host{Getenv: env(map[string]string{"DOCKER_HOST": "unix://" + sock}), Access: deniedAt(sock)}
	_, err := Connect(context.Background(), h)
	var ue *UnreachableError
	if !errors.As(err, &ue) || len(ue.Denied) != 1 {
		t.Fatalf("Connect: %v; want an *UnreachableError with the socket denied", err)
	}
	for _, w := range []string{"permission denied on the docker socket", "unix://" + sock, "sudo usermod -aG docker $USER", "rootless Podman"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "start dockerd") {
		t.Errorf("error %q says start dockerd, though the engine runs", err)
	}
	r := Doctor(context.Background(), h, "img")
	if r.Ready || len(r.Problems) != 1 || !strings.Contains(r.Problems[0].What, "permission denied") || !strings.Contains(r.Problems[0].Fix, "usermod -aG docker") {
		t.Errorf("Doctor: %+v; want not ready, one problem: permission denied, fixed by the docker group", r)
	}
}

// TestUsable: whether this user may use the engine, judged by the kernel's
// answer for each existing socket, without asking the engine.
func TestUsable(t *testing.T) {
	exists := func(ps ...string) func(string) bool {
		return func(p string) bool {
			for _, x := range ps {
				if p == x {
					return true
				}
			}
			return false
		}
	}
	const def, rootless = "/var/run/docker.sock", "/run/user/1000/docker.sock"
	for _, c := range []struct {
		name   string
		h      Host
		denied bool
	}{
		{"default socket denied", Host{Getenv: env(nil), GOOS: "linux", Exists: exists(def), Access: deniedAt(def)}, true},
		{"default socket allowed", Host{Getenv: env(nil), GOOS: "linux", Exists: exists(def), Access: deniedAt()}, false},
		{"rootless allowed, default denied", Host{Getenv: env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}), GOOS: "linux", Exists: exists(def, rootless), Access: deniedAt(def)}, false},
		{"both denied", Host{Getenv: env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}), GOOS: "linux", Exists: exists(def, rootless), Access: deniedAt(def, rootless)}, true},
		{"tcp cannot be judged", Host{Getenv: env(map[string]string{"DOCKER_HOST": "tcp://h:2375"}), GOOS: "linux", Exists: exists(), Access: deniedAt()}, false},
		{"other error is no denial", Host{Getenv: env(nil), GOOS: "linux", Exists: exists(def), Access: func(string) error { return fmt.Errorf("access: %w", syscall.EIO) }}, false},
	} {
		err := Usable(c.h)
		var ue *UnreachableError
		if got := errors.As(err, &ue) && len(ue.Denied) > 0; got != c.denied {
			t.Errorf("%s: Usable = %v, want denied %v", c.name, err, c.denied)
		}
	}
}
