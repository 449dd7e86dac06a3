package netpolicy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

// attackHosts seed the fuzzers with the forms that broke the name check
// (issue 22): zones, IPv4-mapped IPv6, integer, octal and hex IPv4,
// internationalised spellings, trailing dots and case.
var attackHosts = []string{
	"::ffff:127.0.0.1%x.domain", "[::ffff:127.0.0.1%25x.domain]", "[::1%lo.domain]", "::1%lo.domain",
	"fe80::1%eth0", "[fe80::a9fe:a9fe%x.amazonaws.com]", "::ffff:169.254.169.254%x.amazonaws.com",
	"::ffff:127.0.0.1", "[::ffff:7f00:1]", "::ffff:a9fe:a9fe", "fd00:ec2::254", "[::]", "::127.0.0.1",
	"2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "127.0.1", "0x7F.0.0.1", "017700000001",
	"2130706433.domain", "127.0.0.1.domain", "x.domain.", "X.DOMAIN", "x.domain..", ".domain",
	"bücher.domain", "xn--bcher-kva.domain", "１２７。０。０。１", "ｘ.domain", "x。domain", "x\u200d.domain",
	"169.254.169.254", "a.amazonaws.com", "A.AmazonAWS.com.", "localhost", "[127.0.0.1]", "",
}

// FuzzParseHost checks the canonical form: it never panics; what it
// accepts is a name or an address, never both; a name is plain lower-case
// ASCII that no resolver reads as an address, and parses back to itself;
// a host with a zone is refused; and an address, or anything with a zone,
// never matches a name pattern.
func FuzzParseHost(f *testing.F) {
	for _, s := range attackHosts {
		f.Add(s)
	}
	n, err := plan.ParseNetwork("allow=*.domain,domain,*.amazonaws.com:443,*.x,localhost,*.0.1.domain")
	if err != nil {
		f.Fatal(err)
	}
	names := NewMatcher(n.Allow)
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHost(s)
		if err != nil {
			if !errors.Is(err, ErrHost) {
				t.Fatalf("ParseHost(%q): %v does not wrap ErrHost", s, err)
			}
			return
		}
		if strings.Contains(s, "%") {
			t.Fatalf("ParseHost(%q) accepted a zone: %+v", s, h)
		}
		if (h.Name == "") == !h.IP.IsValid() {
			t.Fatalf("ParseHost(%q) = %+v: want a name or an address", s, h)
		}
		if h.IP.IsValid() {
			if h.IP.Zone() != "" || h.IP.Is4In6() {
				t.Fatalf("ParseHost(%q) = %v: zoned or mapped", s, h.IP)
			}
			for _, port := range []int{80, 443} {
				if names.Allows(h, port) {
					t.Fatalf("the address %v (from %q) matched a name pattern", h.IP, s)
				}
			}
			return
		}
		if net.ParseIP(h.Name) != nil || strings.TrimFunc(h.Name, func(r rune) bool {
			return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		}) != "" || strings.HasSuffix(h.Name, ".") || strings.HasPrefix(h.Name, ".") {
			t.Fatalf("ParseHost(%q) = name %q: not a plain name", s, h.Name)
		}
		labels := strings.Split(h.Name, ".")
		if endsInNumber(labels[len(labels)-1]) {
			t.Fatalf("ParseHost(%q) = name %q, which resolvers read as an address", s, h.Name)
		}
		if again, err := ParseHost(h.Name); err != nil || again != h {
			t.Fatalf("ParseHost(%q) = %q, which parses to %+v, %v", s, h.Name, again, err)
		}
	})
}

// FuzzRequest feeds raw requests to the proxy's handler: it must never
// panic, and it dials only addresses it checked: one that the resolver gave
// for an allowed name and that is on the internet or named by an IP entry,
// or an IP entry itself. The resolver gives every name loopback,
// link-local, metadata, private and public addresses; nothing is really
// dialled.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		"CONNECT good.test:443 HTTP/1.1\r\nHost: good.test:443\r\n\r\n",
		"GET http://bad.test/x HTTP/1.1\r\nHost: bad.test\r\n\r\n",
		"GET http://GOOD.test./ HTTP/1.1\r\n\r\n",
		"CONNECT [::1]:22 HTTP/1.1\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: good.test\r\n\r\n",
		"GET ftp://good.test/ HTTP/1.1\r\n\r\n",
		"CONNECT good.test.evil:443 HTTP/1.1\r\n\r\n",
		"CONNECT 10.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add(s)
	}
	for _, h := range attackHosts {
		f.Add("CONNECT " + h + ":443 HTTP/1.1\r\nHost: x\r\n\r\n")
		f.Add("GET http://" + h + ":80/ HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	n, _ := plan.ParseNetwork("allow=good.test,*.wild.test:443,*.domain,*.amazonaws.com:443,10.0.0.1:80,[::1]:22")
	resolved := []netip.Addr{}
	for _, s := range []string{"127.0.0.1", "::1", "169.254.169.254", "fd00:ec2::254", "10.0.0.1", "192.168.1.1", "::ffff:127.0.0.1", "203.0.113.9", "2001:db8::9"} {
		resolved = append(resolved, netip.MustParseAddr(s))
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		var looked []string
		p := &Proxy{Allow: NewMatcher(n.Allow), Policy: n.String()}
		p.Resolve = func(_ context.Context, name string) ([]netip.Addr, error) {
			if h, err := ParseHost(name); err != nil || h.Name != name {
				t.Fatalf("looked up %q, not a canonical name", name)
			}
			looked = append(looked, name)
			return resolved, nil
		}
		p.Dial = func(_ context.Context, _, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				t.Fatalf("dialled %q, not an address", addr)
			}
			ip, port := ap.Addr(), int(ap.Port())
			switch {
			case len(looked) > 0:
				// A name was allowed and looked up: the address is one it
				// resolved to, and a special one only if an entry names it.
				found := false
				for _, a := range resolved {
					found = found || a.Unmap() == ip
				}
				if !found || Special(ip) != "" && !p.Allow.AllowsAddr(ip, port) {
					t.Fatalf("dialled %s for %v, which the check refuses", addr, looked)
				}
				h, _ := ParseHost(looked[0])
				if !p.Allow.Allows(h, port) {
					t.Fatalf("dialled %s for %s, which the allowlist refuses at port %d", addr, looked[0], port)
				}
			case !p.Allow.AllowsAddr(ip, port):
				t.Fatalf("dialled %s, which no IP entry names", addr)
			}
			return nil, errNoNetwork
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code == http.StatusForbidden && !bytes.Contains(w.Body.Bytes(), []byte("launch: ")) {
			t.Fatalf("403 without the reason: %q", w.Body.Bytes())
		}
	})
}

var errNoNetwork = errors.New("the fuzz test has no network")
