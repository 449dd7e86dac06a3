package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrivateDir: the attach socket's directory is made private, and one
// that others can use (or that is not a directory of the user's) is
// refused, not changed: in such a directory another user can put a socket
// of their own where launch attach looks and read what the user types.
func TestPrivateDir(t *testing.T) {
	uid := os.Getuid()
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		uid     int
		wantErr string
		plain   bool // an error, not ErrNotPrivate
	}{
		{name: "missing: made 0700", setup: func(*testing.T, string) {}, uid: uid},
		{name: "existing 0700", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o700) }, uid: uid},
		{name: "world-writable", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o777) }, uid: uid, wantErr: "its mode is 0777"},
		{name: "sticky shared", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o1777) }, uid: uid, wantErr: "open to other users"},
		{name: "group-readable", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o750) }, uid: uid, wantErr: "its mode is 0750"},
		{name: "another user's", setup: func(t *testing.T, dir string) { mkdir(t, dir, 0o700) }, uid: uid + 1, wantErr: "not by you"},
		{name: "a link to a private directory", setup: func(t *testing.T, dir string) {
			target := dir + ".target"
			mkdir(t, target, 0o700)
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}, uid: uid, wantErr: "symbolic link"},
		{name: "a file", setup: func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, uid: uid, wantErr: "not a directory", plain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "launch-x")
			tt.setup(t, dir)
			before, _ := os.Lstat(dir)
			err := PrivateDir(dir, tt.uid)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Lstat(dir)
				if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
					t.Fatalf("after PrivateDir: %v, %v", fi, err)
				}
				return
			}
			if err == nil || errors.Is(err, ErrNotPrivate) == tt.plain || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("PrivateDir: %v; want ErrNotPrivate naming %s and %q", err, dir, tt.wantErr)
			}
			if after, _ := os.Lstat(dir); before.Mode() != after.Mode() {
				t.Errorf("the refused directory was changed: %v -> %v", before.Mode(), after.Mode())
			}
		})
	}
}

// TestSocketDir: without a runtime directory each session gets a new
// directory of its own under $TMPDIR (mkdtemp), never a fixed name another
// user could make first; with one, runtime/launch.
func TestSocketDir(t *testing.T) {
	uid := os.Getuid()
	tmp := t.TempDir()
	// A directory at the old fixed name, made by "another user": ignored.
	mkdir(t, filepath.Join(tmp, "launch-"+itoa(uid)), 0o777)
	a, err := SocketDir("", tmp, uid)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SocketDir("", tmp, uid)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{a, b} {
		fi, err := os.Lstat(d)
		if err != nil || filepath.Dir(d) != tmp || fi.Mode().Perm() != 0o700 || !strings.HasPrefix(filepath.Base(d), tempPrefix(uid)) {
			t.Errorf("socket directory %s: %v %v", d, fi, err)
		}
	}
	if a == b {
		t.Errorf("two sessions share the socket directory %s", a)
	}
	// The session's end removes its directory with its socket.
	sock := filepath.Join(a, "s.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removeSocket(sock, uid)
	if _, err := os.Lstat(a); !os.IsNotExist(err) {
		t.Errorf("%s left after its session: %v", a, err)
	}

	run := t.TempDir()
	d, err := SocketDir(run, tmp, uid)
	if err != nil || d != filepath.Join(run, "launch") {
		t.Fatalf("with a runtime directory: %s, %v", d, err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := SocketDir(run, tmp, uid); !errors.Is(err, ErrNotPrivate) {
		t.Errorf("runtime/launch with mode 0755: %v; want ErrNotPrivate", err)
	}
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}
