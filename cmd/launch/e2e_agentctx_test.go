//go:build integration

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EPromptAndSkills: a probe standing in for claude (the catalogue's
// claude with only its command replaced, so it receives the same
// arguments) finds the file its --append-system-prompt-file names, owned by
// itself with mode 0600 and holding the prompt, and the skills asked for,
// a project one and a user one, readable and read-only.
func TestE2EPromptAndSkills(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		s.backend.flags = s.backend.debian
		probe := `echo "args: $*"; f="$2"; echo "me: $(id -u)"; echo "file: $(stat -c '%u %a' "$f")"; cat "$f"; ` +
			`for d in "$PWD/.claude/skills/lint" "$HOME/.claude/skills/review"; do ` +
			`if [ -r "$d/SKILL.md" ]; then echo "skill: $(basename "$d") $(cat "$d/SKILL.md")"; fi; ` +
			`if (echo x > "$d/planted") 2>/dev/null; then echo "WRITABLE $d"; else echo "read-only $(basename "$d")"; fi; done; ` +
			`ls "$HOME/.claude/skills"`
		s.write(filepath.Join(s.home, ".config/launch/config.toml"), fmt.Sprintf("[agents.claude]\ncommand = [\"/bin/sh\", \"-c\", %q, \"probe\"]\nskills = [\"review\"]\n", probe))
		s.write(filepath.Join(s.home, ".claude/skills/review/SKILL.md"), "review-manifest\n")
		s.write(filepath.Join(s.home, ".claude/skills/other/SKILL.md"), "other\n")
		s.write(filepath.Join(s.ws, ".claude/skills/lint/SKILL.md"), "lint-manifest\n")
		prompt := filepath.Join(s.home, "prompt.md")
		s.write(prompt, "You are in a test.\nSecond line.\n")

		out, errs, code := s.run("", "--yes", "--prompt", prompt, "--skill", "lint", "claude")
		for _, want := range []string{
			"args: --append-system-prompt-file /etc/launch/prompt.md\n",
			"You are in a test.\nSecond line.\n",
			"skill: lint lint-manifest\n", "read-only lint\n",
			"skill: review review-manifest\n", "read-only review\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in the probe's output; exit %d, stdout:\n%s\nstderr:\n%s", want, code, out, errs)
			}
		}
		var me, owner, mode string
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "me: "); ok {
				me = v
			}
			if v, ok := strings.CutPrefix(l, "file: "); ok {
				owner, mode, _ = strings.Cut(v, " ")
			}
		}
		if me == "" || owner != me || mode != "600" {
			t.Errorf("prompt file: owner %q mode %q, want the agent's uid %q and 600; stdout:\n%s\nstderr:\n%s", owner, mode, me, out, errs)
		}
		if strings.Contains(out, "WRITABLE") || code != 0 {
			t.Errorf("exit %d; stdout:\n%s\nstderr:\n%s", code, out, errs)
		}

		// An unknown skill stops the launch before anything starts and
		// names the skills there are.
		out, errs, code = s.run("", "--yes", "--skill", "nope", "claude")
		if code != 2 || !strings.Contains(errs, `skill "nope": not found`) || !strings.Contains(errs, "lint, other, review") || out != "" {
			t.Errorf("unknown skill: exit %d, stdout %q, stderr:\n%s", code, out, errs)
		}
	})
}

// treeSum hashes the workspace as the user sees it: every file outside
// .git with its content and mode, and the git index.
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() && rel == ".git" {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v\n", rel, fi.Mode())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := os.ReadFile(filepath.Join(dir, ".git", "index"))
	h.Write(idx)
	return hex.EncodeToString(h.Sum(nil))
}

// isolatedRepo makes the session's workspace a git repository with one
// commit and an uncommitted change, and returns a git runner.
func isolatedRepo(t *testing.T, s *session) func(args ...string) string {
	git := func(args ...string) string {
		t.Helper()
		c := s.command("git", append([]string{"-C", s.ws, "-c", "user.name=t", "-c", "user.email=t@e"}, args...)...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("git %q: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	s.write(filepath.Join(s.ws, "keep"), "keep\n")
	s.write(filepath.Join(s.ws, "modify"), "one\n")
	s.write(filepath.Join(s.ws, "delete"), "gone soon\n")
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "first")
	s.write(filepath.Join(s.ws, "keep"), "keep, changed by the user and not committed\n")
	return git
}

// isolatedProbe modifies, adds and deletes files in the workspace.
const isolatedProbe = `echo two >> modify && echo added > added && rm delete && mkdir -p sub && echo deep > sub/new`

// TestE2EIsolate: the probe modifies, adds and deletes files in an
// isolated workspace; afterwards the host working tree and index are
// byte-identical, the branch launch/SESSION holds exactly those changes on
// top of the user's uncommitted one, and the copy is gone. A workspace that
// is not a git repository comes back as a new directory next to it.
func TestE2EIsolate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		s.backend.flags = s.backend.debian
		git := isolatedRepo(t, s)
		before := treeSum(t, s.ws)
		out, errs, code := s.run("", "--yes", "--isolate", "shell", isolatedProbe)
		if code != 0 {
			t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		if after := treeSum(t, s.ws); after != before {
			t.Errorf("the host working tree or index changed")
		}
		branch := git("for-each-ref", "--format=%(refname:short)", "refs/heads/launch/")
		if !strings.HasPrefix(branch, "launch/shell-") || strings.Contains(branch, "\n") {
			t.Fatalf("want one branch launch/shell-...; have %q; stderr:\n%s", branch, errs)
		}
		if got, want := git("diff", "--name-status", branch+"~1", branch), "A\tadded\nD\tdelete\nM\tmodify\nA\tsub/new"; got != want {
			t.Errorf("the branch's last commit changes:\n%s\nwant:\n%s", got, want)
		}
		if got := git("diff", "--name-status", "main", branch+"~1"); got != "M\tkeep" {
			t.Errorf("the commit below the agent's holds %q, want the user's uncommitted change to keep", got)
		}
		if !strings.Contains(errs, "git merge "+branch) {
			t.Errorf("stderr does not say how to merge:\n%s", errs)
		}
		left, _ := os.ReadDir(filepath.Join(s.home, ".local/state/launch/isolated"))
		if len(left) != 0 {
			t.Errorf("copies left: %v", left)
		}

		// Not a git repository: the copy comes back next to it.
		plain := filepath.Join(filepath.Dir(s.ws), "plain")
		s.write(filepath.Join(plain, "modify"), "one\n")
		s.write(filepath.Join(plain, "delete"), "x\n")
		c := s.cmd("--yes", "--isolate", "shell", isolatedProbe)
		c.Dir = plain
		b, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		matches, _ := filepath.Glob(plain + ".launch-shell-*")
		if len(matches) != 1 || !strings.Contains(string(b), matches[0]) {
			t.Fatalf("want one directory next to the workspace, named in the output; have %v; output:\n%s", matches, b)
		}
		for f, want := range map[string]string{"modify": "one\ntwo\n", "added": "added\n", "sub/new": "deep\n"} {
			if got, _ := os.ReadFile(filepath.Join(matches[0], f)); string(got) != want {
				t.Errorf("%s in the copy: %q, want %q", f, got, want)
			}
		}
		if _, err := os.Stat(filepath.Join(plain, "delete")); err != nil {
			t.Errorf("the workspace lost a file: %v", err)
		}
	})
}

// TestE2EIsolateInterrupted: SIGTERM at random points, 20 times: each run
// leaves either nothing new, a finished branch with exactly the probe's
// changes, or a kept copy that --resume takes up; never a half-written
// branch, a partial copy, or a changed working tree.
func TestE2EIsolateInterrupted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		s.backend.flags = s.backend.debian
		git := isolatedRepo(t, s)
		before := treeSum(t, s.ws)
		state := filepath.Join(s.home, ".local/state/launch/isolated")
		outcomes := map[string]int{}
		for i := range 20 {
			c := s.cmd("--yes", "--isolate", "shell", "sleep 0.5; "+isolatedProbe)
			var errb strings.Builder
			c.Stderr = &errb
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(rand.IntN(2500)) * time.Millisecond)
			c.Process.Signal(syscall.SIGTERM)
			c.Wait()
			if after := treeSum(t, s.ws); after != before {
				t.Fatalf("run %d: the host working tree or index changed; stderr:\n%s", i, errb.String())
			}
			entries, _ := os.ReadDir(state)
			var kept []string
			for _, e := range entries {
				switch {
				case strings.HasSuffix(e.Name(), ".part"):
					t.Fatalf("run %d: a partial copy is left: %s", i, e.Name())
				case e.IsDir():
					kept = append(kept, e.Name())
				}
			}
			for _, k := range kept {
				if _, err := os.Stat(filepath.Join(state, k+".json")); err != nil {
					t.Fatalf("run %d: copy %s without its record: %v", i, k, err)
				}
				if !strings.Contains(errb.String(), "--resume "+k) {
					t.Errorf("run %d: stderr does not say how to resume %s:\n%s", i, k, errb.String())
				}
				out, errs, code := s.run("", "--yes", "--isolate", "--resume", k, "shell", "test -f modify")
				if code != 0 {
					t.Fatalf("run %d: resume %s: exit %d\n%s\n%s", i, k, code, out, errs)
				}
				outcomes["kept, resumed"]++
			}
			branches := git("for-each-ref", "--format=%(refname:short)", "refs/heads/launch/")
			for _, br := range strings.Fields(branches) {
				got := git("diff", "--name-status", br+"~1", br)
				full := "A\tadded\nD\tdelete\nM\tmodify\nA\tsub/new"
				// A finished run's branch holds the probe's changes whole;
				// a resumed copy holds what the probe did before the
				// signal, which may be part of them.
				partial := len(kept) > 0
				for _, l := range strings.Split(got, "\n") {
					partial = partial && strings.Contains(full+"\n", l+"\n")
				}
				if got != full && !partial {
					t.Fatalf("run %d: branch %s holds:\n%s", i, br, got)
				}
				git("branch", "-q", "-D", br)
				if len(kept) == 0 {
					outcomes["branch"]++
				}
			}
			if len(kept) == 0 && branches == "" {
				outcomes["nothing"]++
			}
			if entries, _ := os.ReadDir(state); len(entries) != 0 {
				t.Fatalf("run %d: left in %s after resuming: %v", i, state, entries)
			}
		}
		t.Logf("outcomes of 20 interrupted runs: %v", outcomes)
	})
}

// TestE2ESSHHosts: with ssh_hosts = ["ci"], the agent's ~/.ssh holds only
// the config, known_hosts and the key of that host: not the user's other
// key, config sections or known_hosts lines. Then the agent connects to the
// test sshd (.ci/sshd.sh) with the mounted key and with the forwarded
// agent, and not as another host or directly. Apptainer shares the host's
// network and reaches it on 127.0.0.1:2299; Docker's and Podman's
// containers reach the host on the docker bridge's address, where the test
// starts a second sshd with the same configuration.
func TestE2ESSHHosts(t *testing.T) {
	env, err := os.ReadFile("/var/lib/launch-ci/ssh/env")
	need(t, err)
	vars := map[string]string{}
	for _, l := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = v
		}
	}
	key, err := os.ReadFile(vars["LAUNCH_TEST_SSH_KEY"])
	need(t, err)
	hostKey, err := os.ReadFile("/var/lib/launch-ci/ssh/host_ed25519.pub")
	need(t, err)
	forEachBackend(t, func(t *testing.T, s *session) {
		s.backend.flags = s.backend.debian
		addr, port := "127.0.0.1", vars["LAUNCH_TEST_SSH_PORT"]
		if s.backend.name != backendSingularity {
			addr, port = bridgeSSHD(t)
		}
		user := vars["LAUNCH_TEST_SSH_USER"]
		ssh := filepath.Join(s.home, ".ssh")
		s.write(filepath.Join(ssh, "id_ci"), string(key))
		s.write(filepath.Join(ssh, "id_secret"), "not for the agent\n")
		for _, f := range []string{"id_ci", "id_secret"} {
			os.Chmod(filepath.Join(ssh, f), 0o600)
		}
		s.write(filepath.Join(ssh, "config"), fmt.Sprintf("Host ci\n  HostName %s\n  Port %s\n  User %s\n  IdentityFile ~/.ssh/id_ci\n  ProxyCommand evil\n\nHost other\n  HostName %s\n  Port %s\n  User %s\n  IdentityFile ~/.ssh/id_secret\n",
			addr, port, user, addr, port, user))
		hk := strings.Fields(string(hostKey))
		s.write(filepath.Join(ssh, "known_hosts"), fmt.Sprintf("[%s]:%s %s %s\ngitlab.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf\n", addr, port, hk[0], hk[1]))
		s.write(filepath.Join(s.home, ".config/launch/config.toml"), "[agents.shell]\nssh_hosts = [\"ci\"]\n")

		probe := `ls -A ~/.ssh | tr '\n' ' '; echo; cat ~/.ssh/config ~/.ssh/known_hosts; stat -c 'key %a' ~/.ssh/launch-ci-0`
		out, errs, code := s.run("", "--yes", "shell", probe)
		if code != 0 || !strings.Contains(out, "config known_hosts launch-ci-0 \n") || !strings.Contains(out, "key 600") {
			t.Fatalf("~/.ssh: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		for _, bad := range []string{"other", "id_secret", "gitlab.com", "ProxyCommand", "evil"} {
			if strings.Contains(out, bad) {
				t.Errorf("the agent sees %q:\n%s", bad, out)
			}
		}
		// The host's ssh client, with the host's libraries (both Debian 12).
		tools := []string{"--mount", "/usr/bin/ssh:/usr/local/bin/ssh:ro", "--mount", "/usr/lib/x86_64-linux-gnu:/opt/hostlib:ro", "--env", "LD_LIBRARY_PATH=/opt/hostlib"}
		connect := `ssh -o BatchMode=yes ci echo CONNECTED; ` +
			`ssh -o BatchMode=yes other true 2>/dev/null || echo OTHER-REFUSED; ` +
			`ssh -o BatchMode=yes -p ` + port + ` ` + user + `@` + addr + ` true 2>/dev/null || echo DIRECT-REFUSED`
		out, errs, code = s.run("", append(append([]string{"--yes"}, tools...), "shell", connect)...)
		if code != 0 || !strings.Contains(out, "CONNECTED") || !strings.Contains(out, "OTHER-REFUSED") || !strings.Contains(out, "DIRECT-REFUSED") {
			t.Errorf("ssh with the mounted key: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}

		// The same through a forwarded agent: no key file is mounted.
		agentDir := filepath.Join(s.home, "agent")
		os.MkdirAll(agentDir, 0o700)
		if s.cred != nil {
			os.Chown(agentDir, int(s.cred.Uid), int(s.cred.Gid))
		}
		sock := filepath.Join(agentDir, "sock")
		ag := s.command("ssh-agent", "-D", "-a", sock)
		if err := ag.Start(); err != nil {
			need(t, fmt.Errorf("ssh-agent: %v", err))
		}
		t.Cleanup(func() { ag.Process.Kill(); ag.Wait() })
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		add := s.command("ssh-add", filepath.Join(ssh, "id_ci"))
		add.Env = append(add.Env, "SSH_AUTH_SOCK="+sock)
		if b, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v: %s", err, b)
		}
		s.env = append(s.env, "SSH_AUTH_SOCK="+sock)
		out, errs, code = s.run("", append(append([]string{"--yes", "--ssh-agent"}, tools...), "shell", `ls -A ~/.ssh | tr '\n' ' '; echo; `+connect)...)
		if code != 0 || !strings.Contains(out, "config known_hosts \n") || !strings.Contains(out, "CONNECTED") || !strings.Contains(out, "OTHER-REFUSED") {
			t.Errorf("ssh through the agent: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
	})
}

// bridgeSSHD starts, for this test, a second sshd with the test sshd's
// configuration on the docker bridge's address (which Docker's and
// rootless Podman's containers reach), and returns its address and port.
func bridgeSSHD(t *testing.T) (string, string) {
	t.Helper()
	if os.Getuid() != 0 {
		need(t, fmt.Errorf("a second sshd on the docker bridge needs root"))
	}
	var addr string
	if ifc, err := net.InterfaceByName("docker0"); err == nil {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil {
				addr = ip.IP.String()
			}
		}
	}
	if addr == "" {
		need(t, fmt.Errorf("no IPv4 address on the docker0 bridge"))
	}
	port := strconv.Itoa(22000 + rand.IntN(2000))
	d := exec.Command("/usr/sbin/sshd", "-D", "-f", "/var/lib/launch-ci/ssh/sshd_config", "-o", "ListenAddress="+addr, "-o", "Port="+port, "-o", "PidFile=none")
	if err := d.Start(); err != nil {
		need(t, fmt.Errorf("sshd: %v", err))
	}
	t.Cleanup(func() { d.Process.Kill(); d.Wait() })
	for i := 0; i < 50; i++ {
		if c, err := net.Dial("tcp", addr+":"+port); err == nil {
			c.Close()
			return addr, port
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("sshd on %s:%s did not answer", addr, port)
	return "", ""
}

// TestE2EIsolateWorktree: an isolated git worktree: the copy is a
// repository of its own on the worktree's branch; the result comes back as
// a branch of the main repository, and the worktree's files and index (in
// the main repository's git directory) are untouched.
func TestE2EIsolateWorktree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		s.backend.flags = s.backend.debian
		main := filepath.Join(s.home, "main")
		git := func(dir string, args ...string) string {
			t.Helper()
			out, err := s.command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@e"}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("git %q: %v: %s", args, err, out)
			}
			return strings.TrimSpace(string(out))
		}
		s.write(filepath.Join(main, "modify"), "one\n")
		s.write(filepath.Join(main, "delete"), "x\n")
		s.write(filepath.Join(main, "keep"), "keep\n")
		git(main, "init", "-q", "-b", "main")
		git(main, "add", "-A")
		git(main, "commit", "-q", "-m", "first")
		git(main, "worktree", "add", "-q", "-b", "wt", s.ws)
		s.write(filepath.Join(s.ws, "keep"), "changed, not committed\n")
		index := git(s.ws, "rev-parse", "--path-format=absolute", "--git-path", "index")
		idx, _ := os.ReadFile(index)
		before := treeSum(t, s.ws)
		out, errs, code := s.run("", "--yes", "--isolate", "shell", isolatedProbe)
		if code != 0 {
			t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		if after, idx2 := treeSum(t, s.ws), mustRead(index); after != before || idx2 != string(idx) {
			t.Errorf("the worktree's files or index changed")
		}
		branch := git(main, "for-each-ref", "--format=%(refname:short)", "refs/heads/launch/")
		if got := git(main, "diff", "--name-status", branch+"~1", branch); got != "A\tadded\nD\tdelete\nM\tmodify\nA\tsub/new" {
			t.Errorf("branch %q: the agent's commit changes:\n%s\nstderr:\n%s", branch, got, errs)
		}
		if got := git(main, "diff", "--name-status", "wt", branch+"~1"); got != "M\tkeep" {
			t.Errorf("the commit below the agent's holds %q, want the worktree's uncommitted change", got)
		}

		// The agent plants a clean filter and a hook in the copy's git
		// directory (a worktree's copy gets its .git when the session starts:
		// nothing of it is a read-only mount): launch's git commands on the
		// host run neither.
		marker := filepath.Join(s.home, "planted-ran")
		plant := fmt.Sprintf(`printf '[filter "x"]\n\tclean = touch %s; cat\n[core]\n\thooksPath = .git/hooks\n' >> .git/config && `+
			`echo '* filter=x' > .gitattributes && mkdir -p .git/hooks && printf '#!/bin/sh\ntouch %s\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && echo more >> modify`, marker, marker)
		out, errs, code = s.run("", "--yes", "--isolate", "shell", plant)
		if _, err := os.Stat(marker); err == nil || code != 0 {
			t.Errorf("what the agent planted ran on the host (or exit %d); stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		// The copy's .git is the return's to check (it runs no git with it),
		// not the protected paths' fingerprint: nothing of it is moved aside.
	})
}

func mustRead(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
