//go:build integration

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshTarget is the ssh server .ci/sshd.sh starts: a test user on a
// loopback port, reached with a test key.
type sshTarget struct{ port, user, key, home string }

func sshTestTarget(t *testing.T) sshTarget {
	t.Helper()
	f, err := os.Open("/var/lib/launch-ci/ssh/env")
	if err != nil {
		need(t, fmt.Errorf("no test ssh server (run .ci/sshd.sh): %v", err))
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	s := sshTarget{port: vars["LAUNCH_TEST_SSH_PORT"], user: vars["LAUNCH_TEST_SSH_USER"], key: vars["LAUNCH_TEST_SSH_KEY"]}
	u, err := user.Lookup(s.user)
	if err != nil {
		need(t, fmt.Errorf("test ssh user %q (run .ci/sshd.sh): %v", s.user, err))
	}
	s.home = u.HomeDir
	if _, err := os.Stat(s.key); err != nil {
		need(t, fmt.Errorf("test ssh key (run .ci/sshd.sh): %v", err))
	}
	return s
}

// TestRefreshRemoteOverSSH: launch refresh --remote copies the files of the
// kind, relative to home, into the remote user's home with one real rsync
// over a real sshd; a missing file is skipped with a warning; --full adds
// the agent's set-up.
func TestRefreshRemoteOverSSH(t *testing.T) {
	target := sshTestTarget(t)
	for _, d := range []string{".codex", ".pi", ".aws", ".claude"} {
		if err := os.RemoveAll(filepath.Join(target.home, d)); err != nil {
			t.Fatal(err)
		}
	}
	// Fake codex and aws, but the real rsync and ssh.
	bin := t.TempDir()
	for _, p := range []string{"codex", "aws"} {
		src, _ := filepath.Abs(filepath.Join("testdata/fakebin", p))
		if err := os.Symlink(src, filepath.Join(bin, p)); err != nil {
			t.Fatal(err)
		}
	}
	e := newRefreshEnv(t, "PATH="+bin+":/usr/bin:/bin",
		"RSYNC_RSH=ssh -F /dev/null -p "+target.port+" -i "+target.key+" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
	e.touch("codex-logged-in")
	e.touch("aws-logged-in")
	e.codexAuth(time.Now().Add(48 * time.Hour))
	e.write(".codex/config.toml", "model = \"gpt-5\"\n")
	e.write(".codex/skills/review/SKILL.md", "# review\n")
	e.write(".pi/agent/settings.json", "{}\n")

	_, errOut, code := e.run("refresh", "--kind", "all", "--remote", "127.0.0.1", "--user", target.user)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	for _, rel := range []string{".codex/auth.json", ".pi/agent/auth.json", ".aws/credentials.json", ".aws/config"} {
		local, _ := e.read(rel)
		remote, err := os.ReadFile(filepath.Join(target.home, rel))
		if err != nil || string(remote) != local {
			t.Errorf("remote ~/%s: %v; want the local content", rel, err)
			continue
		}
		if fi, _ := os.Stat(filepath.Join(target.home, rel)); fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("remote ~/%s has mode %o; a credential must stay private", rel, fi.Mode().Perm())
		}
	}
	if !strings.Contains(errOut, "warning: ~/.claude/.credentials.json does not exist; not copied") {
		t.Errorf("no warning for the missing Claude file:\n%s", errOut)
	}
	// Without --full, the set-up stays home.
	if _, err := os.Stat(filepath.Join(target.home, ".codex/config.toml")); !os.IsNotExist(err) {
		t.Errorf("config.toml copied without --full (%v)", err)
	}

	_, errOut, code = e.run("refresh", "--kind", "codex", "--remote", target.user+"@127.0.0.1", "--full")
	if code != 0 {
		t.Fatalf("--full: exit %d:\n%s", code, errOut)
	}
	for _, rel := range []string{".codex/config.toml", ".codex/skills/review/SKILL.md"} {
		if b, err := os.ReadFile(filepath.Join(target.home, rel)); err != nil || len(b) == 0 {
			t.Errorf("--full: remote ~/%s: %v", rel, err)
		}
		if fi, err := os.Stat(filepath.Dir(filepath.Join(target.home, rel))); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("--full: remote directory of ~/%s is not private (%v)", rel, err)
		}
	}
	if _, err := os.Stat(filepath.Join(target.home, ".pi/agent/settings.json")); !os.IsNotExist(err) {
		t.Errorf("--kind codex --full copied Pi's settings (%v)", err)
	}
}
