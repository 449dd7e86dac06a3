//go:build integration

package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeHostPort is a TCP port free on the host's loopback just now.
func freeHostPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHTTP gets url until it answers 200 with want in its body, or done
// closes (launch exited), or a minute passes.
func waitHTTP(t *testing.T, url, want string, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	c := http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), want) {
				return
			}
			last = fmt.Sprintf("%s: %s", resp.Status, b)
		} else {
			last = err.Error()
		}
		select {
		case <-done:
			t.Fatalf("launch exited before %s answered (last: %s)", url, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not answer %q within a minute (last: %s)", url, want, last)
}

// otherHostAddrs are the host's addresses other than loopback.
func otherHostAddrs(t *testing.T) []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			out = append(out, n.IP)
		}
	}
	return out
}

// TestE2EPublish: --publish HOST:CTR serves a server in the container on
// the host's 127.0.0.1:HOST and on no other host address, on Docker (runc
// and runsc) and rootful and rootless Podman; Apptainer refuses what it cannot do, with the reason.
func TestE2EPublish(t *testing.T) {
	for _, b := range networkBackends() {
		t.Run(string(b.name), func(t *testing.T) {
			s := newNetSession(t, b)
			if b.name == backendSingularity {
				_, errOut, code := s.run("", "--yes", "--publish", "18080:80", "shell", "true")
				if code != 2 || !strings.Contains(errOut, "apptainer shares the host's network and cannot map ports") {
					t.Errorf("apptainer --publish 18080:80: exit %d, want 2 and the reason; stderr:\n%s", code, errOut)
				}
				_, errOut, code = s.run("", "--yes", "--network", "none", "--publish", "18080:18080", "shell", "true")
				if code != 2 || !strings.Contains(errOut, "needs --network open") {
					t.Errorf("apptainer --network none --publish: exit %d, want 2 and the reason; stderr:\n%s", code, errOut)
				}
				return
			}
			_, errOut, code := s.run("", "--yes", "--network", "none", "--publish", "18080:80", "shell", "true")
			if code != 2 || !strings.Contains(errOut, "needs --network open") {
				t.Errorf("--network none --publish: exit %d, want 2 and the reason; stderr:\n%s", code, errOut)
			}

			port := freeHostPort(t)
			script := `mkdir -p "$HOME/www" && echo "published from the container" > "$HOME/www/index.html" && exec httpd -f -p 8080 -h "$HOME/www"`
			c := s.cmd("--yes", "--network", "open", "--publish", strconv.Itoa(port)+":8080", "shell", script)
			var errb bytes.Buffer
			c.Stdout, c.Stderr = io.Discard, &errb
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			defer func() {
				c.Process.Signal(syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(time.Minute):
					c.Process.Kill()
					t.Errorf("launch did not stop within a minute of SIGTERM")
				}
			}()
			waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port), "published from the container", done)
			for _, ip := range otherHostAddrs(t) {
				conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)), 2*time.Second)
				if err == nil {
					conn.Close()
					t.Errorf("the published port %d answers on the host's %s too; want 127.0.0.1 only", port, ip)
				}
			}
			ps, psErr, _ := s.run("", "ps")
			if !strings.Contains(ps, fmt.Sprintf("ports 127.0.0.1:%d:8080", port)) {
				t.Errorf("launch ps does not show the published port:\n%s%s", ps, psErr)
			}
			if t.Failed() {
				t.Logf("launch's stderr:\n%s", errb.String())
			}
		})
	}
}

// TestE2ELogin: launch login codex runs the catalogue's login (here a fake
// codex whose callback server listens on the container's 127.0.0.1:1455,
// as codex login's does) with the callback published on the host's
// 127.0.0.1: a request there reaches it, and the credential file it
// writes lands in the caller's ~/.codex. Docker (runc, runsc), rootful and
// rootless Podman; the
// host port is chosen free (--port), the container's stays 1455.
func TestE2ELogin(t *testing.T) {
	for _, b := range networkBackends() {
		if b.name == backendSingularity {
			continue // the host's own network: no relay, nothing published
		}
		t.Run(string(b.name), func(t *testing.T) {
			s := newNetSession(t, b)
			// The callback (a CGI of busybox httpd, in the workspace) writes
			// the credentials and answers; the login ends once they are
			// there, as codex login does.
			www := filepath.Join(s.ws, "www")
			cgi := filepath.Join(www, "cgi-bin", "callback")
			s.write(cgi, "#!/bin/sh\necho '{\"tokens\": \"fake\"}' > /home/devuser/.codex/auth.json\nprintf 'Content-Type: text/plain\\r\\n\\r\\nlogin complete\\n'\n")
			if err := os.Chmod(cgi, 0o755); err != nil {
				t.Fatal(err)
			}
			fake := "httpd -f -p 127.0.0.1:1455 -h " + www + " & pid=$!; while [ ! -s $HOME/.codex/auth.json ]; do sleep 1; done; kill $pid; echo Successfully logged in"
			s.write(filepath.Join(s.home, ".config", "launch", "config.toml"),
				fmt.Sprintf("[agents.codex]\nlogin = [\"sh\", \"-c\", %q]\n", fake))
			port := freeHostPort(t)
			c := s.cmd("--yes", "login", "--port", strconv.Itoa(port), "--no-browser-check", "codex")
			var out, errb bytes.Buffer
			c.Stdout, c.Stderr = &out, &errb
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			var werr error
			go func() { werr = c.Wait(); close(done) }()
			t.Cleanup(func() {
				// A failed test stops the login (and its container) too.
				c.Process.Signal(syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(time.Minute):
					c.Process.Kill()
				}
			})
			waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/callback?code=x", port), "login complete", done)
			select {
			case <-done:
			case <-time.After(time.Minute):
				c.Process.Kill()
				t.Fatalf("launch login did not end within a minute of the callback; stderr:\n%s", errb.String())
			}
			if werr != nil || !strings.Contains(out.String(), "Successfully logged in") {
				t.Fatalf("launch login: %v; stdout:\n%s\nstderr:\n%s", werr, out.String(), errb.String())
			}
			auth := filepath.Join(s.home, ".codex", "auth.json")
			b, err := os.ReadFile(auth)
			if err != nil || !strings.Contains(string(b), "fake") {
				t.Fatalf("the login's credentials are not in the caller's ~/.codex: %v %q", err, b)
			}
			if fi, err := os.Stat(auth); err == nil && s.cred != nil {
				if st := fi.Sys().(*syscall.Stat_t); st.Uid != s.cred.Uid {
					t.Errorf("%s belongs to uid %d, want the caller's %d", auth, st.Uid, s.cred.Uid)
				}
			}
		})
	}
}
