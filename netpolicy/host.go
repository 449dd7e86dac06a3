package netpolicy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// Host is a destination's host in canonical form: exactly one of Name
// (lower case ASCII, no trailing dot, internationalised labels in their
// xn-- form) and IP (an IPv4 address unmapped from IPv6) is set.
type Host struct {
	Name string
	IP   netip.Addr
}

// String is h as the session log and the refusals name it: the name, or
// the address without brackets.
func (h Host) String() string {
	if h.IP.IsValid() {
		return h.IP.String()
	}
	return h.Name
}

// ErrHost is wrapped by ParseHost's refusals.
var ErrHost = errors.New("refused host")

// ParseHost canonicalises a requested host (an authority's host part,
// brackets and all) before it is matched, so that one destination has one
// spelling and an IP address is never taken for a name:
//   - a zone ("%eth0", from "%25" in a URL) is refused: the dialer would
//     drop it and dial the bare address, while the text after the "%"
//     could match a "*.domain" pattern;
//   - an IP address in any form is an IP: IPv4, IPv6 (bracketed or not),
//     IPv4-mapped IPv6 ("::ffff:127.0.0.1" is 127.0.0.1);
//   - a host that ends in a number but is not a dotted-quad IPv4 address
//     ("2130706433", "0x7f.1", "0177.0.0.1", "127.1") is refused: C
//     resolvers and other proxies read those as IPv4 addresses;
//   - a name is lower-cased and loses one trailing dot; a non-ASCII name
//     becomes its xn-- form (UTS #46 lookup), and is refused when that form
//     is an IP address or not a valid name;
//   - a name is letters, digits, "-" and "_" in dot-separated labels of 1
//     to 63 characters, 253 at most in all.
//
// Errors wrap ErrHost and say why.
func ParseHost(s string) (Host, error) {
	raw := s
	if strings.ContainsRune(s, '%') {
		return Host{}, fmt.Errorf("%w %q: a zone (%%...) is not accepted; write the address without one", ErrHost, raw)
	}
	if b, ok := strings.CutPrefix(s, "["); ok {
		v6, ok := strings.CutSuffix(b, "]")
		if !ok {
			return Host{}, fmt.Errorf("%w %q: an unclosed bracket", ErrHost, raw)
		}
		ip, err := netip.ParseAddr(v6)
		if err != nil || !ip.Is6() {
			return Host{}, fmt.Errorf("%w %q: brackets hold an IPv6 address", ErrHost, raw)
		}
		return Host{IP: ip.Unmap()}, nil
	}
	if strings.ContainsRune(s, ':') {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return Host{}, fmt.Errorf("%w %q: not an IPv6 address", ErrHost, raw)
		}
		return Host{IP: ip.Unmap()}, nil
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		ascii = ascii && s[i] < 0x80
	}
	if !ascii {
		a, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return Host{}, fmt.Errorf("%w %q: not a valid internationalised name: %v", ErrHost, raw, err)
		}
		h, err := parseASCII(a)
		if err != nil {
			return Host{}, fmt.Errorf("%w %q (%s): %v", ErrHost, raw, a, err)
		}
		if h.IP.IsValid() {
			return Host{}, fmt.Errorf("%w %q: an internationalised spelling of the address %s; write the address itself", ErrHost, raw, h.IP)
		}
		return h, nil
	}
	h, err := parseASCII(s)
	if err != nil {
		return Host{}, fmt.Errorf("%w %q: %v", ErrHost, raw, err)
	}
	return h, nil
}

// parseASCII is ParseHost for an ASCII host without brackets or colons.
func parseASCII(s string) (Host, error) {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if s == "" {
		return Host{}, errors.New("empty")
	}
	if len(s) > 253 {
		return Host{}, errors.New("longer than 253 characters")
	}
	labels := strings.Split(s, ".")
	if endsInNumber(labels[len(labels)-1]) {
		ip, err := netip.ParseAddr(s)
		if err != nil || !ip.Is4() {
			return Host{}, errors.New("ends in a number but is not an IPv4 address a.b.c.d (decimal, four parts, no leading zeros); write the address in that form")
		}
		return Host{IP: ip}, nil
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return Host{}, errors.New("a label is empty or longer than 63 characters")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return Host{}, fmt.Errorf("the character %q is not in a host name", c)
			}
		}
	}
	return Host{Name: s}, nil
}

// endsInNumber reports whether a host's last label is a number as URL
// parsers and inet_aton read it (decimal, octal with a leading 0, hex with
// 0x), which makes the whole host an IPv4 address to them (WHATWG URL
// "ends in a number").
func endsInNumber(label string) bool {
	if label == "" {
		return false
	}
	if h, ok := strings.CutPrefix(label, "0x"); ok {
		for i := 0; i < len(h); i++ {
			if !strings.ContainsRune("0123456789abcdef", rune(h[i])) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(label); i++ {
		if label[i] < '0' || label[i] > '9' {
			return false
		}
	}
	return true
}

// special are the address ranges a name must not lead to unless the
// allowlist names the address: the host itself, its links, private
// networks, and addresses that are no one's.
var special = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local, the cloud metadata address among them"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (private), the cloud metadata address fd00:ec2::254 among them"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Special says what ip is when it is in a range that a name must not lead
// to (loopback, link-local, private, unspecified, multicast, reserved),
// or "" for an address on the internet. An IPv4-mapped IPv6 address is
// judged as the IPv4 address.
func Special(ip netip.Addr) string {
	ip = ip.Unmap()
	for _, s := range special {
		if s.prefix.Contains(ip) {
			return s.what
		}
	}
	return ""
}
