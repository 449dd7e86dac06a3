package netpolicy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits that keep a bad client from holding the proxy's resources.
const (
	// maxHeaderBytes bounds a request's header block (huge headers get 431).
	maxHeaderBytes = 64 << 10
	// headerTimeout bounds the time to send a request's headers
	// (slowloris).
	headerTimeout = 10 * time.Second
	// dialTimeout bounds connecting to a destination or the upstream proxy.
	dialTimeout = 15 * time.Second
	// idleTimeout closes a kept-alive client connection with no request.
	idleTimeout = 90 * time.Second
)

// Decision is one line of the session log: what was asked, what the proxy
// did, and how many bytes went each way.
type Decision struct {
	Time    time.Time `json:"time"`
	Method  string    `json:"method"` // CONNECT, GET, ...
	Host    string    `json:"host"`
	Port    int       `json:"port"`
	Verdict string    `json:"verdict"` // allow, deny, error
	Reason  string    `json:"reason,omitempty"`
	Status  int       `json:"status,omitempty"`
	BytesUp int64     `json:"bytes_up"` // client to destination
	BytesDn int64     `json:"bytes_down"`
	// Addr is the address connected to (IP:PORT), one that was checked;
	// empty through an upstream proxy, which resolves the name itself.
	Addr string `json:"addr,omitempty"`
}

// Proxy is the host side of an allowlist: an HTTP proxy that tunnels
// CONNECT and forwards plain HTTP requests to allowed destinations only,
// matched on the requested host in canonical form (ParseHost; no TLS
// interception), and refuses the rest with 403 and a body that names the
// host and the flag that would allow it. A name is looked up once; an
// address in a special range (Special: loopback, link-local, private, ...)
// is refused unless an IP entry of the list names it, and the proxy
// connects to a checked address, never to the name again.
type Proxy struct {
	// Allow decides each destination.
	Allow Matcher
	// Policy is the --network value, quoted in refusals ("allow=a,b").
	Policy string
	// Upstream, when set, is an HTTP proxy every connection goes through
	// (the host's HTTPS_PROXY: a corporate proxy).
	Upstream *url.URL
	// Resolve looks a name up once per request; nil means the host's
	// resolver (net.DefaultResolver). The proxy checks each address it
	// returns and dials only those: tests replace it to give names
	// addresses of their choosing.
	Resolve func(ctx context.Context, name string) ([]netip.Addr, error)
	// Dial connects to an address Resolve gave and the proxy checked
	// ("IP:PORT"), or to the upstream proxy; nil means net.Dialer. Tests
	// replace it to reach their own servers.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives each Decision as a JSON line (the session log); may be
	// nil.
	Log io.Writer
	// Verbose receives each decision as a readable line (--verbose); may be
	// nil.
	Verbose io.Writer

	once      sync.Once
	srv       *http.Server
	transport *http.Transport
	mu        sync.Mutex // guards Log, Verbose writes and tunnels
	tunnels   map[net.Conn]struct{}
	closed    atomic.Bool
	wg        sync.WaitGroup
}

func (p *Proxy) init() {
	p.once.Do(func() {
		p.tunnels = map[net.Conn]struct{}{}
		p.transport = &http.Transport{
			DialContext:           p.dialForward,
			MaxIdleConns:          16,
			IdleConnTimeout:       idleTimeout,
			ResponseHeaderTimeout: 60 * time.Second,
			TLSHandshakeTimeout:   dialTimeout,
		}
		if p.Upstream != nil {
			p.transport.Proxy = http.ProxyURL(p.Upstream)
		}
		p.srv = &http.Server{
			Handler:           p,
			ReadHeaderTimeout: headerTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          discardLogger(),
		}
	})
}

// Serve accepts clients on l until Close; it returns nil after Close.
func (p *Proxy) Serve(l net.Listener) error {
	p.init()
	err := p.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops accepting, closes every client connection and tunnel, and
// waits for their goroutines to end.
func (p *Proxy) Close() error {
	p.init()
	p.closed.Store(true)
	err := p.srv.Close()
	p.mu.Lock()
	for c := range p.tunnels {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	p.transport.CloseIdleConnections()
	return err
}

// ServeHTTP decides one request: it canonicalises the target's host,
// matches it, resolves a name once and checks each address, and connects
// only to an address it checked.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.init()
	d := Decision{Time: time.Now().UTC(), Method: r.Method}
	raw, port, err := target(r)
	if err != nil {
		d.Verdict, d.Reason, d.Status = "deny", err.Error(), http.StatusBadRequest
		p.record(d)
		http.Error(w, "launch: "+err.Error(), http.StatusBadRequest)
		return
	}
	d.Host, d.Port = raw, port
	h, err := ParseHost(raw)
	if err != nil {
		p.deny(w, d, err.Error(), fmt.Sprintf("launch: %v; the network allowlist matches host names and IP addresses in their plain form only", err))
		return
	}
	d.Host = h.String()
	if !p.Allow.Allows(h, port) {
		p.deny(w, d, "not in the allowlist", p.refusal(h.String(), port))
		return
	}
	dst := &dest{host: h, port: port}
	if p.Upstream == nil {
		ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
		dst.addrs, err = p.check(ctx, h, port)
		cancel()
		var ra *refusedAddrs
		switch {
		case errors.As(err, &ra):
			p.deny(w, d, err.Error(), p.refusedBody(ra))
			return
		case err != nil:
			p.unreachable(w, d, err)
			return
		}
	}
	if r.Method == http.MethodConnect {
		p.tunnel(w, r, d, dst)
		return
	}
	p.forward(w, r, d, dst)
}

// deny answers 403 with body and logs reason.
func (p *Proxy) deny(w http.ResponseWriter, d Decision, reason, body string) {
	d.Verdict, d.Reason, d.Status = "deny", reason, http.StatusForbidden
	p.record(d)
	http.Error(w, body, http.StatusForbidden)
}

// unreachable answers 502 for an allowed destination that could not be
// reached. The session log gets the whole error; the agent gets it only
// when no upstream proxy is set, as the upstream's errors name it (and its
// user), which the agent is not to learn.
func (p *Proxy) unreachable(w http.ResponseWriter, d Decision, err error) {
	d.Verdict, d.Reason, d.Status = "error", err.Error(), http.StatusBadGateway
	p.record(d)
	hp := net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	body := fmt.Sprintf("launch: %s is allowed but could not be reached: %v", hp, err)
	if p.Upstream != nil {
		body = fmt.Sprintf("launch: %s is allowed but could not be reached through the host's upstream proxy; the reason is in the session log on the host", hp)
	}
	http.Error(w, body, http.StatusBadGateway)
}

// refusal is the 403 body: the host, the policy, the flag that allows it.
func (p *Proxy) refusal(host string, port int) string {
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	return fmt.Sprintf("launch: %s is not in the network allowlist (--network %s); to allow it, add it to the list: --network %s,%s", hp, p.policy(), p.policy(), hp)
}

func (p *Proxy) policy() string {
	if p.Policy == "" {
		return "allow="
	}
	return p.Policy
}

// refusedBody is the 403 body of a name that resolves only to addresses
// the allowlist does not name.
func (p *Proxy) refusedBody(ra *refusedAddrs) string {
	first := ra.addrs[0].String()
	return fmt.Sprintf("launch: %v; a name in the network allowlist (--network %s) does not open those; to allow the address, add it to the list: --network %s,%s", ra, p.policy(), p.policy(), first)
}

// dest is an allowed destination: its host, port, and (without an
// upstream proxy) the addresses that were checked, the only ones dialled.
type dest struct {
	host  Host
	port  int
	addrs []netip.AddrPort
}

// authority is host:port as the proxy sends it on: canonical.
func (d *dest) authority() string {
	return net.JoinHostPort(d.host.String(), strconv.Itoa(d.port))
}

// refusedAddrs says that a name resolved only to addresses in special
// ranges that no IP entry of the allowlist names.
type refusedAddrs struct {
	name  string
	port  int
	addrs []netip.AddrPort
	whats []string
}

func (e *refusedAddrs) Error() string {
	var b strings.Builder
	for i, a := range e.addrs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", a.Addr(), e.whats[i])
	}
	return fmt.Sprintf("%s resolves to %s", net.JoinHostPort(e.name, strconv.Itoa(e.port)), b.String())
}

// check returns the addresses of h that the proxy may dial at port: an
// IP address is itself (Allows matched it against an IP entry); a name is
// looked up once, and each address is kept when it is on the internet or
// when an IP entry names it at that port. A name with addresses but none
// kept is a *refusedAddrs.
func (p *Proxy) check(ctx context.Context, h Host, port int) ([]netip.AddrPort, error) {
	if h.IP.IsValid() {
		return []netip.AddrPort{netip.AddrPortFrom(h.IP, uint16(port))}, nil
	}
	resolve := p.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, name string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", name)
		}
	}
	ips, err := resolve(ctx, h.Name)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", h.Name, err)
	}
	var ok []netip.AddrPort
	refused := &refusedAddrs{name: h.Name, port: port}
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		ip = ip.Unmap().WithZone("")
		if !ip.IsValid() || seen[ip] {
			continue
		}
		seen[ip] = true
		ap := netip.AddrPortFrom(ip, uint16(port))
		if what := Special(ip); what != "" && !p.Allow.AllowsAddr(ip, port) {
			refused.addrs, refused.whats = append(refused.addrs, ap), append(refused.whats, what)
			continue
		}
		ok = append(ok, ap)
	}
	switch {
	case len(ok) > 0:
		return ok, nil
	case len(refused.addrs) > 0:
		return nil, refused
	}
	return nil, fmt.Errorf("look up %s: no addresses", h.Name)
}

// target is the destination of r, CONNECT's authority or a plain
// request's absolute URL, as written: the host is canonicalised by
// ParseHost after.
func target(r *http.Request) (string, int, error) {
	authority, def := r.Host, 0
	if r.Method != http.MethodConnect {
		if r.URL == nil || !r.URL.IsAbs() || r.URL.Host == "" {
			return "", 0, errors.New("not a proxy request: want CONNECT host:port or an absolute http:// URL")
		}
		if r.URL.Scheme != "http" {
			return "", 0, fmt.Errorf("scheme %q: only http:// is forwarded; use https:// through CONNECT", r.URL.Scheme)
		}
		authority, def = r.URL.Host, 80
	}
	host, ps, err := net.SplitHostPort(authority)
	if err != nil {
		if def == 0 {
			return "", 0, fmt.Errorf("CONNECT %q: want host:port", authority)
		}
		host, ps = authority, strconv.Itoa(def)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q: want 1-65535", ps)
	}
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	return host, port, nil
}

// tunnel answers an allowed CONNECT: it connects, says 200, and relays
// bytes both ways until both sides are done.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request, d Decision, dst *dest) {
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	up, addr, err := p.dial(ctx, dst)
	cancel()
	if err != nil {
		p.unreachable(w, d, err)
		return
	}
	d.Addr = addr
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "launch: cannot tunnel over this connection", http.StatusInternalServerError)
		return
	}
	client, brw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !p.track(client, up) {
		client.Close()
		up.Close()
		return
	}
	defer p.untrack(client, up)
	client.SetDeadline(time.Time{})
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	// Bytes the client sent after its CONNECT headers, already buffered.
	var buffered int64
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		m, err := up.Write(b)
		buffered = int64(m)
		if err != nil {
			return
		}
	}
	d.Verdict, d.Status = "allow", http.StatusOK
	d.BytesUp, d.BytesDn = relay(client, up)
	d.BytesUp += buffered
	p.record(d)
}

// relay copies both ways; when one side ends its writes, the other side's
// write half is closed, and relay returns when both directions are done.
func relay(client, up net.Conn) (upBytes, down int64) {
	done := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(up, client)
		closeWrite(up)
		done <- n
	}()
	down, _ = io.Copy(client, up)
	closeWrite(client)
	upBytes = <-done
	return upBytes, down
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// destKey carries a forwarded request's *dest to dialForward.
type destKey struct{}

// forward sends an allowed plain HTTP request on, to the canonical host,
// and copies the answer.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, d Decision, dst *dest) {
	var addr string
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if c, ok := info.Conn.(*checkedConn); ok {
			addr = c.addr
		}
	}}
	ctx := httptrace.WithClientTrace(context.WithValue(r.Context(), destKey{}, dst), trace)
	out := r.Clone(ctx)
	out.RequestURI = ""
	// The checked spelling goes on, so that nothing after the proxy reads
	// the host another way; the Host header follows the URL.
	out.URL.Host = dst.authority()
	out.Host = ""
	if r.URL.Port() == "" {
		out.Host = dst.host.String()
		if dst.host.IP.Is6() {
			out.Host = "[" + out.Host + "]"
		}
	}
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		out.Header.Del(h)
	}
	body := &counter{r: r.Body}
	if r.Body != nil && r.Body != http.NoBody {
		out.Body = body
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		d.BytesUp = body.n
		p.unreachable(w, d, err)
		return
	}
	defer resp.Body.Close()
	if p.Upstream != nil {
		// The upstream's own demands and marks name it: not for the agent.
		if resp.StatusCode == http.StatusProxyAuthRequired {
			d.BytesUp = body.n
			p.unreachable(w, d, fmt.Errorf("upstream proxy %s answered %s", p.Upstream.Redacted(), resp.Status))
			return
		}
		resp.Header.Del("Proxy-Authenticate")
		resp.Header.Del("Via")
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	n, _ := io.Copy(w, resp.Body)
	d.Verdict, d.Status, d.BytesUp, d.BytesDn, d.Addr = "allow", resp.StatusCode, body.n, n, addr
	p.record(d)
}

type counter struct {
	r io.ReadCloser
	n int64
}

func (c *counter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func (c *counter) Close() error { return c.r.Close() }

// checkedConn is a connection to a checked address; addr names it in the
// session log.
type checkedConn struct {
	net.Conn
	addr string
}

// dialForward is the forwarding transport's dialer: the upstream proxy
// when there is one, else the checked addresses of the request's dest
// (never the name again: a second lookup could answer differently).
func (p *Proxy) dialForward(ctx context.Context, network, addr string) (net.Conn, error) {
	if p.Upstream != nil {
		if addr != p.upstreamAddr() {
			return nil, fmt.Errorf("%s is not the upstream proxy", addr)
		}
		c, err := p.dialDirect(ctx, network, addr)
		if err != nil {
			return nil, fmt.Errorf("upstream proxy %s: %w", p.Upstream.Redacted(), err)
		}
		return c, nil
	}
	dst, ok := ctx.Value(destKey{}).(*dest)
	if !ok || dst.authority() != addr {
		return nil, fmt.Errorf("%s was not checked", addr)
	}
	c, a, err := p.dialAddrs(ctx, dst.addrs)
	if err != nil {
		return nil, err
	}
	return &checkedConn{Conn: c, addr: a}, nil
}

// dialAddrs connects to the first of addrs that answers.
func (p *Proxy) dialAddrs(ctx context.Context, addrs []netip.AddrPort) (net.Conn, string, error) {
	var errs []error
	for _, a := range addrs {
		c, err := p.dialDirect(ctx, "tcp", a.String())
		if err == nil {
			return c, a.String(), nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, "", errors.New("no checked address")
	}
	return nil, "", errors.Join(errs...)
}

// upstreamAddr is the upstream proxy's host:port.
func (p *Proxy) upstreamAddr() string {
	if p.Upstream.Port() == "" {
		return net.JoinHostPort(p.Upstream.Hostname(), "80")
	}
	return p.Upstream.Host
}

// dial reaches dst at a checked address, or through the upstream proxy
// with CONNECT to dst's canonical authority (the upstream resolves the
// name); it returns the address it connected to, or "" through an
// upstream. Errors may name the upstream proxy: they go to the session
// log, not to the agent.
func (p *Proxy) dial(ctx context.Context, dst *dest) (net.Conn, string, error) {
	if p.Upstream == nil {
		return p.dialAddrs(ctx, dst.addrs)
	}
	addr := dst.authority()
	c, err := p.dialDirect(ctx, "tcp", p.upstreamAddr())
	if err != nil {
		return nil, "", fmt.Errorf("upstream proxy %s: %w", p.Upstream.Redacted(), err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
	if u := p.Upstream.User; u != nil {
		pw, _ := u.Password()
		req.SetBasicAuth(u.Username(), pw)
		req.Header.Set("Proxy-Authorization", req.Header.Get("Authorization"))
		req.Header.Del("Authorization")
	}
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, "", fmt.Errorf("upstream proxy %s: %w", p.Upstream.Redacted(), err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("upstream proxy %s: %w", p.Upstream.Redacted(), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, "", fmt.Errorf("upstream proxy %s answered %s", p.Upstream.Redacted(), resp.Status)
	}
	c.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		c.Close()
		return nil, "", fmt.Errorf("upstream proxy %s sent data before the tunnel was used", p.Upstream.Redacted())
	}
	return c, "", nil
}

func (p *Proxy) dialDirect(ctx context.Context, network, addr string) (net.Conn, error) {
	if p.Dial != nil {
		return p.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return false
	}
	for _, c := range cs {
		p.tunnels[c] = struct{}{}
	}
	p.wg.Add(1)
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		c.Close()
		delete(p.tunnels, c)
	}
	p.mu.Unlock()
	p.wg.Done()
}

// record writes d to the session log and, with --verbose, to stderr.
func (p *Proxy) record(d Decision) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Log != nil {
		b, _ := json.Marshal(d)
		p.Log.Write(append(b, '\n'))
	}
	if p.Verbose != nil {
		what := d.Verdict
		if d.Reason != "" {
			what += " (" + d.Reason + ")"
		}
		fmt.Fprintf(p.Verbose, "launch: network: %s %s %s, %d bytes up, %d down\n", d.Method, net.JoinHostPort(d.Host, strconv.Itoa(d.Port)), what, d.BytesUp, d.BytesDn)
	}
}

// String is the policy as a log header names it.
func (d Decision) String() string {
	return strings.Join([]string{d.Time.Format(time.RFC3339), d.Method, net.JoinHostPort(d.Host, strconv.Itoa(d.Port)), d.Verdict}, " ")
}
