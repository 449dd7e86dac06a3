// Package netpolicy enforces a network allowlist (plan.NetworkAllow) with an
// HTTP proxy: the host side (Proxy: CONNECT and plain HTTP, matched on the
// requested host in canonical form, dialled at the addresses it checked,
// every decision logged) and the container side (Forward: a loopback
// listener relayed to the proxy's Unix socket, and Connect: one tunnel on
// stdin/stdout, an SSH ProxyCommand).
//
// It imports plan, golang.org/x/net/idna and the standard library only: no
// backend, no cmd.
package netpolicy

import (
	"net/netip"
	"strings"

	"github.com/launchcli/launch/plan"
)

// Matcher decides whether a destination is on the allowlist. The zero value
// allows nothing.
type Matcher struct {
	names []nameEntry
	ips   []ipEntry
}

type nameEntry struct {
	name     string // without the "*." of a pattern
	wildcard bool
	port     int
}

type ipEntry struct {
	ip   netip.Addr // unmapped
	port int
}

// NewMatcher returns the Matcher of an allowlist as plan.ParseNetwork gives
// it: a host "*.example.com" matches every name under example.com (not
// example.com itself); a port of 0 matches every port. An entry that is an
// IP address matches that address only; a name or pattern matches names
// only. Entries that plan.ParseNetwork would refuse match nothing.
func NewMatcher(allow []plan.HostPort) Matcher {
	var m Matcher
	for _, a := range allow {
		if ip, err := netip.ParseAddr(a.Host); err == nil {
			if ip.Zone() == "" {
				m.ips = append(m.ips, ipEntry{ip: ip.Unmap(), port: a.Port})
			}
			continue
		}
		e := nameEntry{name: strings.ToLower(a.Host), port: a.Port}
		if suffix, ok := strings.CutPrefix(e.name, "*."); ok {
			e.name, e.wildcard = suffix, true
		}
		if h, err := ParseHost(e.name); err == nil && h.Name == e.name {
			m.names = append(m.names, e)
		}
	}
	return m
}

// Allows reports whether h:port is on the allowlist: a name against the
// names and patterns, an IP address against the IP entries only (a pattern
// never matches an address, whatever text follows it).
func (m Matcher) Allows(h Host, port int) bool {
	if port < 1 || port > 65535 {
		return false
	}
	if h.IP.IsValid() {
		return h.Name == "" && m.AllowsAddr(h.IP, port)
	}
	if h.Name == "" {
		return false
	}
	for _, e := range m.names {
		if e.port != 0 && e.port != port {
			continue
		}
		if e.wildcard && strings.HasSuffix(h.Name, "."+e.name) || !e.wildcard && h.Name == e.name {
			return true
		}
	}
	return false
}

// AllowsAddr reports whether an IP entry of the allowlist names ip at
// port: what lets a name that resolves to a loopback, link-local or private
// address reach it.
func (m Matcher) AllowsAddr(ip netip.Addr, port int) bool {
	ip = ip.Unmap()
	for _, e := range m.ips {
		if (e.port == 0 || e.port == port) && e.ip == ip {
			return true
		}
	}
	return false
}
