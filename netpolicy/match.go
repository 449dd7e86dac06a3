// Package netpolicy enforces a network allowlist (plan.NetworkAllow) with an
// HTTP proxy: the host side (Proxy: CONNECT and plain HTTP, matched on the
// requested host name, every decision logged) and the container side
// (Forward: a loopback listener relayed to the proxy's Unix socket, and
// Connect: one tunnel on stdin/stdout, an SSH ProxyCommand).
//
// It imports plan and the standard library only: no backend, no cmd.
package netpolicy

import (
	"net"
	"strings"

	"github.com/launchcli/launch/plan"
)

// Matcher decides whether a destination is on the allowlist. The zero value
// allows nothing.
type Matcher struct {
	allow []plan.HostPort
}

// NewMatcher returns the Matcher of an allowlist as plan.ParseNetwork gives
// it: a host "*.example.com" matches every name under example.com (not
// example.com itself); a port of 0 matches every port.
func NewMatcher(allow []plan.HostPort) Matcher {
	return Matcher{allow: append([]plan.HostPort(nil), allow...)}
}

// Allows reports whether host:port is on the allowlist. host is compared by
// name, case-insensitively and without a trailing dot; an IP address matches
// only the same address written in the list.
func (m Matcher) Allows(host string, port int) bool {
	host = canonicalHost(host)
	if host == "" || port < 1 || port > 65535 {
		return false
	}
	for _, a := range m.allow {
		if a.Port != 0 && a.Port != port {
			continue
		}
		if suffix, ok := strings.CutPrefix(a.Host, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) && net.ParseIP(host) == nil {
				return true
			}
			continue
		}
		if a.Host == host {
			return true
		}
		if ip := net.ParseIP(host); ip != nil && ip.Equal(net.ParseIP(a.Host)) {
			return true
		}
	}
	return false
}

// canonicalHost lowercases host, drops IPv6 brackets and one trailing dot.
func canonicalHost(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return host
}
