package netpolicy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/launchcli/launch/plan"
)

// victim is a TCP server on the host's loopback that counts the
// connections it accepts: what an attack through the proxy would reach.
type victim struct {
	port     int
	accepted atomic.Int64
}

func newVictim(t *testing.T, network, addr string) *victim {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil
	}
	t.Cleanup(func() { l.Close() })
	v := &victim{port: l.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			v.accepted.Add(1)
			io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nhost secret\n")
			c.Close()
		}
	}()
	return v
}

// attackProxy is a Proxy for allow on a loopback TCP listener, whose
// resolver answers from names and whose dialer records each address and
// dials it only when it is on the loopback.
type attackProxy struct {
	p      *Proxy
	addr   string
	mu     sync.Mutex
	dialed []string
	looked []string
}

func newAttackProxy(t *testing.T, allow []plan.HostPort, policy string, names map[string][]string) *attackProxy {
	t.Helper()
	a := &attackProxy{}
	a.p = &Proxy{Allow: NewMatcher(allow), Policy: policy,
		Resolve: func(_ context.Context, name string) ([]netip.Addr, error) {
			a.mu.Lock()
			a.looked = append(a.looked, name)
			a.mu.Unlock()
			var ips []netip.Addr
			for _, s := range names[name] {
				ips = append(ips, netip.MustParseAddr(s))
			}
			if len(ips) == 0 {
				return nil, fmt.Errorf("no such name %s", name)
			}
			return ips, nil
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			a.mu.Lock()
			a.dialed = append(a.dialed, addr)
			a.mu.Unlock()
			host, _, _ := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("the test has no network: %s", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	srv := httptest.NewServer(a.p)
	t.Cleanup(func() {
		a.p.Close()
		srv.Close()
	})
	a.addr = srv.Listener.Addr().String()
	return a
}

// send writes a raw request to the proxy and returns the status code and
// what came back (for a tunnel: what the destination sent).
func (a *attackProxy) send(t *testing.T, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, req)
	br := bufio.NewReader(c)
	method := http.MethodGet
	if strings.HasPrefix(req, "CONNECT") {
		method = http.MethodConnect
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	if resp.StatusCode == http.StatusOK && method == http.MethodConnect {
		b, _ := io.ReadAll(br)
		return resp.StatusCode, string(b)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (a *attackProxy) dials() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.dialed...)
}

// TestProxyRefusesAttacks: the requests that reached the host's loopback
// and the metadata address through a "*.domain" entry (issue 22) get 403,
// and nothing is dialled: IP literals with a zone, an allowed name that
// resolves to loopback or to the metadata address, and integer, octal and
// hex IPv4 sent on to an upstream proxy, which would read them as
// 127.0.0.1.
func TestProxyRefusesAttacks(t *testing.T) {
	v4 := newVictim(t, "tcp4", "127.0.0.1:0")
	if v4 == nil {
		t.Fatal("no IPv4 loopback")
	}
	v6 := newVictim(t, "tcp6", "[::1]:0")
	v6host, v6port := "::1", 0
	if v6 != nil {
		v6port = v6.port
	} else {
		// No IPv6 loopback here: the mapped form reaches the IPv4 one.
		v6host, v6port = "::ffff:127.0.0.1", v4.port
	}
	names := map[string][]string{
		"rebind.domain":       {"127.0.0.1"},
		"rebind6.domain":      {"::1"},
		"meta.amazonaws.com":  {"169.254.169.254"},
		"meta6.amazonaws.com": {"fd00:ec2::254"},
		"corp.domain":         {"10.0.0.7"},
		"cgnat.domain":        {"100.64.0.1"},
	}
	parse := func(s string) []plan.HostPort {
		n, err := plan.ParseNetwork(s)
		if err != nil {
			t.Fatal(err)
		}
		return n.Allow
	}
	tests := []struct {
		name  string
		allow []plan.HostPort
		req   string
	}{
		{"connect-mapped-zone", parse("allow=*.domain"), fmt.Sprintf("CONNECT [::ffff:127.0.0.1%%25x.domain]:%d HTTP/1.1\r\nHost: x\r\n\r\n", v4.port)},
		{"get-v6-zone", parse("allow=*.domain"), fmt.Sprintf("GET http://[%s%%25lo.domain]:%d/ HTTP/1.1\r\nHost: x\r\n\r\n", v6host, v6port)},
		{"connect-v6-zone", parse("allow=*.domain"), fmt.Sprintf("CONNECT [%s%%25lo.domain]:%d HTTP/1.1\r\nHost: x\r\n\r\n", v6host, v6port)},
		{"metadata-zone-amazonaws", parse("allow=*.amazonaws.com:443"), "CONNECT [::ffff:169.254.169.254%25x.amazonaws.com]:443 HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"metadata-literal", parse("allow=*.amazonaws.com:443"), "CONNECT 169.254.169.254:443 HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"name-to-loopback", parse("allow=*.domain"), fmt.Sprintf("CONNECT rebind.domain:%d HTTP/1.1\r\nHost: x\r\n\r\n", v4.port)},
		{"get-name-to-loopback", parse("allow=*.domain"), fmt.Sprintf("GET http://rebind.domain:%d/ HTTP/1.1\r\nHost: x\r\n\r\n", v4.port)},
		{"name-to-loopback6", parse("allow=*.domain"), fmt.Sprintf("CONNECT rebind6.domain:%d HTTP/1.1\r\nHost: x\r\n\r\n", v6port)},
		{"name-to-metadata", parse("allow=*.amazonaws.com:443"), "CONNECT meta.amazonaws.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"name-to-metadata6", parse("allow=*.amazonaws.com:443"), "CONNECT meta6.amazonaws.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"name-to-private", parse("allow=*.domain"), "CONNECT corp.domain:443 HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"name-to-cgnat", parse("allow=*.domain"), "CONNECT cgnat.domain:443 HTTP/1.1\r\nHost: x\r\n\r\n"},
		// Listed as names, these are what an upstream proxy or a C
		// resolver reads as 127.0.0.1.
		{"integer-ipv4", []plan.HostPort{{Host: "2130706433"}}, fmt.Sprintf("CONNECT 2130706433:%d HTTP/1.1\r\nHost: x\r\n\r\n", v4.port)},
		{"hex-ipv4", []plan.HostPort{{Host: "0x7f.1"}}, fmt.Sprintf("CONNECT 0x7f.1:%d HTTP/1.1\r\nHost: x\r\n\r\n", v4.port)},
		{"octal-ipv4", []plan.HostPort{{Host: "0177.0.0.1"}}, fmt.Sprintf("GET http://0177.0.0.1:%d/ HTTP/1.1\r\nHost: x\r\n\r\n", v4.port)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The upstream proxy counts what it is asked and tunnels to
			// the loopback victim, as a real one would for 127.0.0.1.
			var upstreamSaw atomic.Int64
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				upstreamSaw.Add(1)
				w.WriteHeader(http.StatusBadGateway)
			}))
			defer up.Close()
			a := newAttackProxy(t, tt.allow, "allow=test", names)
			if strings.Contains(tt.name, "ipv4") {
				a.p.Upstream, _ = url.Parse(up.URL)
			}
			before4, before6 := v4.accepted.Load(), int64(0)
			if v6 != nil {
				before6 = v6.accepted.Load()
			}
			code, body := a.send(t, tt.req)
			if code != http.StatusForbidden || !strings.HasPrefix(body, "launch: ") {
				t.Errorf("%q: %d %q, want 403 with launch's reason", tt.req, code, body)
			}
			if tt.name == "name-to-loopback" {
				want := fmt.Sprintf("launch: rebind.domain:%d resolves to 127.0.0.1 (loopback); a name in the network allowlist (--network allow=test) does not open those; to allow the address, add it to the list: --network allow=test,127.0.0.1:%d\n", v4.port, v4.port)
				if body != want {
					t.Errorf("body %q, want %q", body, want)
				}
			}
			if d := a.dials(); len(d) != 0 {
				t.Errorf("%q: the proxy dialled %v", tt.req, d)
			}
			if n := upstreamSaw.Load(); n != 0 {
				t.Errorf("%q: sent on to the upstream proxy", tt.req)
			}
			if v4.accepted.Load() != before4 || v6 != nil && v6.accepted.Load() != before6 {
				t.Errorf("%q: the loopback server was reached", tt.req)
			}
		})
	}
}

// TestProxyDialsChecked: an explicit IP entry opens its address, to a
// name that resolves to it too; a name is looked up once and only its
// checked addresses are dialled; a lookup answering differently the
// second time changes nothing.
func TestProxyDialsChecked(t *testing.T) {
	v := newVictim(t, "tcp4", "127.0.0.1:0")
	p := v.port
	names := map[string][]string{
		"rebind.domain": {"127.0.0.1"},
		"mixed.domain":  {"127.0.0.1", "169.254.169.254", "203.0.113.5"},
	}
	allow := func(s string) []plan.HostPort {
		n, err := plan.ParseNetwork(s)
		if err != nil {
			t.Fatal(err)
		}
		return n.Allow
	}
	t.Run("ip-entry", func(t *testing.T) {
		a := newAttackProxy(t, allow(fmt.Sprintf("allow=127.0.0.1:%d", p)), "", names)
		if code, body := a.send(t, fmt.Sprintf("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n", p)); code != 200 || !strings.Contains(body, "host secret") {
			t.Errorf("CONNECT to a listed address: %d %q", code, body)
		}
		if code, _ := a.send(t, fmt.Sprintf("CONNECT [::ffff:127.0.0.1]:%d HTTP/1.1\r\nHost: x\r\n\r\n", p)); code != 200 {
			t.Errorf("CONNECT to the listed address, IPv4-mapped: %d", code)
		}
		if code, _ := a.send(t, fmt.Sprintf("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n", p+1)); code != 403 {
			t.Errorf("CONNECT to the listed address at another port: %d", code)
		}
	})
	t.Run("name-with-ip-entry", func(t *testing.T) {
		a := newAttackProxy(t, allow(fmt.Sprintf("allow=*.domain,127.0.0.1:%d", p)), "", names)
		if code, body := a.send(t, fmt.Sprintf("GET http://rebind.domain:%d/ HTTP/1.1\r\nHost: x\r\n\r\n", p)); code != 200 || !strings.Contains(body, "host secret") {
			t.Errorf("GET of a name resolving to a listed address: %d %q", code, body)
		}
		if d := a.dials(); len(d) != 1 || d[0] != fmt.Sprintf("127.0.0.1:%d", p) {
			t.Errorf("dialled %v, want the checked address only", d)
		}
	})
	t.Run("mixed", func(t *testing.T) {
		a := newAttackProxy(t, allow("allow=*.domain"), "", names)
		code, body := a.send(t, "CONNECT mixed.domain:443 HTTP/1.1\r\nHost: x\r\n\r\n")
		if d := a.dials(); len(d) != 1 || d[0] != "203.0.113.5:443" {
			t.Errorf("dialled %v, want 203.0.113.5:443 only", d)
		}
		if code != 502 || !strings.Contains(body, "mixed.domain:443 is allowed but could not be reached") {
			t.Errorf("%d %q", code, body)
		}
	})
	t.Run("rebind", func(t *testing.T) {
		a := newAttackProxy(t, allow("allow=*.domain"), "", nil)
		var calls atomic.Int64
		a.p.Resolve = func(context.Context, string) ([]netip.Addr, error) {
			if calls.Add(1) == 1 {
				return []netip.Addr{netip.MustParseAddr("203.0.113.5")}, nil
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		a.send(t, fmt.Sprintf("GET http://flip.domain:%d/ HTTP/1.1\r\nHost: x\r\n\r\n", p))
		if d := a.dials(); calls.Load() != 1 || len(d) != 1 || d[0] != fmt.Sprintf("203.0.113.5:%d", p) {
			t.Errorf("%d lookups, dialled %v; want one lookup and its address", calls.Load(), d)
		}
	})
}

// TestProxyHidesUpstream: an error through the upstream proxy reaches the
// agent without the upstream's address or user; the session log has them.
func TestProxyHidesUpstream(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "denied", http.StatusProxyAuthRequired)
	}))
	defer up.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	for _, upstream := range []string{up.Listener.Addr().String(), deadAddr} {
		a := newAttackProxy(t, []plan.HostPort{{Host: "api.test"}}, "allow=api.test", nil)
		a.p.Upstream, _ = url.Parse("http://corpuser:pw@" + upstream)
		log := &syncBuffer{}
		a.p.Log = log
		u := a.p.Upstream
		for _, req := range []string{"CONNECT api.test:443 HTTP/1.1\r\nHost: x\r\n\r\n", "GET http://api.test/ HTTP/1.1\r\nHost: api.test\r\n\r\n"} {
			code, body := a.send(t, req)
			if code != 502 || strings.Contains(body, u.Host) || strings.Contains(body, u.Hostname()) || strings.Contains(body, "corpuser") || strings.Contains(body, "denied") {
				t.Errorf("%q through %s: %d %q; want 502 naming neither the upstream nor its user", req, u.Redacted(), code, body)
			}
		}
		if !strings.Contains(log.String(), u.Hostname()) {
			t.Errorf("the session log does not name the upstream: %s", log.String())
		}
	}
}
