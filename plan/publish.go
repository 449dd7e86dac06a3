package plan

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPublishIP is the host address a published port listens on when
// none is named: the host's loopback, so that only this machine reaches it.
const DefaultPublishIP = "127.0.0.1"

// Port is one published port: a TCP port of the container that the host
// serves on HostIP:HostPort.
type Port struct {
	// HostIP is the host address to listen on; never empty (ParsePort
	// fills DefaultPublishIP).
	HostIP string `json:"host_ip"`
	// HostPort and ContainerPort are TCP ports, 1 to 65535.
	HostPort      int `json:"host_port"`
	ContainerPort int `json:"container_port"`
}

// String is the port as -p takes it: IP:HOSTPORT:CTRPORT, an IPv6 address
// in brackets.
func (p Port) String() string {
	return net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)) + ":" + strconv.Itoa(p.ContainerPort)
}

// ParsePort reads [IP:]HOSTPORT:CTRPORT (an IPv6 address in brackets). Without
// IP the port is published on DefaultPublishIP only.
func ParsePort(s string) (Port, error) {
	bad := func(why string) (Port, error) {
		return Port{}, Errorf(ErrInvalid, "publish %q: %s; want [IP:]HOSTPORT:CTRPORT, such as 8080:80 or 0.0.0.0:8080:80", s, why)
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return bad("no container port")
	}
	ctr, rest := s[i+1:], s[:i]
	p := Port{HostIP: DefaultPublishIP}
	if j := strings.LastIndexByte(rest, ':'); j >= 0 {
		ip := rest[:j]
		if strings.HasPrefix(ip, "[") && strings.HasSuffix(ip, "]") {
			ip = ip[1 : len(ip)-1]
		} else if strings.Contains(ip, ":") {
			return bad("write an IPv6 address in brackets")
		}
		if net.ParseIP(ip) == nil {
			return bad(fmt.Sprintf("%q is not an IP address", ip))
		}
		p.HostIP, rest = net.ParseIP(ip).String(), rest[j+1:]
	}
	var err error
	if p.HostPort, err = portNumber(rest); err != nil {
		return bad("host port " + err.Error())
	}
	if p.ContainerPort, err = portNumber(ctr); err != nil {
		return bad("container port " + err.Error())
	}
	return p, nil
}

func portNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q: want a number from 1 to 65535", s)
	}
	return n, nil
}

// validatePublish checks the published ports: each well formed, no host
// address and port twice, and a network that can publish. With network
// none the container has only a loopback interface, and with an allowlist
// it has none either (its one way out is the proxy's socket): the engines
// have no interface to forward a host port to, so the Plan is refused
// rather than published nowhere.
func (p *Plan) validatePublish(bad func(string, ...any)) {
	seen := map[string]bool{}
	for _, x := range p.Publish {
		if net.ParseIP(x.HostIP) == nil {
			bad("publish %q: host address %q is not an IP address", x, x.HostIP)
		}
		if x.HostPort < 1 || x.HostPort > 65535 || x.ContainerPort < 1 || x.ContainerPort > 65535 {
			bad("publish %q: ports run from 1 to 65535", x)
		}
		k := net.JoinHostPort(x.HostIP, strconv.Itoa(x.HostPort))
		if seen[k] {
			bad("publish %q: host address %s published twice", x, k)
		}
		seen[k] = true
	}
	if len(p.Publish) > 0 && p.Network.Mode != NetworkOpen {
		bad("publish %q: needs --network open: with network %s the container has no network interface for a host port to reach (publish is not possible without opening its network)", p.Publish[0], p.Network.Mode)
	}
}
