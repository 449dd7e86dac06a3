package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"go.podman.io/podman/v6/pkg/bindings"

	"github.com/launchcli/launch/plan"
)

// Host holds the host facts that choose the Podman service. cmd/launch fills
// it from the process; tests fill it by hand.
type Host struct {
	// URL is the service the user named (--url, as podman's own flag); it
	// wins over everything below.
	URL string
	// Getenv reads CONTAINER_HOST, CONTAINER_SSHKEY, CONTAINER_CONNECTION,
	// PODMAN_CONNECTIONS_CONF, CONTAINERS_CONF, XDG_CONFIG_HOME,
	// XDG_RUNTIME_DIR and TMPDIR.
	Getenv func(string) string
	// Home is the user's home directory.
	Home string
	// GOOS: on "darwin" a machine's forwarded API socket is preferred to
	// its ssh connection.
	GOOS string
	// UID is the caller's; /run/user/UID stands in for an unset
	// XDG_RUNTIME_DIR.
	UID int
	// ReadFile reads the connection files; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// Exists reports whether a socket path exists; nil means os.Stat.
	Exists func(string) bool
	// LookPath finds the podman command, for a private service; nil
	// means exec.LookPath.
	LookPath func(string) (string, error)
}

func (h Host) getenv(k string) string {
	if h.Getenv == nil {
		return ""
	}
	return h.Getenv(k)
}

func (h Host) readFile(p string) ([]byte, error) {
	if h.ReadFile == nil {
		return os.ReadFile(p)
	}
	return h.ReadFile(p)
}

func (h Host) exists(p string) bool {
	if h.Exists == nil {
		_, err := os.Stat(p)
		return err == nil
	}
	return h.Exists(p)
}

// Endpoint is one Podman service address and where it came from.
type Endpoint struct {
	// URI is the service: unix:///path, ssh://user@host:port/path, tcp://...
	URI string
	// Identity is the ssh key for an ssh:// URI; empty for the agent's.
	Identity string
	// Machine marks a podman machine's connection (what `podman machine
	// init` writes).
	Machine bool
	// Source says why it was chosen: "CONTAINER_HOST", `connection "x" in
	// FILE`, "rootless socket", ...
	Source string
	// Named: the user named this service (an environment variable or a
	// configured default). Connect then tries it alone; a well-known socket
	// that does not answer is passed over for the next.
	Named bool
}

// String is the endpoint and its source.
func (e Endpoint) String() string { return e.URI + " (" + e.Source + ")" }

// connection is one entry of podman-connections.json or of containers.conf's
// [engine.service_destinations].
type connection struct {
	URI       string `json:"URI" toml:"uri"`
	Identity  string `json:"Identity" toml:"identity"`
	IsMachine bool   `json:"IsMachine" toml:"is_machine"`
}

// connectionsFile is podman-connections.json, which Podman 5 and later (and
// Podman Desktop) write.
type connectionsFile struct {
	Connection struct {
		Default     string                `json:"Default"`
		Connections map[string]connection `json:"Connections"`
	} `json:"Connection"`
}

// containersConf is the part of containers.conf that names services.
type containersConf struct {
	Engine struct {
		ActiveService       string                `toml:"active_service"`
		ServiceDestinations map[string]connection `toml:"service_destinations"`
	} `toml:"engine"`
}

func (h Host) configHome() string {
	if d := h.getenv("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	if h.Home == "" {
		return ""
	}
	return filepath.Join(h.Home, ".config")
}

// connectionsPath is $PODMAN_CONNECTIONS_CONF, or
// ~/.config/containers/podman-connections.json.
func (h Host) connectionsPath() string {
	if p := h.getenv("PODMAN_CONNECTIONS_CONF"); p != "" {
		return p
	}
	if d := h.configHome(); d != "" {
		return filepath.Join(d, "containers", "podman-connections.json")
	}
	return ""
}

// confPaths are the containers.conf files that may name services, the
// first found winning: $CONTAINERS_CONF alone when set, else the user's,
// else the system's.
func (h Host) confPaths() []string {
	if p := h.getenv("CONTAINERS_CONF"); p != "" {
		return []string{p}
	}
	var ps []string
	if d := h.configHome(); d != "" {
		ps = append(ps, filepath.Join(d, "containers", "containers.conf"))
	}
	return append(ps, "/etc/containers/containers.conf", "/usr/share/containers/containers.conf")
}

// named looks a connection up by name (name empty: the default one) in
// podman-connections.json, then in containers.conf. ok is false when no
// file names it.
func (h Host) named(name string) (ep Endpoint, ok bool, err error) {
	if p := h.connectionsPath(); p != "" {
		b, err := h.readFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Endpoint{}, false, fmt.Errorf("podman connections %q: %w", p, err)
		default:
			var f connectionsFile
			if err := json.Unmarshal(b, &f); err != nil {
				return Endpoint{}, false, plan.Errorf(plan.ErrInvalid, "podman connections %q: %v; fix or remove it (podman system connection ls)", p, err)
			}
			n := name
			if n == "" {
				n = f.Connection.Default
			}
			if c, found := f.Connection.Connections[n]; n != "" && found {
				return h.endpoint(c, fmt.Sprintf("connection %q in %s", n, p)), true, nil
			}
		}
	}
	for _, p := range h.confPaths() {
		b, err := h.readFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Endpoint{}, false, fmt.Errorf("containers.conf %q: %w", p, err)
		}
		var cc containersConf
		if _, err := toml.Decode(string(b), &cc); err != nil {
			return Endpoint{}, false, plan.Errorf(plan.ErrInvalid, "containers.conf %q: %v", p, err)
		}
		n := name
		if n == "" {
			n = cc.Engine.ActiveService
		}
		if c, found := cc.Engine.ServiceDestinations[n]; n != "" && found {
			return h.endpoint(c, fmt.Sprintf("service %q in %s", n, p)), true, nil
		}
		if len(cc.Engine.ServiceDestinations) > 0 || cc.Engine.ActiveService != "" {
			break // the first file that names services is the one podman reads
		}
	}
	return Endpoint{}, false, nil
}

// endpoint is the Endpoint of a configured connection. On macOS a podman
// machine also forwards its API to a unix socket on the Mac
// ($TMPDIR/podman/NAME-api.sock, Podman 5): when it exists it is used, with
// no ssh in between.
func (h Host) endpoint(c connection, source string) Endpoint {
	ep := Endpoint{URI: c.URI, Identity: c.Identity, Machine: c.IsMachine, Source: source, Named: true}
	if c.IsMachine && h.GOOS == "darwin" {
		name := machineName(source)
		tmp := h.getenv("TMPDIR")
		if name != "" && tmp != "" {
			sock := filepath.Join(tmp, "podman", name+"-api.sock")
			if h.exists(sock) {
				return Endpoint{URI: "unix://" + sock, Machine: true, Source: source + ", its forwarded API socket", Named: true}
			}
		}
	}
	return ep
}

// machineName is NAME in `connection "NAME" in FILE`; a machine's root
// connection (NAME-root) shares the machine's socket.
func machineName(source string) string {
	_, rest, ok := strings.Cut(source, `"`)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, `"`)
	return strings.TrimSuffix(name, "-root")
}

// Endpoints lists the services to try, in order: --url (Host.URL), then
// CONTAINER_HOST (with
// CONTAINER_SSHKEY) alone when set; else the connection named by
// CONTAINER_CONNECTION, alone; else the default connection of
// podman-connections.json ($PODMAN_CONNECTIONS_CONF or
// ~/.config/containers/podman-connections.json) or, without one,
// containers.conf's [engine] active_service and service_destinations,
// alone; else the rootless socket $XDG_RUNTIME_DIR/podman/podman.sock and
// the rootful /run/podman/podman.sock.
func Endpoints(h Host) ([]Endpoint, error) {
	if h.URL != "" {
		return []Endpoint{{URI: h.URL, Identity: h.getenv("CONTAINER_SSHKEY"), Source: "--url", Named: true}}, nil
	}
	if uri := h.getenv("CONTAINER_HOST"); uri != "" {
		return []Endpoint{{URI: uri, Identity: h.getenv("CONTAINER_SSHKEY"), Source: "CONTAINER_HOST", Named: true}}, nil
	}
	if name := h.getenv("CONTAINER_CONNECTION"); name != "" {
		ep, ok, err := h.named(name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, plan.Errorf(plan.ErrInvalid, "podman connection %q (CONTAINER_CONNECTION): not found in %s or containers.conf; list them with `podman system connection ls`", name, h.connectionsPath())
		}
		ep.Source += " (CONTAINER_CONNECTION)"
		return []Endpoint{ep}, nil
	}
	ep, ok, err := h.named("")
	if err != nil {
		return nil, err
	}
	if ok {
		return []Endpoint{ep}, nil
	}
	run := h.getenv("XDG_RUNTIME_DIR")
	if run == "" && h.UID != 0 {
		run = "/run/user/" + strconv.Itoa(h.UID)
	}
	var all []Endpoint
	if run != "" {
		all = append(all, Endpoint{URI: "unix://" + filepath.Join(run, "podman", "podman.sock"), Source: "rootless socket"})
	}
	return append(all, Endpoint{URI: "unix:///run/podman/podman.sock", Source: "rootful socket"}), nil
}

// Conn is a connection to a Podman service, and the service itself when
// Connect started one for this run. Close it when the run is over.
type Conn struct {
	ctx      context.Context // carries the bindings' connection
	endpoint string
	local    bool
	// Rootless is the service's own answer (`podman info`
	// host.security.rootless).
	Rootless bool
	// Machine: the service runs in a podman machine (a VM), which shares
	// only some host directories.
	Machine bool
	// Started: Connect started this service for the run (no service
	// answered); Close stops it.
	Started bool

	// stop stops the private service and removes its directory; nil when
	// Connect started none.
	stop func()
}

// bind is ctx carrying c's connection: cancelling ctx cancels the call.
func (c *Conn) bind(ctx context.Context) context.Context { return bound{ctx, c.ctx} }

type bound struct {
	context.Context
	values context.Context
}

func (b bound) Value(k any) any {
	if v := b.values.Value(k); v != nil {
		return v
	}
	return b.Context.Value(k)
}

// Close stops the service that Connect started, if any.
func (c *Conn) Close() error {
	if c != nil && c.stop != nil {
		c.stop()
		c.stop = nil
	}
	return nil
}

// Connect connects to the first service of Endpoints(h) that answers. A
// service the user named is tried alone. When none answers and podman is
// installed here (Linux without a user systemd, HPC nodes), it starts
// `podman system service` on a private socket for this run, which Close
// stops. The error says which services were tried and how to start one.
func Connect(ctx context.Context, h Host) (*Conn, error) {
	eps, err := Endpoints(h)
	if err != nil {
		return nil, err
	}
	var tried []string
	for _, ep := range eps {
		if p, ok := strings.CutPrefix(ep.URI, "unix://"); ok && !h.exists(p) {
			if ep.Named {
				// Said at once: the bindings retry a failed dial for 600 ms.
				return nil, connectError(ep, errors.New("no socket"))
			}
			tried = append(tried, ep.String()+": no socket")
			continue
		}
		c, err := dial(ctx, ep)
		if err == nil {
			return c, nil
		}
		if ep.Named {
			return nil, connectError(ep, err)
		}
		tried = append(tried, ep.String()+": "+shortError(err))
	}
	if h.GOOS == "linux" {
		if c, err := startPrivate(ctx, h); err == nil {
			return c, nil
		} else if !errors.Is(err, exec.ErrNotFound) {
			tried = append(tried, "a private `podman system service`: "+err.Error())
		}
	}
	how := "start one: `systemctl --user start podman.socket` (rootless), `sudo systemctl start podman.socket` (rootful), or install podman so that launch can start its own"
	if h.GOOS == "darwin" {
		how = "start the podman machine: `podman machine start` (first `podman machine init`), or start it in Podman Desktop"
	}
	return nil, fmt.Errorf("podman: no service answers (tried %s); %s; or point CONTAINER_HOST at one", strings.Join(tried, "; "), how)
}

// dial connects to ep and asks the service who it is.
func dial(ctx context.Context, ep Endpoint) (*Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bctx, err := bindings.NewConnectionWithOptions(context.WithoutCancel(ctx), bindings.Options{URI: ep.URI, Identity: ep.Identity, Machine: ep.Machine})
	if err != nil {
		return nil, err
	}
	c := &Conn{ctx: bctx, endpoint: ep.String(), Machine: ep.Machine, local: strings.HasPrefix(ep.URI, "unix://") && !ep.Machine}
	// A local socket tells without asking: a rootless service's socket is
	// its user's, a rootful one's is root's. `podman info` answers for
	// every other (ssh, a machine's forwarded socket), in some 300 ms.
	if p, ok := strings.CutPrefix(ep.URI, "unix://"); ok && !ep.Machine {
		if uid, ok := socketOwner(p); ok {
			c.Rootless = uid != 0
			return c, nil
		}
	}
	if c.Rootless, err = c.rootless(cctx); err != nil {
		return nil, err
	}
	return c, nil
}

// socketOwner is the uid that owns the socket file p.
func socketOwner(p string) (int, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// connectError says that the service the user named does not answer, and
// how to make it.
func connectError(ep Endpoint, err error) error {
	what, fix := unreachable(ep, err)
	return fmt.Errorf("podman: %s; %s", what, fix)
}

// unreachable says that the service at ep, which the user named, does not
// answer (err), and how to make it answer.
func unreachable(ep Endpoint, err error) (what, fix string) {
	if what, fix, ok := machineStopped(ep, err); ok {
		return what, fix
	}
	what = fmt.Sprintf("cannot reach the service at %s: %s", ep, shortError(err))
	switch {
	case ep.Machine:
		fix = "start the machine: `podman machine start` (or in Podman Desktop)"
	case strings.HasPrefix(ep.URI, "ssh://"):
		fix = "check the ssh destination and its key (CONTAINER_SSHKEY, the connection's identity) and that the remote service runs"
	default:
		fix = "is the service running? (`podman system connection ls`, `systemctl --user start podman.socket`)"
	}
	return what, fix
}

// machineStopped says that ep's podman machine is not running, and how to
// start it, when ep is a machine's connection that nothing answers: its
// ssh port (or its forwarded API socket) refused the dial, as when the VM
// is stopped. ok is false for any other failure (a refused key, an ssh
// agent that does not answer, a service that does not answer inside a
// running machine). The dial error is
// classified by its type, not its text.
func machineStopped(ep Endpoint, err error) (what, fix string, ok bool) {
	var op *net.OpError
	if !ep.Machine || !errors.As(err, &op) || op.Op != "dial" {
		return "", "", false
	}
	// The dial of the machine's own address: tcp to its ssh port, or its
	// socket; not that of an ssh agent's socket (SSH_AUTH_SOCK) that is gone.
	if ssh := strings.HasPrefix(ep.URI, "ssh://"); ssh != strings.HasPrefix(op.Net, "tcp") {
		return "", "", false
	}
	at := ep.URI
	if op.Addr != nil {
		at = op.Addr.String()
	}
	name := machineName(ep.Source)
	what = fmt.Sprintf("the podman machine is not running: nothing answers at %s (%s)", at, ep.Source)
	fix = "start it: `podman machine start`, or start it in Podman Desktop"
	if name != "" {
		what = fmt.Sprintf("the podman machine %q is not running: nothing answers at %s (%s)", name, at, ep.Source)
		fix = fmt.Sprintf("start it: `podman machine start %s`, or start it in Podman Desktop", name)
	}
	return what, fix, true
}

// shortError is err's message without the bindings' wrapping.
func shortError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "unable to connect to Podman socket: ")
	return msg
}

// startPrivate starts `podman system service` on a socket in a private
// directory and connects to it. The service runs in a process group of its
// own, so that Ctrl-C reaches launch alone and launch can still remove the
// container through it.
func startPrivate(ctx context.Context, h Host) (*Conn, error) {
	look := h.LookPath
	if look == nil {
		look = exec.LookPath
	}
	bin, err := look("podman")
	if err != nil {
		return nil, err
	}
	base := h.getenv("XDG_RUNTIME_DIR")
	if base == "" {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "launch-podman-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "podman.sock")
	cmd := exec.Command(bin, "system", "service", "--time=0", "unix://"+sock)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = serviceAttr()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	ep := Endpoint{URI: "unix://" + sock, Source: "a private service started by launch"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("it exited: %s", strings.TrimSpace(logs.String()))
		case <-ctx.Done():
			stop()
			return nil, context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := os.Stat(sock); err != nil {
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("no socket within 20 s: %s", strings.TrimSpace(logs.String()))
			}
			continue
		}
		c, err := dial(ctx, ep)
		if err != nil {
			if time.Now().After(deadline) {
				stop()
				return nil, err
			}
			continue
		}
		c.Started, c.stop = true, stop
		return c, nil
	}
}
