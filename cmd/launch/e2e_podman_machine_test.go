//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sess "github.com/launchcli/launch/session"
)

// What a podman machine is to launch (Podman Desktop on a Mac): an ssh
// server on a port of 127.0.0.1, reached with an identity file, in front of
// a Podman service, the user's rootless one or, after `podman machine set
// --rootful`, root's. machineLab stands one up on this machine: the real
// sshd, with a host key, a config and a port of its own, in front of the
// services .ci/podman.sh starts; launch runs as the service's user, as on a
// Mac.

// machineLab is an sshd of the test's own on 127.0.0.1:port. The test
// listens itself and hands each connection to `sshd -i` (inetd mode): the
// port is the kernel's pick, with nothing to wait for, and stop closes it,
// as a stopped machine's port is closed.
type machineLab struct {
	t    *testing.T
	dir  string // host key, client key, config, authorized keys: root's
	port int
	ln   net.Listener

	mu      sync.Mutex
	log     bytes.Buffer       // every sshd's stderr (-e)
	running map[*exec.Cmd]bool // the sshd -i processes that still run
	wg      sync.WaitGroup
}

// newMachineLab starts the sshd; users may log in with the lab's client
// key.
func newMachineLab(t *testing.T, users ...string) *machineLab {
	t.Helper()
	if os.Getuid() != 0 {
		need(t, fmt.Errorf("the podman machine test runs sshd and launch as other users, which needs root"))
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if sshd, err = exec.LookPath("/usr/sbin/sshd"); err != nil {
			need(t, fmt.Errorf("sshd missing (run .ci/sshd.sh): %v", err))
		}
	}
	for _, u := range users {
		if err := loginable(u); err != nil {
			need(t, err)
		}
	}
	dir, err := os.MkdirTemp("", "launch-machine-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, k := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "launch-machine-"+k, "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client.pub"))
	if err != nil {
		t.Fatal(err)
	}
	// sshd reads a user's authorized keys as that user.
	keys := filepath.Join(dir, "authorized_keys")
	os.Mkdir(keys, 0o755)
	for _, u := range users {
		if err := os.WriteFile(filepath.Join(keys, u), pub, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "sshd_config")
	// StrictModes off: the authorized keys live under /tmp, which is
	// world-writable. Logins by key only; forwarding, which a podman
	// connection uses to reach the service's Unix socket, to this machine
	// only (sshd grants Unix sockets only with local TCP forwarding).
	if err := os.WriteFile(conf, []byte(strings.Join([]string{
		"HostKey " + filepath.Join(dir, "host"),
		"AuthorizedKeysFile " + keys + "/%u",
		"AllowUsers " + strings.Join(users, " "),
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"AllowStreamLocalForwarding yes",
		"AllowTcpForwarding local",
		"X11Forwarding no",
		"PermitTTY no",
		"LogLevel INFO",
		"",
	}, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	// sshd's privilege separation directory (.ci/sshd.sh makes it too).
	os.MkdirAll("/run/sshd", 0o755)
	if out, err := exec.Command(sshd, "-t", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lab := &machineLab{t: t, dir: dir, port: ln.Addr().(*net.TCPAddr).Port, ln: ln, running: map[*exec.Cmd]bool{}}
	lab.wg.Add(1)
	go lab.serve(sshd, conf)
	t.Cleanup(lab.stop)
	return lab
}

// loginable says why sshd (without PAM) would refuse user's key: a locked
// account ("!" in /etc/shadow). .ci/sshd.sh unlocks the test user.
func loginable(name string) error {
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) > 1 && f[0] == name && strings.HasPrefix(f[1], "!") {
			return fmt.Errorf("the account %s is locked, and sshd refuses its key (run .ci/sshd.sh, which unlocks it)", name)
		}
	}
	return nil
}

// serve hands each connection to an sshd -i of its own.
func (l *machineLab) serve(sshd, conf string) {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		f, err := c.(*net.TCPConn).File()
		c.Close()
		if err != nil {
			continue
		}
		cmd := exec.Command(sshd, "-i", "-e", "-f", conf)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, lockedWriter{&l.mu, &l.log}
		l.mu.Lock()
		err = cmd.Start()
		if err == nil {
			l.running[cmd] = true
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				cmd.Wait()
				l.mu.Lock()
				delete(l.running, cmd)
				l.mu.Unlock()
			}()
		}
		l.mu.Unlock()
		f.Close()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// stop closes the port, as a stopped machine's is, and ends the sshd
// processes it started that still run.
func (l *machineLab) stop() {
	l.ln.Close()
	l.mu.Lock()
	for c := range l.running {
		c.Process.Kill()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// sshdLog is what the sshd processes logged so far.
func (l *machineLab) sshdLog() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log.String()
}

// logins counts user's accepted logins so far.
func (l *machineLab) logins(user string) int {
	return strings.Count(l.sshdLog(), "Accepted publickey for "+user+" from 127.0.0.1")
}

// uri is the ssh:// address of the socket sock as user.
func (l *machineLab) uri(user, sock string) string {
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", user, l.port, sock)
}

// machineConn is one machine under test: whose service, reached how.
type machineConn struct {
	name     string // the connection's name in podman-connections.json
	user     string // who logs in, and who runs launch
	uid      int
	sock     string // the service's socket in the "machine"
	rootless bool
}

// machineConns are the two kinds of podman machine: rootless (the
// default) and rootful (`podman machine set --rootful`, which makes the
// -root connection the default).
func machineConns(t *testing.T) []machineConn {
	u, err := user.LookupId(strconv.Itoa(testUID))
	if err != nil {
		need(t, fmt.Errorf("no user with uid %d (.ci/run creates launchuser): %v", testUID, err))
	}
	return []machineConn{
		{name: "podman-machine-default", user: u.Username, uid: testUID, sock: fmt.Sprintf("/run/user/%d/podman/podman.sock", testUID), rootless: true},
		{name: "podman-machine-default-root", user: "root", uid: 0, sock: "/run/podman/podman.sock"},
	}
}

// TestE2EPodmanMachine runs launch through a podman machine's connection,
// stood up on loopback (machineLab), rootless and rootful, as the
// service's user: each way of naming the connection (podman-connections.json
// as Podman Desktop writes it, containers.conf's service_destinations,
// CONTAINER_HOST with CONTAINER_SSHKEY, --url) goes through the sshd; an
// attached session (stdin, stdout and stderr, exit code, the environment
// allowlist, a workspace write); a detached one (--detach, ps, attach,
// logs, stop); an allowlist through the proxy sidecar (the macOS default);
// launch doctor, which names the connection, and with the machine stopped
// says to start it, as does a run.
func TestE2EPodmanMachine(t *testing.T) {
	conns := machineConns(t)
	lab := newNSLab(t)
	for _, mc := range conns {
		t.Run(map[bool]string{true: "rootless", false: "rootful"}[mc.rootless], func(t *testing.T) {
			testMachine(t, mc, lab)
		})
	}
}

func testMachine(t *testing.T, mc machineConn, lab *nsLab) {
	b := backendNamed(backendPodman)
	if !mc.rootless {
		for _, nb := range networkBackends() {
			if nb.name == "podman-rootful" {
				b.ready = nb.ready // the image in the rootful store
			}
		}
	}
	s := newSession(t, b)
	if !mc.rootless {
		// launch runs as root, the rootful service's user, in a workspace
		// of its own.
		s.cred = nil
		for _, d := range []string{s.home, s.ws} {
			if err := os.Chown(d, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// s.env is the user's own HOME and XDG config and cache directories;
	// XDG_RUNTIME_DIR stays unset, as on a Mac: a connection the user
	// names is tried alone, and the doctor's rootless `podman info` then
	// shares the user's existing runtime directory rather than leaving a
	// pause process in a private one.
	m := newMachineLab(t, mc.user)
	// The identity file where Podman Desktop keeps it, the user's own.
	key := filepath.Join(s.home, ".local", "share", "containers", "podman", "machine", "machine")
	k, err := os.ReadFile(filepath.Join(m.dir, "client"))
	if err != nil {
		t.Fatal(err)
	}
	s.write(key, string(k))
	os.Chmod(key, 0o600)
	uri := m.uri(mc.user, mc.sock)
	cfg := filepath.Join(s.home, ".config", "containers")

	// ran runs launch (args) and checks that it went through the sshd.
	ran := func(what string, env []string, args ...string) {
		t.Helper()
		before := m.logins(mc.user)
		saved := s.env
		s.env = append(append([]string{}, s.env...), env...)
		out, errOut, code := s.run("", append([]string{"--yes"}, append(args, "shell", "echo via-machine")...)...)
		s.env = saved
		if code != 0 || out != "via-machine\n" {
			t.Fatalf("%s: exit %d, stdout %q, stderr:\n%s\nsshd:\n%s", what, code, out, errOut, m.sshdLog())
		}
		if m.logins(mc.user) == before {
			t.Errorf("%s: launch ran, but not through the machine's sshd:\n%s", what, m.sshdLog())
		}
	}

	// containers.conf's [engine.service_destinations] (Podman 4).
	s.write(filepath.Join(cfg, "containers.conf"), fmt.Sprintf("[engine]\nactive_service = %q\n[engine.service_destinations.%s]\nuri = %q\nidentity = %q\nis_machine = true\n", mc.name, mc.name, uri, key))
	ran("containers.conf service_destinations", nil)
	os.Remove(filepath.Join(cfg, "containers.conf"))
	// CONTAINER_HOST with CONTAINER_SSHKEY, and --url: no machine, so the
	// host key is checked (and learnt) in the user's known_hosts.
	ran("CONTAINER_HOST", []string{"CONTAINER_HOST=" + uri, "CONTAINER_SSHKEY=" + key})
	ran("--url", []string{"CONTAINER_SSHKEY=" + key}, "--url", uri)

	// podman-connections.json as Podman Desktop writes it: both of the
	// machine's connections, the default one chosen (the -root one once
	// rootful). Everything below goes through it.
	connections := map[string]any{}
	for _, c := range machineConns(t) {
		connections[c.name] = map[string]any{"URI": m.uri(c.user, c.sock), "Identity": key, "IsMachine": true}
	}
	file, _ := json.Marshal(map[string]any{"Connection": map[string]any{"Default": mc.name, "Connections": connections}, "Farm": map[string]any{}})
	s.write(filepath.Join(cfg, "podman-connections.json"), string(file))
	ran("podman-connections.json", nil)

	t.Run("attached", func(t *testing.T) {
		checkStdio(t, s)
		checkEnvAllowlist(t, s)
		out, errOut, code := s.run("", "--yes", "shell", "echo written-in-the-machine > from-agent.txt")
		if code != 0 {
			t.Fatalf("workspace write: exit %d: %s", code, errOut)
		}
		written := filepath.Join(s.ws, "from-agent.txt")
		b, err := os.ReadFile(written)
		if err != nil || string(b) != "written-in-the-machine\n" {
			t.Errorf("the agent's write in the workspace: %q, %v (stdout %q)", b, err, out)
		}
		if fi, err := os.Stat(written); err == nil {
			if uid := int(fi.Sys().(*syscall.Stat_t).Uid); uid != mc.uid {
				t.Errorf("%s is uid %d's, want the caller's, %d", written, uid, mc.uid)
			}
		}
	})

	t.Run("detached", func(t *testing.T) {
		script := `echo started; while read -r l; do echo "got:$l"; done`
		// Under a terminal, as a person starts it: the session has one.
		p, status := pane(t, s, "detach", append(append([]string{s.bin}, s.backend.debian...), "--yes", "--detach", "shell", script)...)
		if code := status(); code != 0 {
			t.Fatalf("launch --detach: exit %d:\n%s", code, p.screen())
		}
		list := sessionsOf(t, s, false)
		if len(list) != 1 {
			t.Fatalf("launch ps lists %d sessions of the workspace, want 1: %+v", len(list), list)
		}
		name := list[0].Name
		t.Cleanup(func() { s.runPlain("stop", name) })
		if !strings.Contains(p.screen(), name) || list[0].Backend != string(backendPodman) || list[0].Status != sess.Running || !list[0].Detached || list[0].UID != mc.uid {
			t.Fatalf("launch ps: %+v, want the session launch --detach printed, running, detached, uid %d:\n%s", list, mc.uid, p.screen())
		}
		a, attached := pane(t, s, "attach", s.bin, "attach", name)
		// What is typed before the attach is made may be lost: type again
		// until the session answers.
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(a.screen(), "got:hello there") {
			if time.Now().After(deadline) {
				t.Fatalf("launch attach: the session never answered; the terminal shows:\n%s", a.screen())
			}
			a.send("hello there", "Enter")
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && !strings.Contains(a.screen(), "got:hello there"); {
				time.Sleep(100 * time.Millisecond)
			}
		}
		a.send("C-p", "C-q")
		a.waitFor("detached from " + name)
		if code := attached(); code != 0 {
			t.Errorf("launch attach after a detach: exit %d", code)
		}
		logs, errOut, code := s.runPlain("logs", name)
		if code != 0 || !strings.Contains(logs, "started") || !strings.Contains(logs, "got:hello there") {
			t.Errorf("launch logs: exit %d, stdout:\n%s\nstderr:\n%s", code, logs, errOut)
		}
		stopped, errOut, code := s.runPlain("stop", name)
		if code != 0 || strings.TrimSpace(stopped) != name {
			t.Errorf("launch stop: exit %d, stdout %q, stderr:\n%s", code, stopped, errOut)
		}
		if list := sessionsOf(t, s, true); len(list) != 0 {
			t.Errorf("after launch stop, ps -a lists %+v", list)
		}
	})

	t.Run("sidecar", func(t *testing.T) {
		allow := "allow=" + lab.allowed()
		out, errOut, code := s.run("", "--yes", "--network-via", "sidecar", "--network", allow, "shell", lab.probe())
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		r := probeResults(out)
		checkThroughProxy(t, r)
		if !strings.Contains(r["connect-denied"], "403 Forbidden") || !strings.Contains(r["connect-denied"], "is not in the network allowlist") {
			t.Errorf("CONNECT to the other server: %q, want the proxy's 403", r["connect-denied"])
		}
		if strings.Contains(r["direct-http"], "hello") || strings.HasSuffix(r["direct-http"], "rc=0") {
			t.Errorf("a direct connection reached the server: %q", r["direct-http"])
		}
		checkNSSessionLog(t, s, lab)
	})

	t.Run("doctor", func(t *testing.T) {
		rep, out := machineDoctor(t, s)
		if !hasFact(rep, "connection", uri+` (connection "`+mc.name+`" in `+filepath.Join(cfg, "podman-connections.json")+`)`) {
			t.Errorf("launch doctor does not name the connection %s:\n%s", uri, out)
		}
		kind := map[bool]string{true: "rootless", false: "rootful"}[mc.rootless] + ", in a podman machine"
		if !hasFact(rep, "its service", kind) {
			t.Errorf("launch doctor does not say %q:\n%s", kind, out)
		}

		// The machine stopped: its port closed.
		m.stop()
		machine := strings.TrimSuffix(mc.name, "-root")
		out, code := doctorRun(t, s, nil, "--backend", "podman")
		words := strings.Join(strings.Fields(out), " ")
		for _, want := range []string{
			"podman: NOT READY (default backend)",
			fmt.Sprintf(`✗ the podman machine %q is not running: nothing answers at 127.0.0.1:%d`, machine, m.port),
			"fix: start it: `podman machine start " + machine + "`, or start it in Podman Desktop",
		} {
			if !strings.Contains(words, want) {
				t.Errorf("launch doctor with the machine stopped lacks %q:\n%s", want, out)
			}
		}
		for _, raw := range []string{"dial tcp", "connection refused", "unable to connect"} {
			if strings.Contains(out, raw) {
				t.Errorf("launch doctor with the machine stopped shows the raw error (%q):\n%s", raw, out)
			}
		}
		if code != 1 {
			t.Errorf("launch doctor with the machine stopped: exit %d, want 1", code)
		}
		_, errOut, code := s.run("", "--yes", "shell", "true")
		if code == 0 || !strings.Contains(errOut, "podman machine start "+machine) || strings.Contains(errOut, "dial tcp") {
			t.Errorf("a run with the machine stopped: exit %d, stderr:\n%s", code, errOut)
		}
	})
}

// doctorReport is the podman part of launch doctor --json.
type doctorReport struct {
	Ready bool `json:"ready"`
	Facts []struct {
		Name, Value string
	} `json:"facts"`
	Problems []struct {
		What, Fix string
	} `json:"problems"`
}

// machineDoctor is launch --backend podman doctor --json's podman report.
func machineDoctor(t *testing.T, s *session) (doctorReport, string) {
	t.Helper()
	out, _ := doctorRun(t, s, nil, "--backend", "podman", "--json")
	var res struct {
		Backends []struct {
			Backend string `json:"backend"`
			doctorReport
		} `json:"backends"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("launch doctor --json: %v\n%s", err, out)
	}
	for _, b := range res.Backends {
		if b.Backend == "podman" {
			return b.doctorReport, out
		}
	}
	t.Fatalf("launch doctor --json has no podman report:\n%s", out)
	return doctorReport{}, ""
}

func hasFact(r doctorReport, name, value string) bool {
	for _, f := range r.Facts {
		if f.Name == name && f.Value == value {
			return true
		}
	}
	return false
}
