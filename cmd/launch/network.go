package main

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/health"
	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/netpolicy"
	"github.com/launchcli/launch/plan"
)

// proxyPort is the forwarder's port on the container's loopback (the
// container has its own network namespace, so no other program holds it).
const proxyPort = 3128

// networkOf is the policy of the launch: @AGENT entries of an allowlist
// are replaced by that agent's suggested list (network_allow in the
// catalogue), and an allowlist gets what enforces it: launch's proxy on a
// host Unix socket (network_via socket, the default on Linux), or a proxy
// sidecar container (network_via sidecar, the default on macOS, where the
// engine's VM cannot reach a host socket). arch is the image's
// architecture, when the plan names one.
func networkOf(o *options, h *Host, agentName, arch string) (plan.Network, error) {
	n, err := o.Network.expand(o.Agents)
	if err != nil {
		return n, o.from.errAt("network", 0, err)
	}
	if n.Mode != plan.NetworkAllow {
		return n, nil
	}
	log := filepath.Join(stateDir(h), "network", fmt.Sprintf("%s-%d.log", agentName, h.PID))
	via := o.NetworkVia
	if via == "" {
		via = viaSocket
		if h.GOOS != "linux" {
			via = viaSidecar
		}
	}
	if via == viaSidecar {
		x, err := sidecarOf(o, h, arch)
		if err != nil {
			return n, err
		}
		x.Log = log
		n.Sidecar = x
		return n, nil
	}
	if h.GOOS != "linux" {
		return n, o.from.errAt("network_via", 0, plan.Errorf(plan.ErrUnsupported,
			"network_via socket: the engine runs in a VM on %s, which a host Unix socket cannot reach; use network_via = \"sidecar\" (the default here) with --backend docker", h.GOOS))
	}
	tmp := h.Getenv("XDG_RUNTIME_DIR")
	if !filepath.IsAbs(tmp) {
		if tmp = h.Getenv("TMPDIR"); !filepath.IsAbs(tmp) {
			tmp = "/tmp"
		}
	}
	n.Proxy = &plan.Proxy{
		Dir:    filepath.Join(tmp, fmt.Sprintf("launch-net-%d", h.PID)),
		Binary: h.Executable,
		Port:   proxyPort,
		Log:    log,
	}
	return n, nil
}

// sidecarOf is the proxy sidecar of an allowlist, but its log: named after
// launch's pid, with a static Linux launch binary for the engine, and the
// host's corporate proxy variable as its upstream. Docker and Podman run it;
// Apptainer's renderer refuses it.
func sidecarOf(o *options, h *Host, arch string) (*plan.Sidecar, error) {
	bin, err := linuxBinary(h, arch)
	if err != nil {
		return nil, usagef("--network allow=...: the proxy sidecar runs %w; or use --network none or open", err)
	}
	x := &plan.Sidecar{
		Volume: fmt.Sprintf("launch-net-%d", h.PID),
		Name:   fmt.Sprintf("launch-proxy-%d", h.PID),
		Binary: bin,
		Port:   proxyPort,
	}
	if k, v := upstreamProxy(h.Getenv); k != "" {
		x.Upstream = &plan.EnvVar{Name: k, Value: v, FromHost: true}
	}
	return x, nil
}

// upstreamProxy is the host's corporate proxy variable, the first set of
// HTTPS_PROXY, https_proxy, HTTP_PROXY and http_proxy, and its value; ""
// when none is.
func upstreamProxy(getenv func(string) string) (name, value string) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		if v := getenv(k); v != "" {
			return k, v
		}
	}
	return "", ""
}

// linuxBinary is the static Linux launch binary that the sidecar runs: on
// Linux for the host's own architecture, the running one; otherwise the
// first of linuxBinaryPaths that exists.
func linuxBinary(h *Host, arch string) (string, error) {
	if arch == "" {
		arch = h.GOARCH
	}
	if h.GOOS == "linux" && arch == h.GOARCH {
		return h.Executable, nil
	}
	paths := linuxBinaryPaths(h, arch)
	for _, p := range paths {
		if fi, err := h.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("a static Linux launch binary for %s, and there is none (looked for %s); install one: %s",
		arch, strings.Join(paths, ", "), linuxBinaryFix(arch))
}

// linuxBinaryPaths are where launch looks for launch's Linux build for
// arch, in order: launch-linux-ARCH next to the running launch (make
// build-linux, make cross), in $XDG_CACHE_HOME/launch/bin (make
// install-linux: under the home directory, which a podman machine
// shares with the Mac, so that the sidecar can mount it), and
// GOPATH/bin/linux_ARCH/launch, where `GOOS=linux GOARCH=ARCH go install`
// puts it.
func linuxBinaryPaths(h *Host, arch string) []string {
	name := "launch-linux-" + arch
	gopath, _, _ := strings.Cut(h.Getenv("GOPATH"), string(filepath.ListSeparator))
	if !filepath.IsAbs(gopath) {
		gopath = filepath.Join(h.Home, "go")
	}
	return []string{
		filepath.Join(filepath.Dir(h.Executable), name),
		filepath.Join(cacheHome(h), "launch", "bin", name),
		filepath.Join(gopath, "bin", "linux_"+arch, "launch"),
	}
}

// linuxBinaryFix says how to install launch's Linux build for arch.
func linuxBinaryFix(arch string) string {
	return fmt.Sprintf("`make install-linux` in launch's source (launch-linux-amd64 and -arm64 into ~/.cache/launch/bin), or `GOOS=linux GOARCH=%s CGO_ENABLED=0 go install -tags '%s' github.com/launchcli/launch/cmd/launch@latest` (into ~/go/bin/linux_%s/launch)",
		arch, buildTags, arch)
}

// buildTags are the build tags launch is built with.
const buildTags = "remote exclude_graphdriver_btrfs containers_image_openpgp"

// expand replaces the @AGENT entries of n with the agents' suggested lists.
func (n networkSetting) expand(agents map[string]agent) (plan.Network, error) {
	v := n.value()
	if len(n.refs) == 0 {
		return v, nil
	}
	items := make([]string, 0, len(v.Allow))
	for _, h := range v.Allow {
		items = append(items, h.String())
	}
	for _, r := range n.refs {
		a, ok := agents[r]
		if !ok || len(a.NetworkAllow) == 0 {
			var have []string
			for name, a := range agents {
				if len(a.NetworkAllow) > 0 {
					have = append(have, "@"+name)
				}
			}
			sort.Strings(have)
			return plan.Network{}, plan.Errorf(plan.ErrInvalid, "network: @%s: no agent %q with a suggested allowlist (network_allow); have %s", r, r, strings.Join(have, ", "))
		}
		items = append(items, a.NetworkAllow...)
	}
	out, err := plan.ParseNetwork("allow=" + strings.Join(items, ","))
	if err != nil {
		return plan.Network{}, fmt.Errorf("network_allow of @%s: %w", strings.Join(n.refs, ", @"), err)
	}
	return out, nil
}

// parseNetworkSetting splits the @AGENT entries off an allowlist.
func parseNetworkSetting(s string) (networkSetting, error) {
	list, ok := strings.CutPrefix(s, "allow=")
	if !ok || !strings.Contains(list, "@") {
		v, err := plan.ParseNetwork(s)
		return networkSetting{Network: v, set: true}, err
	}
	var refs, rest []string
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if name, ok := strings.CutPrefix(item, "@"); ok {
			if !validAgentName(name) {
				return networkSetting{}, plan.Errorf(plan.ErrInvalid, "network %q: %q: want @AGENT, an agent's name", s, item)
			}
			refs = append(refs, name)
			continue
		}
		rest = append(rest, item)
	}
	v := plan.Network{Mode: plan.NetworkAllow}
	if len(strings.Join(rest, "")) > 0 {
		var err error
		if v, err = plan.ParseNetwork("allow=" + strings.Join(rest, ",")); err != nil {
			return networkSetting{}, err
		}
	}
	return networkSetting{Network: v, refs: refs, set: true}, nil
}

// withProxy wraps a backend's snippet so that it runs as printed: it starts
// the host proxy in the background (launch proxy), waits for its socket,
// runs the container, and stops the proxy and removes its directory on exit.
func withProxy(snippet string, n plan.Network) string {
	x := n.Proxy
	if x == nil {
		return snippet
	}
	dir, sock := shell.Quote(x.Dir), shell.Quote(x.Socket())
	lines := []string{
		"(",
		"mkdir -m 0700 " + dir + " || exit 125",
		shell.Join([]string{x.Binary, "proxy", "--socket", x.Socket(), "--log", x.Log, "--network", n.String()}) + " &",
		"launch_proxy=$!",
		"trap " + shell.Quote(`kill "$launch_proxy" 2>/dev/null; wait "$launch_proxy"; rm -rf `+dir) + " EXIT",
		"trap : HUP INT TERM",
		"while [ ! -S " + sock + " ]; do kill -0 \"$launch_proxy\" 2>/dev/null || exit 125; sleep 0.1; done",
		strings.TrimRight(snippet, "\n"),
		")",
	}
	return strings.Join(lines, "\n") + "\n"
}

// hostProxy is the proxy of a real run.
type hostProxy struct {
	p    *netpolicy.Proxy
	dir  string
	log  *os.File
	done chan error
}

// startProxy starts the host proxy of an allowlist on its socket; stop
// ends it and removes its directory.
func startProxy(n plan.Network, getenv func(string) string, verbose io.Writer) (*hostProxy, error) {
	x := n.Proxy
	if err := os.Mkdir(x.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("network proxy directory: %w; remove it if no launch uses it", err)
	}
	hp := &hostProxy{dir: x.Dir, done: make(chan error, 1)}
	var err error
	if hp.p, hp.log, err = newProxy(n, x.Log, getenv, verbose); err != nil {
		os.RemoveAll(x.Dir)
		return nil, err
	}
	l, err := net.Listen("unix", x.Socket())
	if err != nil {
		hp.log.Close()
		os.RemoveAll(x.Dir)
		return nil, fmt.Errorf("network proxy: %w", err)
	}
	go func() { hp.done <- hp.p.Serve(l) }()
	return hp, nil
}

func (hp *hostProxy) stop() error {
	err := hp.p.Close()
	err = errors.Join(err, <-hp.done, hp.log.Close())
	os.RemoveAll(hp.dir)
	return err
}

// newProxy builds the proxy of policy n: its session log (appended to,
// private), and the host's HTTPS_PROXY as its upstream.
func newProxy(n plan.Network, logPath string, getenv func(string) string, verbose io.Writer) (*netpolicy.Proxy, *os.File, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return nil, nil, fmt.Errorf("network log: %w", err)
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("network log: %w", err)
	}
	p := &netpolicy.Proxy{Allow: netpolicy.NewMatcher(n.Allow), Policy: n.String(), Log: f, Verbose: verbose}
	if k, v := upstreamProxy(getenv); k != "" {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "") {
			f.Close()
			return nil, nil, plan.Errorf(plan.ErrInvalid, "%s: want http://HOST:PORT, the corporate proxy launch's proxy goes through", k)
		}
		p.Upstream = u
	}
	return p, f, nil
}

// proxyCommand is "launch proxy": the host proxy of an allowlist, as the
// dry run's snippet starts it.
func proxyCommand(s iostreams.Streams, h *Host) *cli.Command {
	var socket, logPath, policy string
	var verbose bool
	return &cli.Command{
		Name:      "proxy",
		Usage:     "run the allowlisting network proxy on a Unix socket (what --network allow=... starts for a session)",
		UsageText: "launch proxy --socket PATH --network allow=HOST[:PORT],... [--log FILE]",
		Description: `Tunnels CONNECT and forwards plain http:// requests to the hosts of the
allowlist only, matched on the requested host in canonical form (an address
only against the list's addresses; a zone or an integer IPv4 refused). An
allowed name is looked up once and reached only at the addresses checked:
loopback, link-local and private ones only when the list names them.
Anything else gets 403 with the host and the flag that would allow it. Each
decision is a JSON line in
--log. The host's HTTPS_PROXY, when set, is the upstream proxy. It runs until
it is killed; once it listens it prints "launch proxy: listening on PATH" on
stderr. A launch with --network allow=... runs it itself (or in a sidecar
container, network_via sidecar); the dry run's snippet starts it in the
background. See docs/network.md.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Required: true, Destination: &socket, Usage: "Unix socket to listen on"},
			&cli.StringFlag{Name: "network", Required: true, Destination: &policy, Usage: "the policy: allow=HOST[:PORT],..."},
			&cli.StringFlag{Name: "log", Destination: &logPath, Usage: "session log, one JSON line per decision (default: $XDG_STATE_HOME/launch/network/proxy.log)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Destination: &verbose, Usage: "print each decision on stderr"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			n, err := plan.ParseNetwork(policy)
			if err != nil || n.Mode != plan.NetworkAllow {
				return usagef("--network %q: want allow=HOST[:PORT],...", policy)
			}
			if logPath == "" {
				logPath = filepath.Join(stateDir(h), "network", "proxy.log")
			}
			var vw io.Writer
			if verbose {
				vw = s.Err
			}
			p, f, err := newProxy(n, logPath, h.Getenv, vw)
			if err != nil {
				return err
			}
			defer f.Close()
			l, err := net.Listen("unix", socket)
			if err != nil {
				return fmt.Errorf("network proxy: %w", err)
			}
			defer os.Remove(socket)
			fmt.Fprintf(s.Err, "launch proxy: listening on %s\n", socket)
			go func() {
				<-ctx.Done()
				p.Close()
			}()
			return p.Serve(l)
		},
	}
}

// internalCommands run inside the container, from the launch binary
// mounted read-only at plan.ProxyBinary; main runs them before anything
// reads the host (the container may have no $HOME).
var internalCommands = map[string]func(args []string) int{
	"_forward": runForward,
	"_connect": runConnect,
	"_relay":   runRelay,
}

// forwardNoSocket is the exit code of the forwarder when the proxy's socket
// refuses it before the agent starts (docs/network.md).
const forwardNoSocket = 125

// runForward is "launch _forward --socket S --listen ADDR -- ARGV...": the
// entry wrapper of an allowlisted container. It relays ADDR to the proxy's
// socket and runs ARGV, forwarding SIGTERM and SIGHUP, and exits with its
// status. Killing it cuts the agent off the network, nothing more.
func runForward(args []string) int {
	var socket, listen string
	for len(args) >= 2 && args[0] != "--" {
		switch args[0] {
		case "--socket":
			socket = args[1]
		case "--listen":
			listen = args[1]
		default:
			return internalUsage("_forward", "unknown flag "+args[0])
		}
		args = args[2:]
	}
	if len(args) < 2 || args[0] != "--" || socket == "" || listen == "" {
		return internalUsage("_forward", "want --socket PATH --listen ADDR -- COMMAND...")
	}
	// The proxy's socket is there before the container starts: a refused
	// connection now is the sandbox refusing host sockets (gVisor without
	// --host-uds=open, which podman cannot show before the run).
	if err := netpolicy.Probe(socket); err != nil {
		fmt.Fprintf(os.Stderr, "launch: network forwarder: %v; the agent did not start. Under gVisor (runsc) a container reaches a host Unix socket only when runsc runs with --host-uds=open: add it to the runtime's arguments (docker: \"runtimeArgs\" in /etc/docker/daemon.json; podman: a wrapper script as the runsc entry of [engine.runtimes] in containers.conf), or use --runtime runc or --network none (docs/network.md, runsc)\n", err)
		return forwardNoSocket
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "launch: network forwarder: %v\n", err)
		return 125
	}
	go netpolicy.Forward(l, socket)
	return runChild(args[1:])
}

// runChild runs argv as the container's command, this process its parent:
// it forwards SIGTERM and SIGHUP and exits with argv's status.
func runChild(argv []string) int {
	// The terminal's signals reach the agent by themselves (one process
	// group), so this process only swallows them. Caught, not ignored:
	// an ignored signal stays ignored across exec, and a shell cannot
	// trap a signal ignored on entry.
	swallow := make(chan os.Signal, 4)
	signal.Notify(swallow, syscall.SIGINT, syscall.SIGQUIT)
	go func() {
		for range swallow {
		}
	}()
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "launch: %v\n", err)
		return 127
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for sig := range sigs {
			c.Process.Signal(sig)
		}
	}()
	err := c.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "launch: %v\n", err)
	return 125
}

// runConnect is "launch _connect [--socket S] HOST PORT": one tunnel through
// the proxy on stdin and stdout, the ProxyCommand of git's ssh.
func runConnect(args []string) int {
	socket := plan.ProxyDir + "/" + plan.ProxySocketName
	if len(args) >= 2 && args[0] == "--socket" {
		socket, args = args[1], args[2:]
	}
	if len(args) != 2 {
		return internalUsage("_connect", "want [--socket PATH] HOST PORT")
	}
	port, err := strconv.Atoi(args[1])
	if err != nil {
		return internalUsage("_connect", "port "+strconv.Quote(args[1]))
	}
	if err := netpolicy.Connect(socket, args[0], port, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "launch: %s:%d: %v\n", args[0], port, err)
		return 1
	}
	return 0
}

func internalUsage(name, msg string) int {
	fmt.Fprintf(os.Stderr, "launch %s: %s (an internal command of --network allow=...)\n", name, msg)
	return 2
}

// networkHealth adds to a backend's doctor report how each network policy
// is enforced there, or that it cannot be; arch is the image's platform
// (empty: the host's), which the sidecar's binary must match.
func networkHealth(r *health.Report, h *Host, arch string) {
	r.Add("network none", "enforced: the container has only a loopback interface")
	r.Add("network open", "the engine's default network (Apptainer: the host's)")
	engine := backendName(r.Backend) != backendSingularity
	sidecar := "enforced with network_via sidecar: no network in the container; launch proxy in a sidecar container on the engine's default network, by host name, on a Unix socket in a volume that both mount; " + plan.ProxyBinary + " _forward relays 127.0.0.1:" + strconv.Itoa(proxyPort) + " to it"
	if h.GOOS != "linux" {
		if arch == "" {
			arch = h.GOARCH
		}
		bin, err := linuxBinary(h, arch)
		switch {
		case !engine:
			r.Add("network allow=", "not enforced on "+h.GOOS)
		case err != nil:
			r.Add("network allow=", "not enforced on "+h.GOOS+": no static Linux launch binary for the sidecar")
			r.Warn("--network allow=...: "+err.Error(), "install it: "+linuxBinaryFix(arch)+" (docs/podman.md, macOS)")
		default:
			r.Add("network allow=", sidecar+" (the only way on "+h.GOOS+", where the engine's VM cannot reach a host Unix socket; binary "+bin+")")
		}
		return
	}
	if static, err := staticBinary(h.Executable); err != nil || !static {
		r.Add("network allow=", "not enforced: "+h.Executable+" is not a static binary, so it cannot run in the container as the forwarder")
		r.Warn("--network allow=...: launch's binary is dynamically linked", "build it with CGO_ENABLED=0 (make build does)")
		return
	}
	r.Add("network allow=", "enforced: no network in the container; launch's proxy on a host Unix socket, by host name (CONNECT, plain http, ssh via ProxyCommand); "+plan.ProxyBinary+" _forward relays 127.0.0.1:"+strconv.Itoa(proxyPort)+" to it")
	if engine {
		r.Add("network allow= (sidecar)", sidecar)
	}
}

// staticBinary reports whether the ELF file at path has no interpreter.
func staticBinary(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// networkNotes say how the policy is enforced, for the dry run's stderr.
func networkNotes(backend backendName, p plan.Plan) []string {
	n := p.Network
	switch n.Mode {
	case plan.NetworkNone:
		return []string{"network none: the container has only a loopback interface"}
	case plan.NetworkAllow:
	default:
		return nil
	}
	if x := n.Sidecar; x != nil {
		notes := []string{
			fmt.Sprintf("network %s: through a proxy sidecar: the container has no network (only lo); the container %s, on the engine's default network, runs launch proxy on a Unix socket in the volume %s (a private tmpfs, mounted in both at %s) and lets through only these hosts, by name, for CONNECT (https, ssh) and plain http; everything else gets 403", n, x.Name, x.Volume, plan.ProxyDir),
			fmt.Sprintf("network: inside, %s _forward listens on 127.0.0.1:%d (HTTP_PROXY, HTTPS_PROXY) and relays to the socket; git over ssh uses it as ProxyCommand; a program that ignores the proxy variables reaches nothing", plan.ProxyBinary, x.Port),
			"network: each decision (time, host, port, verdict, bytes) goes to " + x.Log + " (its directory is mounted in the sidecar)",
		}
		if x.Upstream != nil {
			notes = append(notes, "network: the sidecar's proxy goes through "+x.Upstream.Name+" (from this shell), which must be reachable from the engine's default network")
		}
		if p.Runtime == plan.RuntimeRunsc {
			notes = append(notes, "network: under runsc the forwarder reaches the socket on the volume only when runsc runs with --host-uds=open")
		}
		return notes
	}
	x := n.Proxy
	notes := []string{
		fmt.Sprintf("network %s: the container has no network (only lo); launch's proxy on the host (socket %s) lets through only these hosts, by name, for CONNECT (https, ssh) and plain http; everything else gets 403", n, x.Socket()),
		fmt.Sprintf("network: inside, %s _forward listens on 127.0.0.1:%d (HTTP_PROXY, HTTPS_PROXY) and relays to the socket; git over ssh uses it as ProxyCommand; a program that ignores the proxy variables reaches nothing", plan.ProxyBinary, x.Port),
		"network: each decision (time, host, port, verdict, bytes) goes to " + x.Log,
	}
	if p.Runtime == plan.RuntimeRunsc {
		notes = append(notes, "network: under runsc the forwarder reaches the host socket only when runsc runs with --host-uds=open (docker info lists the runtime's arguments; add \"runtimeArgs\": [\"--host-uds=open\"] to its entry in /etc/docker/daemon.json)")
	}
	return notes
}
