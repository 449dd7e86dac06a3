package plan

import (
	"fmt"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
)

// NetworkMode is the kind of network policy.
type NetworkMode string

const (
	// NetworkOpen gives the container the engine's default network (Docker's
	// bridge, Podman's default, the host's network under Apptainer).
	NetworkOpen NetworkMode = "open"
	// NetworkNone leaves the container only a loopback interface.
	NetworkNone NetworkMode = "none"
	// NetworkAllow lets the container reach only the hosts in Network.Allow.
	NetworkAllow NetworkMode = "allow"
)

// Network is the network policy of a launch.
type Network struct {
	Mode NetworkMode `json:"mode"`
	// Allow lists the destinations reachable under NetworkAllow, sorted and
	// unique; empty for the other modes.
	Allow []HostPort `json:"allow,omitempty"`
	// Proxy is how an allowlist is enforced: filled by cmd/launch for
	// NetworkAllow on a host that can share a Unix socket with the
	// container (Linux); nil otherwise, and a backend then refuses the
	// allowlist.
	Proxy *Proxy `json:"proxy,omitempty"`
	// Sidecar is the other way to enforce an allowlist, for engines whose
	// containers cannot reach a host Unix socket (Docker Desktop, podman
	// machine on macOS) or when chosen (network_via = "sidecar"): the
	// proxy runs in a container of its own. At most one of Proxy and
	// Sidecar is set.
	Sidecar *Sidecar `json:"sidecar,omitempty"`
}

// Sidecar is an allowlist enforced by a proxy container. The run creates a
// private tmpfs volume Volume on the engine and the sidecar container Name
// on the engine's default network, which runs "launch proxy" on a Unix
// socket in that volume (the static Linux launch binary mounted read-only
// at ProxyBinary). The agent gets the volume at ProxyDir and no network at
// all: the forwarder inside relays to that socket as it does to a host
// proxy's. A Unix socket on a volume is shared by two containers on one
// engine, where a host's socket cannot reach a VM's containers. Volume and
// sidecar are removed with the session.
type Sidecar struct {
	// Volume is the name of the volume that holds the proxy's socket.
	Volume string `json:"volume"`
	// Name is the sidecar container's name.
	Name string `json:"name"`
	// Binary is the host path of a static Linux launch binary for the
	// engine's architecture.
	Binary string `json:"binary"`
	// Port is the forwarder's port on the agent's loopback.
	Port int `json:"port"`
	// Log is the host path of the session log; its directory is mounted in
	// the sidecar at SidecarLogDir.
	Log string `json:"log"`
	// Upstream, when set, is the host's corporate proxy variable (name and
	// value) that the sidecar's proxy chains to.
	Upstream *EnvVar `json:"upstream,omitempty"`
}

// SidecarLogDir is where the sidecar sees the session log's directory.
const SidecarLogDir = "/.launch/log"

// Argv is the sidecar's command: the proxy on its socket in the volume,
// its log in the mounted directory.
func (x Sidecar) Argv(n Network) []string {
	return []string{ProxyBinary, "proxy", "--socket", ProxyDir + "/" + ProxySocketName,
		"--log", SidecarLogDir + "/" + path.Base(x.Log), "--network", n.String()}
}

// Proxy is the host side of an allowlist and what the container needs to
// reach it. The container gets no network at all; launch runs an
// allowlisting HTTP proxy on the host on a Unix socket in Dir, which is
// bind-mounted at ProxyDir; the static launch binary, mounted read-only at
// ProxyBinary, starts first as the entry wrapper ("launch _forward"): it
// listens on 127.0.0.1:Port inside the container, relays to the socket, and
// runs the agent with HTTP_PROXY and HTTPS_PROXY naming that port.
type Proxy struct {
	// Dir is the host directory of the proxy's socket (ProxySocketName),
	// private to the caller; created by the run (or the printed snippet)
	// and removed after it.
	Dir string `json:"dir"`
	// Binary is the host path of the static launch binary.
	Binary string `json:"binary"`
	// Port is the forwarder's port on the container's loopback.
	Port int `json:"port"`
	// Log is the host path of the session log: one JSON line per decision.
	Log string `json:"log"`
}

// Container paths of the allowlist's parts.
const (
	ProxyDir        = "/.launch/net"
	ProxyBinary     = "/.launch/launch"
	ProxySocketName = "proxy.sock"
	// OriginNetwork marks the mounts of the allowlist's proxy.
	OriginNetwork = "network"
)

// Socket is the host path of the proxy's Unix socket.
func (x Proxy) Socket() string { return x.Dir + "/" + ProxySocketName }

// Enforced returns p as a backend renders it: under NetworkAllow, a Plan
// with no network, the launch binary mounted, the proxy variables set, and
// the agent's argv behind the forwarder; with a host Proxy its socket
// directory is mounted at ProxyDir, and with a Sidecar the backend mounts
// the sidecar's volume there itself (p.Network.Sidecar says which).
// Other policies return p unchanged. An allowlist without a Proxy or a
// Sidecar is an error wrapping ErrUnsupported.
func (p Plan) Enforced() (Plan, error) {
	if p.Network.Mode != NetworkAllow {
		return p, nil
	}
	x, sc := p.Network.Proxy, p.Network.Sidecar
	var port int
	var binary string
	q := p
	q.Mounts = append([]Mount(nil), p.Mounts...)
	switch {
	case x != nil && sc != nil:
		return p, Errorf(ErrInvalid, "network: a proxy and a sidecar both set; want one")
	case sc != nil:
		if sc.Port < 1 || sc.Port > 65535 || sc.Volume == "" || sc.Name == "" || sc.Binary == "" || sc.Log == "" {
			return p, Errorf(ErrInvalid, "network sidecar: want a port 1-65535, a volume and container name, the launch binary and a log, got %+v", *sc)
		}
		port, binary = sc.Port, sc.Binary
	case x != nil:
		if x.Port < 1 || x.Port > 65535 || x.Dir == "" || x.Binary == "" {
			return p, Errorf(ErrInvalid, "network proxy: want a port 1-65535, a socket directory and the launch binary, got %+v", *x)
		}
		port, binary = x.Port, x.Binary
		q.Mounts = append(q.Mounts, Mount{Kind: MountBind, Source: x.Dir, Target: ProxyDir, Origin: OriginNetwork})
	default:
		return p, Errorf(ErrUnsupported, "network %q: the allowlist needs launch's host proxy, which shares a Unix socket with the container (Linux only); use --network none or open", p.Network.String())
	}
	socket := ProxyDir + "/" + ProxySocketName
	q.Network = Network{Mode: NetworkNone}
	q.Mounts = append(q.Mounts, Mount{Kind: MountBind, Source: binary, Target: ProxyBinary, ReadOnly: true, File: true, Origin: OriginNetwork})
	q.Env = proxyEnv(p.Env, "http://127.0.0.1:"+strconv.Itoa(port), socket)
	q.Argv = append([]string{ProxyBinary, "_forward", "--socket", socket, "--listen", "127.0.0.1:" + strconv.Itoa(port), "--"}, p.Argv...)
	return q, nil
}

// proxyEnv is env with the proxy variables set to url, and git's ssh going
// through the same proxy (launch _connect on socket).
func proxyEnv(in []EnvVar, url, socket string) []EnvVar {
	set := map[string]string{
		"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url,
		"NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1",
		// git over SSH goes through the same proxy (CONNECT to port 22 of
		// an allowed name); other SSH destinations are refused.
		"GIT_SSH_COMMAND": "ssh -o ProxyCommand='" + ProxyBinary + " _connect --socket " + socket + " %h %p'",
	}
	var env []EnvVar
	for _, e := range in {
		if _, ok := set[e.Name]; !ok {
			env = append(env, e)
		}
	}
	for k, v := range set {
		env = append(env, EnvVar{Name: k, Value: v})
	}
	sort.Slice(env, func(i, j int) bool { return env[i].Name < env[j].Name })
	return env
}

// HostPort is one allowlisted destination. Host is a DNS name, a "*."
// pattern, or an IP address. A name or pattern matches requested names only
// and an IP address requested addresses only; the proxy (netpolicy) also
// checks the addresses a name resolves to, and opens a loopback,
// link-local or private one only when an IP entry names it. Port 0 means
// any port.
type HostPort struct {
	Host string `json:"host"`
	Port int    `json:"port,omitempty"`
}

// String formats h as HOST[:PORT], bracketing an IPv6 address.
func (h HostPort) String() string {
	host := h.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if h.Port == 0 {
		return host
	}
	return host + ":" + strconv.Itoa(h.Port)
}

// String formats n as the --network flag accepts it.
func (n Network) String() string {
	if n.Mode != NetworkAllow {
		return string(n.Mode)
	}
	parts := make([]string, len(n.Allow))
	for i, h := range n.Allow {
		parts[i] = h.String()
	}
	return "allow=" + strings.Join(parts, ",")
}

// ParseNetwork parses a --network value: "none", "open", or
// "allow=HOST[:PORT],...". Errors wrap ErrInvalid.
func ParseNetwork(s string) (Network, error) {
	switch s {
	case string(NetworkNone), string(NetworkOpen):
		return Network{Mode: NetworkMode(s)}, nil
	}
	list, ok := strings.CutPrefix(s, "allow=")
	if !ok {
		return Network{}, Errorf(ErrInvalid, "network %q: want none, open or allow=HOST[:PORT],...", s)
	}
	seen := map[HostPort]bool{}
	var allow []HostPort
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		h, err := parseHostPort(item)
		if err != nil {
			return Network{}, fmt.Errorf("network %q: %w", s, err)
		}
		if !seen[h] {
			seen[h] = true
			allow = append(allow, h)
		}
	}
	if len(allow) == 0 {
		return Network{}, Errorf(ErrInvalid, "network %q: allow= needs at least one HOST[:PORT]", s)
	}
	sort.Slice(allow, func(i, j int) bool {
		if allow[i].Host != allow[j].Host {
			return allow[i].Host < allow[j].Host
		}
		return allow[i].Port < allow[j].Port
	})
	return Network{Mode: NetworkAllow, Allow: allow}, nil
}

func parseHostPort(s string) (HostPort, error) {
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	h := HostPort{Host: strings.ToLower(host)}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return HostPort{}, Errorf(ErrInvalid, "port %q of %q: want 1-65535", port, s)
		}
		h.Port = n
	}
	if strings.Contains(h.Host, "%") {
		return HostPort{}, Errorf(ErrInvalid, "host %q: an address with a zone (%%...) cannot be allowed; write the address without one", host)
	}
	if net.ParseIP(h.Host) == nil && endsInNumber(h.Host) {
		return HostPort{}, Errorf(ErrInvalid, "host %q: ends in a number but is not an IP address; write an IPv4 address as a.b.c.d (decimal, no leading zeros)", host)
	}
	if !validHost(h.Host) {
		return HostPort{}, Errorf(ErrInvalid, "host %q: want a DNS name (example.com, *.example.com; an internationalised name in its xn-- form) or an IP address", host)
	}
	return h, nil
}

// endsInNumber reports whether h's last label is a number as URL parsers
// and C resolvers read one (decimal, octal, or hex with 0x): they take
// such a host for an IPv4 address ("2130706433", "0x7f.1", "127.1"), and
// the proxy refuses a request for one (netpolicy.ParseHost).
func endsInNumber(h string) bool {
	l := h[strings.LastIndex(h, ".")+1:]
	if x, ok := strings.CutPrefix(l, "0x"); ok {
		return strings.Trim(x, "0123456789abcdef") == ""
	}
	return l != "" && strings.Trim(l, "0123456789") == ""
}

// validHost accepts an IP address, a DNS name, or a DNS name under a "*."
// wildcard.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// ParseRuntime parses a --runtime value. Errors wrap ErrInvalid.
func ParseRuntime(s string) (Runtime, error) {
	switch Runtime(s) {
	case RuntimeRunc, RuntimeRunsc:
		return Runtime(s), nil
	}
	return "", Errorf(ErrInvalid, "runtime %q: want runc or runsc", s)
}

// ParsePull parses a --pull value. Errors wrap ErrInvalid.
func ParsePull(s string) (PullPolicy, error) {
	switch PullPolicy(s) {
	case PullMissing, PullAlways, PullNever:
		return PullPolicy(s), nil
	}
	return "", Errorf(ErrInvalid, "pull policy %q: want missing, always or never", s)
}
