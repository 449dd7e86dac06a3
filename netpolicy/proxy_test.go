package netpolicy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/launchcli/launch/plan"
)

// lab is a proxy on a Unix socket whose resolver gives each test name an
// address of its own in 203.0.113.0/24 (TEST-NET-3: on the internet as far
// as the proxy can tell), and whose dialer takes those addresses to test
// servers on the loopback. It dials the loopback itself only when asked
// for a loopback address (an IP entry that names it), and nothing else.
type lab struct {
	t      *testing.T
	proxy  *Proxy
	socket string
	log    *syncBuffer
	names  map[string]string // host:port → loopback address

	mu      sync.Mutex
	ips     map[string]netip.Addr // name → its test address
	dialled []string              // every address the proxy dialled
}

// ip is name's test address.
func (l *lab) ip(name string) netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ip, ok := l.ips[name]; ok {
		return ip
	}
	ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(len(l.ips) + 1)})
	l.ips[name] = ip
	return ip
}

// dials is what the proxy dialled so far.
func (l *lab) dials() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.dialled...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLab(t *testing.T, policy string) *lab {
	t.Helper()
	n, err := plan.ParseNetwork(policy)
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, log: &syncBuffer{}, names: map[string]string{}, ips: map[string]netip.Addr{}}
	dir, err := os.MkdirTemp("", "np-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l.socket = filepath.Join(dir, "proxy.sock")
	ln, err := net.Listen("unix", l.socket)
	if err != nil {
		t.Fatal(err)
	}
	l.proxy = &Proxy{Allow: NewMatcher(n.Allow), Policy: n.String(), Log: l.log,
		Resolve: func(_ context.Context, name string) ([]netip.Addr, error) {
			return []netip.Addr{l.ip(name)}, nil
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			l.mu.Lock()
			l.dialled = append(l.dialled, addr)
			l.mu.Unlock()
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, fmt.Errorf("the proxy dialled %q, not an address", addr)
			}
			l.mu.Lock()
			for name, ip := range l.ips {
				if ip == ap.Addr() {
					if a, ok := l.names[fmt.Sprintf("%s:%d", name, ap.Port())]; ok {
						addr = a
					}
				}
			}
			l.mu.Unlock()
			if ap, _ := netip.ParseAddrPort(addr); !ap.Addr().IsLoopback() {
				return nil, fmt.Errorf("the test has no network: %s", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	done := make(chan error, 1)
	go func() { done <- l.proxy.Serve(ln) }()
	t.Cleanup(func() {
		l.proxy.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l
}

// server starts an HTTP test server answering its name, reachable as
// name:port through the lab's resolver.
func (l *lab) server(name string, port int) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", name)
	}))
	l.t.Cleanup(s.Close)
	l.names[fmt.Sprintf("%s:%d", name, port)] = s.Listener.Addr().String()
}

// client is an HTTP client whose proxy is the lab's socket.
func (l *lab) client() *http.Client {
	tr := &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: "proxy"}),
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", l.socket)
		},
		DisableKeepAlives: true,
	}
	l.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// connect sends a raw CONNECT and returns the status line and the rest.
func (l *lab) connect(target string) (string, net.Conn) {
	c, err := net.Dial("unix", l.socket)
	if err != nil {
		l.t.Fatal(err)
	}
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		l.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		return resp.Status + "\n" + string(b), nil
	}
	return resp.Status, &bufConn{Conn: c, r: br}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func TestProxyDecides(t *testing.T) {
	l := newLab(t, "allow=good.test,*.wild.test:80")
	l.server("good.test", 80)
	l.server("bad.test", 80)
	l.server("a.wild.test", 80)
	l.server("wild.test", 80)
	c := l.client()
	tests := []struct {
		url, want string
		status    int
	}{
		{"http://good.test/", "hello from good.test", 200},
		{"http://a.wild.test/", "hello from a.wild.test", 200},
		{"http://bad.test/", "launch: bad.test:80 is not in the network allowlist (--network allow=*.wild.test:80,good.test); to allow it, add it to the list: --network allow=*.wild.test:80,good.test,bad.test:80\n", 403},
		{"http://wild.test/", "wild.test:80 is not in the network allowlist", 403},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			resp, err := c.Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
				t.Errorf("GET %s: %d %q, want %d %q", tt.url, resp.StatusCode, b, tt.status, tt.want)
			}
		})
	}
	// CONNECT to an allowed name tunnels bytes; to another port is refused.
	status, conn := l.connect("good.test:80")
	if conn == nil {
		t.Fatalf("CONNECT good.test:80: %s", status)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: good.test\r\n\r\n")
	b, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(b), "hello from good.test") {
		t.Errorf("tunnel read %q", b)
	}
	if status, conn := l.connect("bad.test:443"); conn != nil || !strings.Contains(status, "403") || !strings.Contains(status, "bad.test:443 is not in the network allowlist") {
		t.Errorf("CONNECT bad.test:443: %s", status)
	}
	if status, conn := l.connect("a.wild.test:443"); conn != nil || !strings.Contains(status, "403") {
		t.Errorf("CONNECT a.wild.test:443 (port not allowed): %s", status)
	}

	// Every decision is in the session log with time, host, port, verdict
	// and bytes.
	l.proxy.Close()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(l.log.String()), "\n") {
		var d Decision
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if d.Time.IsZero() || d.Host == "" || d.Port == 0 {
			t.Errorf("log line lacks time, host or port: %q", line)
		}
		if d.Verdict == "allow" && d.BytesDn == 0 {
			t.Errorf("allowed request without bytes: %q", line)
		}
		got = append(got, fmt.Sprintf("%s %s:%d %s", d.Method, d.Host, d.Port, d.Verdict))
	}
	want := []string{"GET good.test:80 allow", "GET a.wild.test:80 allow", "GET bad.test:80 deny", "GET wild.test:80 deny", "CONNECT good.test:80 allow", "CONNECT bad.test:443 deny", "CONNECT a.wild.test:443 deny"}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("session log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestProxyUpstreamFailures(t *testing.T) {
	l := newLab(t, "allow=gone.test,good.test")
	// A name that nothing answers: 502 with the reason, logged as error.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	l.names["gone.test:80"] = dead.Addr().String()
	dead.Close()
	resp, err := l.client().Get("http://gone.test/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(b), "gone.test:80 is allowed but") {
		t.Errorf("dead destination: %d %q", resp.StatusCode, b)
	}
	if status, conn := l.connect("gone.test:443"); conn != nil || !strings.Contains(status, "502") {
		t.Errorf("CONNECT to a dead destination: %s", status)
	}
	// A destination that accepts and hangs up at once.
	hang, _ := net.Listen("tcp", "127.0.0.1:0")
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	l.names["good.test:80"] = hang.Addr().String()
	resp, err = l.client().Get("http://good.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("destination hanging up: %d", resp.StatusCode)
	}
	if !strings.Contains(l.log.String(), `"verdict":"error"`) {
		t.Errorf("errors not logged: %s", l.log.String())
	}
}

func TestProxyUpstreamChain(t *testing.T) {
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "through corp") }))
	defer dest.Close()
	// A corporate proxy that tunnels anything and counts CONNECTs.
	var mu sync.Mutex
	var seen []string
	corp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.Host+" "+r.Header.Get("Proxy-Authorization"))
		mu.Unlock()
		up, err := net.Dial("tcp", dest.Listener.Addr().String())
		if err != nil {
			w.WriteHeader(502)
			return
		}
		c, _, _ := w.(http.Hijacker).Hijack()
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
		relay(c, up)
		c.Close()
		up.Close()
	}))
	defer corp.Close()
	l := newLab(t, "allow=api.test")
	u, _ := url.Parse("http://user:pw@" + corp.Listener.Addr().String())
	l.proxy.Upstream = u
	status, conn := l.connect("api.test:443")
	if conn == nil {
		t.Fatalf("CONNECT through the upstream: %s", status)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	b, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(b), "through corp") {
		t.Errorf("read %q", b)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "CONNECT api.test:443 Basic ") {
		t.Errorf("upstream saw %q", seen)
	}
}

// fds counts this process's open file descriptors.
func fds(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}

// settle waits until the goroutine count is at most n.
func settle(n int) int {
	var g int
	for i := 0; i < 100; i++ {
		if g = runtime.NumGoroutine(); g <= n {
			return g
		}
		time.Sleep(20 * time.Millisecond)
	}
	return g
}

func TestProxyRobust(t *testing.T) {
	if testing.Short() {
		t.Skip("robustness: 1000 connections")
	}
	g0, f0 := runtime.NumGoroutine(), fds(t)
	func() {
		l := newLab(t, "allow=echo.test:7")
		echo, _ := net.Listen("tcp", "127.0.0.1:0")
		defer echo.Close()
		go func() {
			for {
				c, err := echo.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		l.names["echo.test:7"] = echo.Addr().String()

		// 1,000 concurrent CONNECTs, each echoing a line.
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for i := 0; i < 1000; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, c := l.connect("echo.test:7")
				if c == nil {
					errs <- fmt.Errorf("CONNECT %d: %s", i, status)
					return
				}
				defer c.Close()
				msg := fmt.Sprintf("ping %d\n", i)
				io.WriteString(c, msg)
				got, err := bufio.NewReader(c).ReadString('\n')
				if err != nil || got != msg {
					errs <- fmt.Errorf("echo %d: %q %v", i, got, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		// Bad clients: huge headers, garbage, a slow client left open, a
		// half-open tunnel, one that closes mid-request.
		raw := func(s string) string {
			c, err := net.Dial("unix", l.socket)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, s)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(io.LimitReader(c, 512))
			return string(b)
		}
		if got := raw("GET http://echo.test:7/ HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"); !strings.Contains(got, "431") {
			t.Errorf("huge headers: %q", got)
		}
		if got := raw("\x00\x01garbage\r\n\r\n"); !strings.Contains(got, "400") {
			t.Errorf("garbage: %q", got)
		}
		if got := raw("GET /relative HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.Contains(got, "400") || !strings.Contains(got, "not a proxy request") {
			t.Errorf("origin-form request: %q", got)
		}
		if got := raw("CONNECT echo.test HTTP/1.1\r\nHost: echo.test\r\n\r\n"); !strings.Contains(got, "400") {
			t.Errorf("CONNECT without a port: %q", got)
		}
		slow := make([]net.Conn, 50)
		for i := range slow {
			slow[i], _ = net.Dial("unix", l.socket)
			io.WriteString(slow[i], "CONNECT echo.test:7 HTTP/1.1\r\nX-Slow: ")
		}
		half, c := l.connect("echo.test:7")
		if c == nil {
			t.Fatal(half)
		}
		c.(*bufConn).Conn.(*net.UnixConn).CloseWrite()
		cut, _ := net.Dial("unix", l.socket)
		io.WriteString(cut, "CONNECT echo.te")
		cut.Close()
		// The proxy closes when the session ends, whatever the clients do.
		l.proxy.Close()
		for _, s := range slow {
			s.Close()
		}
		c.Close()
	}()
	if g := settle(g0 + 2); g > g0+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after\n%s", g0, g, buf[:runtime.Stack(buf, true)])
	}
	// io.Copy between sockets splices through pipes that Go keeps in a
	// sync.Pool and closes in a finalizer: collect them first.
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	if f := fds(t); f > f0+2 {
		es, _ := os.ReadDir("/proc/self/fd")
		kinds := map[string]int{}
		for _, e := range es {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			kinds[strings.SplitN(l, ":", 2)[0]]++
		}
		t.Logf("fds: %v", kinds)
		t.Errorf("file descriptors: %d before, %d after", f0, f)
	}
}

func TestProxySlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the header timeout")
	}
	l := newLab(t, "allow=x.test")
	c, err := net.Dial("unix", l.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT x.test:443 HTTP/1.1\r\n")
	start := time.Now()
	// One header byte a second: the header deadline still ends it.
	go func() {
		for i := 0; i < 30; i++ {
			if _, err := io.WriteString(c, "X"); err != nil {
				return
			}
			time.Sleep(time.Second)
		}
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	io.ReadAll(c)
	if d := time.Since(start); d > headerTimeout+5*time.Second {
		t.Errorf("slow client held its connection %v", d)
	}
}

func TestForwardAndConnect(t *testing.T) {
	l := newLab(t, "allow=good.test")
	l.server("good.test", 80)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Forward(ln, l.socket) }()
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()})}}
	resp, err := c.Get("http://good.test/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello from good.test" {
		t.Errorf("through the forwarder: %q", b)
	}
	c.Transport.(*http.Transport).CloseIdleConnections()
	var out bytes.Buffer
	err = Connect(l.socket, "good.test", 80, strings.NewReader("GET / HTTP/1.0\r\n\r\n"), &out)
	if err != nil || !strings.Contains(out.String(), "hello from good.test") {
		t.Errorf("Connect: %v %q", err, out.String())
	}
	err = Connect(l.socket, "evil.test", 22, strings.NewReader(""), &out)
	if err == nil || !strings.Contains(err.Error(), "evil.test:22 is not in the network allowlist") {
		t.Errorf("Connect to a refused host: %v", err)
	}
	ln.Close()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestProbe: the forwarder's check before the agent starts reaches a
// listening socket, and names a missing one.
func TestProbe(t *testing.T) {
	l := newLab(t, "allow=good.test")
	if err := Probe(l.socket); err != nil {
		t.Errorf("Probe of the proxy's socket: %v", err)
	}
	gone := filepath.Join(t.TempDir(), "proxy.sock")
	if err := Probe(gone); err == nil || !strings.Contains(err.Error(), "the proxy's socket "+gone) {
		t.Errorf("Probe of a missing socket: %v", err)
	}
}

func TestMatcher(t *testing.T) {
	n, _ := plan.ParseNetwork("allow=github.com:22,*.github.com,api.openai.com:443,10.1.2.3,[::1]:8080,*.domain")
	m := NewMatcher(n.Allow)
	tests := []struct {
		host string
		port int
		want bool
	}{
		{"github.com", 22, true}, {"github.com", 443, false}, {"GitHub.com.", 22, true},
		{"api.github.com", 443, true}, {"a.b.github.com", 1, true}, {"evilgithub.com", 443, false},
		{"github.com.evil.org", 22, false}, {"api.openai.com", 443, true}, {"api.openai.com", 80, false},
		{"10.1.2.3", 5, true}, {"10.1.2.4", 5, false}, {"::1", 8080, true}, {"[::1]", 8080, true},
		{"::ffff:10.1.2.3", 5, true}, {"[0:0:0:0:0:0:0:1]", 8080, true},
		{"api.github.com", 0, false}, {"1.2.3.4.github.com", 1, true},
		// An address never matches a pattern, whatever follows it.
		{"127.0.0.1.domain", 80, true}, {"::ffff:127.0.0.1%x.domain", 80, false}, {"[::1%lo.domain]", 80, false},
		{"2130706433", 80, false}, {"0x7f.1", 80, false},
	}
	for _, tt := range tests {
		h, err := ParseHost(tt.host)
		if got := err == nil && m.Allows(h, tt.port); got != tt.want {
			t.Errorf("Allows(%q, %d) = %v (%v), want %v", tt.host, tt.port, got, err, tt.want)
		}
	}
	if (Matcher{}).Allows(Host{Name: "a"}, 1) {
		t.Error("the zero Matcher allows")
	}
	// Entries the proxy could never see in a request match nothing.
	odd := NewMatcher([]plan.HostPort{{Host: "2130706433"}, {Host: "0x7f.1"}, {Host: "*.1"}})
	for _, h := range []Host{{Name: "2130706433"}, {Name: "0x7f.1"}, {IP: netip.MustParseAddr("127.0.0.1")}} {
		if odd.Allows(h, 80) {
			t.Errorf("an odd entry allows %v", h)
		}
	}
}

// TestParseHost: one spelling per destination; zones, integer and octal
// IPv4 and internationalised spellings of addresses refused.
func TestParseHost(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "Example.COM.", want: "example.com"},
		{in: "a_b.example", want: "a_b.example"},
		{in: "127.0.0.1", want: "ip 127.0.0.1"},
		{in: "::ffff:127.0.0.1", want: "ip 127.0.0.1"},
		{in: "[::FFFF:7f00:1]", want: "ip 127.0.0.1"},
		{in: "[::1]", want: "ip ::1"},
		{in: "FD00:EC2::254", want: "ip fd00:ec2::254"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "BÜCHER.example.", want: "xn--bcher-kva.example"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "127.0.0.1.nip.io", want: "127.0.0.1.nip.io"},
		{in: "::ffff:127.0.0.1%x.domain", err: "a zone"},
		{in: "[::1%lo.domain]", err: "a zone"},
		{in: "fe80::1%eth0", err: "a zone"},
		{in: "a%2e.domain", err: "a zone"},
		{in: "2130706433", err: "ends in a number"},
		{in: "0x7f.1", err: "ends in a number"},
		{in: "0177.0.0.1", err: "ends in a number"},
		{in: "127.1", err: "ends in a number"},
		{in: "127.0.0.1.", want: "ip 127.0.0.1"},
		{in: "1.2.3.4.5", err: "ends in a number"},
		{in: "0X7F.0.0.1", err: "ends in a number"},
		{in: "１２７。０。０。１", err: "an internationalised spelling of the address 127.0.0.1"},
		{in: "[127.0.0.1]", err: "brackets hold an IPv6 address"},
		{in: "[::1", err: "unclosed"},
		{in: "a..b", err: "label is empty"},
		{in: "a.b..", err: "label is empty"},
		{in: ".", err: "empty"},
		{in: "a b", err: "not in a host name"},
		{in: "a;b", err: "not in a host name"},
		{in: "a\x00b", err: "not in a host name"},
		{in: strings.Repeat("a", 64) + ".x", err: "63"},
	}
	for _, tt := range tests {
		h, err := ParseHost(tt.in)
		got := h.Name
		if h.IP.IsValid() {
			got = "ip " + h.IP.String()
		}
		if tt.err != "" {
			if err == nil || !errors.Is(err, ErrHost) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseHost(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestSpecial: the ranges a name must not lead to.
func TestSpecial(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "127.9.9.9", "::1", "169.254.169.254", "fd00:ec2::254", "fe80::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::7f00:1", "255.255.255.255"} {
		if Special(netip.MustParseAddr(s)) == "" {
			t.Errorf("Special(%s) = \"\"", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "203.0.113.5", "2606:4700::1111", "172.32.0.1", "100.128.0.1"} {
		if w := Special(netip.MustParseAddr(s)); w != "" {
			t.Errorf("Special(%s) = %q, want \"\"", s, w)
		}
	}
}
