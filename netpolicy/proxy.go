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
}

// Proxy is the host side of an allowlist: an HTTP proxy that tunnels
// CONNECT and forwards plain HTTP requests to allowed destinations only,
// matched on the requested name (no TLS interception), and refuses the rest
// with 403 and a body that names the host and the flag that would allow it.
type Proxy struct {
	// Allow decides each destination.
	Allow Matcher
	// Policy is the --network value, quoted in refusals ("allow=a,b").
	Policy string
	// Upstream, when set, is an HTTP proxy every connection goes through
	// (the host's HTTPS_PROXY: a corporate proxy).
	Upstream *url.URL
	// Dial connects to a destination; nil means net.Dialer. Tests replace
	// it to resolve names to their own servers.
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
			DialContext:           p.dialDirect,
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

// ServeHTTP decides one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.init()
	d := Decision{Time: time.Now().UTC(), Method: r.Method}
	host, port, err := target(r)
	if err != nil {
		d.Verdict, d.Reason, d.Status = "deny", err.Error(), http.StatusBadRequest
		p.record(d)
		http.Error(w, "launch: "+err.Error(), http.StatusBadRequest)
		return
	}
	d.Host, d.Port = host, port
	if !p.Allow.Allows(host, port) {
		d.Verdict, d.Reason, d.Status = "deny", "not in the allowlist", http.StatusForbidden
		p.record(d)
		http.Error(w, p.refusal(host, port), http.StatusForbidden)
		return
	}
	if r.Method == http.MethodConnect {
		p.tunnel(w, r, d)
		return
	}
	p.forward(w, r, d)
}

// refusal is the 403 body: the host, the policy, the flag that allows it.
func (p *Proxy) refusal(host string, port int) string {
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	policy := p.Policy
	if policy == "" {
		policy = "allow="
	}
	return fmt.Sprintf("launch: %s is not in the network allowlist (--network %s); to allow it, add it to the list: --network %s,%s\n", hp, policy, policy, hp)
}

// target is the destination of r: CONNECT's authority, or a plain
// request's absolute URL.
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
	host = canonicalHost(host)
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	return host, port, nil
}

// tunnel answers an allowed CONNECT: it connects, says 200, and relays
// bytes both ways until both sides are done.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request, d Decision) {
	addr := net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	up, err := p.dial(ctx, addr)
	cancel()
	if err != nil {
		d.Verdict, d.Reason, d.Status = "error", err.Error(), http.StatusBadGateway
		p.record(d)
		http.Error(w, fmt.Sprintf("launch: %s is allowed but could not be reached: %v\n", addr, err), http.StatusBadGateway)
		return
	}
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

// forward sends an allowed plain HTTP request on and copies the answer.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, d Decision) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		out.Header.Del(h)
	}
	body := &counter{r: r.Body}
	if r.Body != nil && r.Body != http.NoBody {
		out.Body = body
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		d.Verdict, d.Reason, d.Status, d.BytesUp = "error", err.Error(), http.StatusBadGateway, body.n
		p.record(d)
		http.Error(w, fmt.Sprintf("launch: %s:%d is allowed but the request failed: %v\n", d.Host, d.Port, err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	n, _ := io.Copy(w, resp.Body)
	d.Verdict, d.Status, d.BytesUp, d.BytesDn = "allow", resp.StatusCode, body.n, n
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

// dial reaches addr directly, or through the upstream proxy with CONNECT.
func (p *Proxy) dial(ctx context.Context, addr string) (net.Conn, error) {
	if p.Upstream == nil {
		return p.dialDirect(ctx, "tcp", addr)
	}
	hostport := p.Upstream.Host
	if p.Upstream.Port() == "" {
		hostport = net.JoinHostPort(p.Upstream.Hostname(), "80")
	}
	c, err := p.dialDirect(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("upstream proxy %s: %w", p.Upstream.Redacted(), err)
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
		return nil, fmt.Errorf("upstream proxy %s: %w", p.Upstream.Redacted(), err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("upstream proxy %s: %w", p.Upstream.Redacted(), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("upstream proxy %s answered %s", p.Upstream.Redacted(), resp.Status)
	}
	c.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		c.Close()
		return nil, fmt.Errorf("upstream proxy %s sent data before the tunnel was used", p.Upstream.Redacted())
	}
	return c, nil
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
