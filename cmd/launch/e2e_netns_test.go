//go:build integration

package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// nsLab is two HTTP servers in a network namespace the test creates: a
// veth pair joins it to the host (10.231.N.0/30), so that the engines'
// networks reach it by routing through the host, as they would reach the
// internet, and test traffic never leaves this machine or goes to an
// address the test did not make. It is removed at the end.
type nsLab struct {
	ip           string // the servers' address, in the namespace
	portA, portD int    // the allowed and the denied server
}

func (l *nsLab) allowed() string { return fmt.Sprintf("%s:%d", l.ip, l.portA) }
func (l *nsLab) denied() string  { return fmt.Sprintf("%s:%d", l.ip, l.portD) }

func newNSLab(t *testing.T) *nsLab {
	t.Helper()
	if os.Getuid() != 0 {
		need(t, fmt.Errorf("the network namespace lab needs root (ip netns)"))
	}
	if _, err := exec.LookPath("ip"); err != nil {
		need(t, fmt.Errorf("the network namespace lab needs ip (iproute2): %v", err))
	}
	n := os.Getpid()%250 + 1
	ns, host, peer := fmt.Sprintf("launch-e2e-%d", n), fmt.Sprintf("lnch%dh", n), fmt.Sprintf("lnch%dn", n)
	hostIP, ip := fmt.Sprintf("10.231.%d.1", n), fmt.Sprintf("10.231.%d.2", n)
	ipc := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", ns).Run() // a killed run's
	exec.Command("ip", "link", "del", host).Run()
	ipc("netns", "add", ns)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", host).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	ipc("link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns)
	ipc("addr", "add", hostIP+"/30", "dev", host)
	ipc("link", "set", host, "up")
	ipc("-n", ns, "addr", "add", ip+"/30", "dev", peer)
	ipc("-n", ns, "link", "set", peer, "up")
	ipc("-n", ns, "link", "set", "lo", "up")
	ipc("-n", ns, "route", "add", "default", "via", hostIP)
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		need(t, fmt.Errorf("net.ipv4.ip_forward is off: the engines' networks cannot reach the lab"))
	}

	lab := &nsLab{ip: ip}
	ls := listenIn(t, "/var/run/netns/"+ns, ip, 2)
	for i, l := range ls {
		name := []string{"allowed", "denied"}[i]
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello-from-%s\n", name)
		})}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}
	lab.portA, lab.portD = ls[0].Addr().(*net.TCPAddr).Port, ls[1].Addr().(*net.TCPAddr).Port
	return lab
}

// probe is the busybox script run inside: interfaces, the proxied GETs
// and CONNECTs when a proxy is set (to wherever HTTP_PROXY points), then
// direct attempts without the proxy: HTTP to the allowed server by
// address, and a DNS lookup of a name outside.
func (l *nsLab) probe() string {
	via := func(req string) string {
		return fmt.Sprintf(`$( (printf '%s'; sleep 2) | nc "$ph" "$pp" | tr '\r\n' '  ')`, req)
	}
	a, d := l.allowed(), l.denied()
	return strings.Join([]string{
		`echo "ifaces: $(awk -F: 'NR>2{gsub(/ /,"",$1); printf "%s ", $1}' /proc/net/dev)"`,
		`echo "proxy: ${HTTP_PROXY:-none}"`,
		`p=${HTTP_PROXY#http://}; ph=${p%:*}; pp=${p##*:}`,
		`if [ -n "$HTTP_PROXY" ]; then`,
		fmt.Sprintf(`echo "get-allowed: %s"`, via(fmt.Sprintf(`GET http://%s/ HTTP/1.0\r\nHost: %s\r\n\r\n`, a, a))),
		fmt.Sprintf(`echo "get-denied: %s"`, via(fmt.Sprintf(`GET http://%s/ HTTP/1.0\r\nHost: %s\r\n\r\n`, d, d))),
		fmt.Sprintf(`echo "connect-allowed: %s"`, via(fmt.Sprintf(`CONNECT %s HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.0\r\n\r\n`, a))),
		fmt.Sprintf(`echo "connect-denied: %s"`, via(fmt.Sprintf(`CONNECT %s HTTP/1.1\r\nHost: x\r\n\r\n`, d))),
		`fi`,
		fmt.Sprintf(`v=$( (printf 'GET / HTTP/1.0\r\n\r\n'; sleep 2) | nc -w 3 %s %d 2>&1); rc=$?; echo "direct-http: $(echo $v) rc=$rc"`, l.ip, l.portA),
		`v=$(nslookup example.com 2>&1); rc=$?; echo "direct-dns: $(echo $v) rc=$rc"`,
	}, "\n")
}

// TestE2ENetworkOpenReachesOutside: under open the agent reaches a server
// outside the engine's network (in the lab's namespace) by address; under
// none and through an allowlist (host proxy) it does not, and through an
// allowlist that names it, only by the proxy. Docker (runc and runsc),
// rootless and rootful Podman, Apptainer.
func TestE2ENetworkOpenReachesOutside(t *testing.T) {
	lab := newNSLab(t)
	for _, b := range networkBackends() {
		t.Run(string(b.name), func(t *testing.T) {
			s := newNetSession(t, b)
			out, errOut, code := s.run("", "--yes", "--network", "open", "shell", lab.probe())
			if code != 0 {
				t.Fatalf("--network open: exit %d: %s", code, errOut)
			}
			r := probeResults(out)
			if !strings.Contains(r["direct-http"], "hello-from-allowed") {
				t.Errorf("--network open: the agent does not reach %s: %q", lab.allowed(), r["direct-http"])
			}
			for _, policy := range []string{"none", "allow=" + lab.allowed()} {
				out, errOut, code = s.run("", "--yes", "--network", policy, "shell", lab.probe())
				if code != 0 {
					t.Fatalf("--network %s: exit %d: %s", policy, code, errOut)
				}
				r = probeResults(out)
				if strings.Contains(r["direct-http"], "hello") || strings.HasSuffix(r["direct-http"], "rc=0") {
					t.Errorf("--network %s: a direct connection reached the server: %q", policy, r["direct-http"])
				}
				if policy != "none" && (!strings.Contains(r["get-allowed"], "hello-from-allowed") || !strings.Contains(r["get-denied"], "403 Forbidden")) {
					t.Errorf("--network %s: through the proxy: allowed %q, denied %q", policy, r["get-allowed"], r["get-denied"])
				}
			}
		})
	}
}

// sidecarRE finds the sidecar's and its volume's names in the notes of
// --verbose or --dry-run.
var sidecarRE = regexp.MustCompile(`the container (launch-proxy-\d+), on the engine's default network, runs launch proxy on a Unix socket in the volume (launch-net-\d+)`)

// TestE2ENetworkSidecar: an allowlist through a proxy sidecar on Docker,
// runc and runsc (network_via = "sidecar", the macOS design, run here on
// Linux): the agent has only lo and reaches the allowed server only
// through the sidecar's socket on a shared volume (GET and CONNECT), gets
// the 403 for the other; direct HTTP and an outside DNS lookup fail; every
// decision is in the session log on the host; the sidecar and its volume
// are gone after a normal end, after Ctrl-C, after the dry run's snippet,
// and after launch stop of a detached session; launch gc removes a leftover
// one.
func TestE2ENetworkSidecar(t *testing.T) {
	lab := newNSLab(t)
	for _, b := range networkBackends() {
		if b.name == backendSingularity {
			continue
		}
		t.Run(string(b.name), func(t *testing.T) {
			s := newNetSession(t, b)
			eng := engineCLI(b)
			checkSidecarGone := func(t *testing.T, container, volume string) {
				t.Helper()
				if out, err := exec.Command(eng[0], append(eng[1:], "container", "inspect", container)...).CombinedOutput(); err == nil {
					t.Errorf("the sidecar %s is left: %s", container, out)
				}
				if out, err := exec.Command(eng[0], append(eng[1:], "volume", "inspect", volume)...).CombinedOutput(); err == nil {
					t.Errorf("the volume %s is left: %s", volume, out)
				}
			}
			allow := "allow=" + lab.allowed()
			out, errOut, code := s.run("", "--yes", "--verbose", "--network-via", "sidecar", "--network", allow, "shell", lab.probe())
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			r := probeResults(out)
			checkThroughProxy(t, r)
			if !strings.Contains(r["connect-denied"], "403 Forbidden") {
				t.Errorf("CONNECT to the other server: %q", r["connect-denied"])
			}
			if strings.Contains(r["direct-http"], "hello") || strings.HasSuffix(r["direct-http"], "rc=0") {
				t.Errorf("a direct connection reached the server: %q", r["direct-http"])
			}
			if !strings.Contains(r["direct-dns"], "rc=") || strings.HasSuffix(r["direct-dns"], "rc=0") {
				t.Errorf("a lookup of an outside name answered: %q", r["direct-dns"])
			}
			m := sidecarRE.FindStringSubmatch(errOut)
			if m == nil {
				t.Fatalf("--verbose does not name the sidecar:\n%s", errOut)
			}
			checkSidecarGone(t, m[1], m[2])
			checkNSSessionLog(t, s, lab)

			// Ctrl-C: launch is interrupted while the agent runs.
			c := s.cmd("--yes", "--verbose", "--network-via", "sidecar", "--network", allow, "shell", "echo started; sleep 60")
			var stderr strings.Builder
			c.Stderr = &stderr
			pipe, _ := c.StdoutPipe()
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			if n, _ := pipe.Read(buf); !strings.Contains(string(buf[:n]), "started") {
				t.Fatalf("the agent did not start: %q %s", buf[:n], stderr.String())
			}
			c.Process.Signal(os.Interrupt)
			done := make(chan error, 1)
			go func() { done <- c.Wait() }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				c.Process.Kill()
				t.Fatal("launch did not end after SIGINT")
			}
			if m := sidecarRE.FindStringSubmatch(stderr.String()); m != nil {
				checkSidecarGone(t, m[1], m[2])
			} else {
				t.Errorf("--verbose does not name the sidecar:\n%s", stderr.String())
			}

			// SIGKILL: launch cannot clean up; its watcher stops the
			// agent's container, and the sidecar and volume with it.
			c = s.cmd("--yes", "--verbose", "--network-via", "sidecar", "--network", allow, "shell", "echo started; sleep 60")
			stderr.Reset()
			c.Stderr = &stderr
			pipe, _ = c.StdoutPipe()
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			if n, _ := pipe.Read(buf); !strings.Contains(string(buf[:n]), "started") {
				t.Fatalf("the agent did not start: %q %s", buf[:n], stderr.String())
			}
			c.Process.Kill()
			c.Wait()
			if m := sidecarRE.FindStringSubmatch(stderr.String()); m != nil {
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					if exec.Command(eng[0], append(eng[1:], "volume", "inspect", m[2])...).Run() != nil {
						break
					}
					time.Sleep(250 * time.Millisecond)
				}
				checkSidecarGone(t, m[1], m[2])
			} else {
				t.Errorf("--verbose does not name the sidecar:\n%s", stderr.String())
			}

			// The dry run's snippet, run as printed.
			snippet, errOut, code := s.run("", "--dry-run", "--network-via", "sidecar", "--network", allow, "shell", lab.probe())
			if code != 0 {
				t.Fatalf("--dry-run: exit %d: %s", code, errOut)
			}
			sh := s.command("sh", "-c", snippet)
			sh.Env = append(sh.Env, engineEnv(b)...)
			shOut, err := sh.CombinedOutput()
			if err != nil {
				t.Fatalf("the printed snippet: %v\n%s\n--- snippet\n%s", err, shOut, snippet)
			}
			r = probeResults(string(shOut))
			if r["ifaces"] != "lo " || !strings.Contains(r["get-allowed"], "hello-from-allowed") || !strings.Contains(r["get-denied"], "403 Forbidden") || strings.Contains(r["direct-http"], "hello") {
				t.Errorf("the printed snippet does not enforce the allowlist:\n%s\n--- snippet\n%s", shOut, snippet)
			}
			if m := sidecarRE.FindStringSubmatch(errOut); m != nil {
				checkSidecarGone(t, m[1], m[2])
			} else {
				t.Errorf("the dry run does not name the sidecar:\n%s", errOut)
			}

			// A volume of that name from before (an earlier launch with
			// the same pid): the snippet stops and leaves it alone.
			if m := sidecarRE.FindStringSubmatch(errOut); m != nil {
				if out, err := exec.Command(eng[0], append(eng[1:], "volume", "create", m[2])...).CombinedOutput(); err != nil {
					t.Fatalf("volume create: %v: %s", err, out)
				}
				sh := s.command("sh", "-c", snippet)
				sh.Env = append(sh.Env, engineEnv(b)...)
				out, err := sh.CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(string(out), "launch: volume "+m[2]+" exists") || strings.Contains(string(out), "hello") {
					t.Errorf("the snippet with %s there: %v\n%s", m[2], err, out)
				}
				if exec.Command(eng[0], append(eng[1:], "volume", "inspect", m[2])...).Run() != nil {
					t.Errorf("the snippet removed the volume %s it did not make", m[2])
				}
				exec.Command(eng[0], append(eng[1:], "volume", "rm", m[2])...).Run()
			} else {
				t.Errorf("the dry run does not name the sidecar:\n%s", errOut)
			}

			// Detached through the host proxy: refused, naming the sidecar.
			_, errOut, code = s.run("", "--yes", "--detach", "--network", allow, "shell", "true")
			if code != 2 || !strings.Contains(errOut, "use --network-via sidecar") {
				t.Errorf("--detach with the host proxy: exit %d: %s; want it refused, naming the sidecar", code, errOut)
			}

			// Detached: the sidecar stays with the session; launch stop
			// removes all three.
			out, errOut, code = s.run("", "--yes", "--verbose", "--detach", "--network-via", "sidecar", "--network", allow, "shell", "sleep 300")
			if code != 0 {
				t.Fatalf("--detach: exit %d: %s", code, errOut)
			}
			name := strings.TrimSpace(out)
			m = sidecarRE.FindStringSubmatch(errOut)
			if m == nil {
				t.Fatalf("--verbose does not name the sidecar:\n%s", errOut)
			}
			t.Cleanup(func() {
				exec.Command(eng[0], append(eng[1:], "rm", "-f", name, m[1])...).Run()
				exec.Command(eng[0], append(eng[1:], "volume", "rm", "-f", m[2])...).Run()
			})
			if got, _ := exec.Command(eng[0], append(eng[1:], "inspect", "-f", "{{.State.Running}} {{.HostConfig.NetworkMode}} {{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}}{{end}}{{end}}", name)...).Output(); strings.TrimSpace(string(got)) != "true none "+m[2] {
				t.Errorf("detached agent: %q, want running, no network, the volume %s", got, m[2])
			}
			if got, _ := exec.Command(eng[0], append(eng[1:], "inspect", "-f", "{{.State.Running}}", m[1])...).Output(); strings.TrimSpace(string(got)) != "true" {
				t.Errorf("the detached session's sidecar %s: running %q", m[1], got)
			}
			if _, errOut, code = s.run("", "stop", name); code != 0 {
				t.Fatalf("launch stop %s: exit %d: %s", name, code, errOut)
			}
			checkSidecarGone(t, m[1], m[2])

			// launch gc: what a launch killed while it set up its sidecar
			// left (a volume and a created proxy, labelled as a real run
			// labels them, by a launch that is gone).
			tag := fmt.Sprintf("%d", 900000+os.Getpid()%99999)
			vol, side := "launch-net-"+tag, "launch-proxy-"+tag
			uid := testUID // who launch runs as: root on rootful Podman
			if s.cred == nil {
				uid = 0
			}
			labels := []string{"--label", "dev.launch.sidecar=" + side, "--label", "dev.launch.sidecar-volume=" + vol,
				"--label", fmt.Sprintf("dev.launch.user=%d", uid), "--label", "dev.launch.pid=" + tag, "--label", "dev.launch.started=2020-01-01T00:00:00Z"}
			t.Cleanup(func() {
				exec.Command(eng[0], append(eng[1:], "rm", "-f", side)...).Run()
				exec.Command(eng[0], append(eng[1:], "volume", "rm", "-f", vol)...).Run()
			})
			if out, err := exec.Command(eng[0], append(append(append(eng[1:], "volume", "create"), labels...), vol)...).CombinedOutput(); err != nil {
				t.Fatalf("volume create: %v: %s", err, out)
			}
			image := "launch-test/busybox:latest"
			if eng[0] == "podman" {
				image = "localhost/" + image
			}
			if out, err := exec.Command(eng[0], append(append(append(eng[1:], "create", "--name", side, "--mount", "type=volume,source="+vol+",destination=/x"), labels...), image, "true")...).CombinedOutput(); err != nil {
				t.Fatalf("create: %v: %s", err, out)
			}
			out, errOut, code = s.run("", "gc")
			if code != 0 || !strings.Contains(out, side+" and volume "+vol) {
				t.Errorf("launch gc: exit %d, stdout %q, stderr %q; want the sidecar and its volume removed", code, out, errOut)
			}
			checkSidecarGone(t, side, vol)
		})
	}
}

// engineCLI is the command line of the engine a backend under test uses.
func engineCLI(b e2eBackend) []string {
	switch b.name {
	case backendPodman:
		return []string{"podman", "--url", fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID)}
	case "podman-rootful":
		return []string{"podman", "--url", "unix:///run/podman/podman.sock"}
	}
	return []string{"docker"}
}

// engineEnv is what a printed snippet needs to reach the backend's engine.
func engineEnv(b e2eBackend) []string {
	switch b.name {
	case backendPodman:
		return []string{fmt.Sprintf("CONTAINER_HOST=unix:///run/user/%d/podman/podman.sock", testUID)}
	case "podman-rootful":
		return []string{"CONTAINER_HOST=unix:///run/podman/podman.sock"}
	}
	return nil
}

// checkNSSessionLog reads the session log back from the host: the sidecar
// wrote each decision there.
func checkNSSessionLog(t *testing.T, s *session, lab *nsLab) {
	t.Helper()
	checkLogLines(t, s, []string{
		fmt.Sprintf("GET %s:%d allow", lab.ip, lab.portA),
		fmt.Sprintf("GET %s:%d deny", lab.ip, lab.portD),
		fmt.Sprintf("CONNECT %s:%d allow", lab.ip, lab.portA),
		fmt.Sprintf("CONNECT %s:%d deny", lab.ip, lab.portD),
	})
}

// TestE2EForwarderRefusedSocket: under a runtime that refuses host Unix
// sockets (gVisor without --host-uds=open, registered as runsc-nouds by
// .ci/docker.sh) the forwarder stops before the agent, naming the flag,
// with exit 125. launch checks docker's runsc before a run; podman cannot
// show a runtime's arguments, and this is what a user sees there.
func TestE2EForwarderRefusedSocket(t *testing.T) {
	var b e2eBackend
	for _, nb := range networkBackends() {
		if nb.name == "docker-runsc" {
			b = nb
		}
	}
	if b.name == "" {
		t.Fatal("networkBackends has no docker-runsc")
	}
	s := newNetSession(t, b)
	if out, _ := exec.Command("docker", "info", "--format", "{{json .Runtimes}}").Output(); !strings.Contains(string(out), `"runsc-nouds"`) {
		need(t, fmt.Errorf("dockerd has no runtime runsc-nouds (run .ci/docker.sh): %s", out))
	}
	snippet, errOut, code := s.run("", "--dry-run", "--network", "allow=example.test", "shell", "echo agent-ran")
	if code != 0 {
		t.Fatalf("--dry-run: exit %d: %s", code, errOut)
	}
	if !strings.Contains(snippet, "--runtime runsc ") {
		t.Fatalf("the snippet does not use runsc:\n%s", snippet)
	}
	snippet = strings.Replace(snippet, "--runtime runsc ", "--runtime runsc-nouds ", 1)
	out, err := s.command("sh", "-c", snippet).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 {
		t.Errorf("exit %v, want 125\n%s", err, out)
	}
	for _, want := range []string{"launch: network forwarder: the proxy's socket /.launch/net/proxy.sock", "the agent did not start", "--host-uds=open"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "agent-ran") {
		t.Errorf("the agent ran:\n%s", out)
	}
}

// TestE2EDetachedAllowlistApptainer: a detached Apptainer session runs
// under launch's supervisor, which runs the same launch attached: its host
// proxy lives as long as the session, so --detach takes an allowlist.
func TestE2EDetachedAllowlistApptainer(t *testing.T) {
	lab := newNetLab(t)
	s := newNetSession(t, backendNamed(backendSingularity))
	out, errOut, code := s.run("", "--yes", "--detach", "--network", lab.allow(t), "shell", lab.probe())
	if code != 0 {
		t.Fatalf("launch --detach --network allow=: exit %d: %s", code, errOut)
	}
	name := strings.TrimSpace(out)
	t.Cleanup(func() { s.runPlain("stop", name) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		list := sessionsOf(t, s, true)
		if len(list) == 1 && list[0].Status.Ended() || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	logs, _, _ := s.runPlain("logs", name)
	r := probeResults(strings.ReplaceAll(logs, "\r\n", "\n"))
	if r["ifaces"] != "lo " || !strings.Contains(r["get-allowed"], "hello-from-allowed") || !strings.Contains(r["get-denied"], "403 Forbidden") {
		t.Errorf("the detached session does not see the allowlist enforced:\n%s", logs)
	}
	for _, k := range []string{"direct-http", "direct-tcp"} {
		if strings.Contains(r[k], "hello") || strings.HasSuffix(r[k], "rc=0") {
			t.Errorf("%s succeeded: %q", k, r[k])
		}
	}
}
