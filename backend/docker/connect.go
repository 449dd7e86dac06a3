package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// Host holds the host facts that choose the engine endpoint. HostFromOS fills
// it from the process; tests fill it by hand.
type Host struct {
	// Getenv reads DOCKER_HOST, DOCKER_CONTEXT, DOCKER_TLS_VERIFY,
	// DOCKER_CERT_PATH, DOCKER_API_VERSION and XDG_RUNTIME_DIR.
	Getenv func(string) string
	// Home is the user's home directory.
	Home string
	// ConfigDir is the Docker CLI's configuration directory: $DOCKER_CONFIG,
	// or ~/.docker.
	ConfigDir string
	// GOOS picks the well-known sockets to try ("darwin" adds Colima,
	// OrbStack and Docker Desktop).
	GOOS string
	// Exists reports whether a socket path exists; nil means os.Stat.
	Exists func(path string) bool
	// Access reports whether this user may connect to the unix socket at
	// path (write permission): nil, or an error that wraps syscall.EACCES
	// when not. Nil means access(2) with W_OK.
	Access func(path string) error
}

// HostFromOS returns the Host of the running process.
func HostFromOS() Host {
	home, _ := os.UserHomeDir()
	return Host{Getenv: os.Getenv, Home: home, ConfigDir: ConfigDir(os.Getenv, home), GOOS: runtime.GOOS}
}

// ConfigDir is the Docker CLI's configuration directory: $DOCKER_CONFIG, or
// home/.docker.
func ConfigDir(getenv func(string) string, home string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".docker")
}

// Endpoint is one engine address and where it came from.
type Endpoint struct {
	// Host is the engine address: unix:///path, tcp://host:port, ...
	Host string
	// Source says why it was chosen: "DOCKER_HOST", `context "colima"`,
	// "default socket", ...
	Source string
	// TLSDir, when set, holds ca.pem, cert.pem and key.pem for Host.
	TLSDir string
}

// String is the endpoint and its source: "unix:///var/run/docker.sock (default socket)".
func (e Endpoint) String() string { return e.Host + " (" + e.Source + ")" }

// Endpoints lists the endpoints to try, in order: DOCKER_HOST alone when it
// is set; else the Docker context named by DOCKER_CONTEXT or by
// config.json's currentContext, alone when it is not "default"; else the
// well-known sockets that exist (rootless $XDG_RUNTIME_DIR/docker.sock,
// /var/run/docker.sock, and on macOS Colima, OrbStack and Docker Desktop).
// When no socket exists it returns all of them, so that the error can say
// what was tried.
func Endpoints(h Host) ([]Endpoint, error) {
	getenv := h.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if host := getenv("DOCKER_HOST"); host != "" {
		return []Endpoint{{Host: host, Source: "DOCKER_HOST"}}, nil
	}
	name, source := getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	if name == "" && h.ConfigDir != "" {
		var err error
		if name, err = currentContext(h.ConfigDir); err != nil {
			return nil, err
		}
		source = filepath.Join(h.ConfigDir, "config.json")
	}
	if name != "" && name != "default" {
		ep, err := contextEndpoint(h.ConfigDir, name)
		if err != nil {
			return nil, fmt.Errorf("docker context %q (from %s): %w", name, source, err)
		}
		return []Endpoint{ep}, nil
	}

	var all []Endpoint
	if h.GOOS != "darwin" {
		if d := getenv("XDG_RUNTIME_DIR"); d != "" {
			all = append(all, Endpoint{Host: "unix://" + filepath.Join(d, "docker.sock"), Source: "rootless docker"})
		}
	}
	all = append(all, Endpoint{Host: client.DefaultDockerHost, Source: "default socket"})
	if h.GOOS == "darwin" && h.Home != "" {
		all = append(all,
			Endpoint{Host: "unix://" + filepath.Join(h.Home, ".colima", "default", "docker.sock"), Source: "Colima"},
			Endpoint{Host: "unix://" + filepath.Join(h.Home, ".orbstack", "run", "docker.sock"), Source: "OrbStack"},
			Endpoint{Host: "unix://" + filepath.Join(h.Home, ".docker", "run", "docker.sock"), Source: "Docker Desktop"},
		)
	}
	exists := h.Exists
	if exists == nil {
		exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	var found []Endpoint
	for _, ep := range all {
		if exists(strings.TrimPrefix(ep.Host, "unix://")) {
			found = append(found, ep)
		}
	}
	if len(found) == 0 {
		return all, nil
	}
	return found, nil
}

// currentContext reads currentContext from dir/config.json; a missing file
// means no context.
func currentContext(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("docker config: %w", err)
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("docker config %q: %w; fix or remove the file", filepath.Join(dir, "config.json"), err)
	}
	return cfg.CurrentContext, nil
}

// contextEndpoint reads the docker endpoint of context name from
// dir/contexts/meta/<sha256 of name>/meta.json, as the docker CLI stores it.
func contextEndpoint(dir, name string) (Endpoint, error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	metaPath := filepath.Join(dir, "contexts", "meta", id, "meta.json")
	b, err := os.ReadFile(metaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoint{}, fmt.Errorf("no such context (%q is missing); list contexts with `docker context ls` or unset it with `docker context use default`", metaPath)
	}
	if err != nil {
		return Endpoint{}, err
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string
		}
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return Endpoint{}, fmt.Errorf("%q: %w", metaPath, err)
	}
	d, ok := meta.Endpoints["docker"]
	if !ok || d.Host == "" {
		return Endpoint{}, fmt.Errorf("%q has no docker endpoint", metaPath)
	}
	ep := Endpoint{Host: d.Host, Source: fmt.Sprintf("context %q", name)}
	tls := filepath.Join(dir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(filepath.Join(tls, "ca.pem")); err == nil {
		ep.TLSDir = tls
	}
	return ep, nil
}

// Connect returns a client for the first endpoint (see Endpoints) whose
// engine answers a ping, with the API version negotiated down to the
// engine's (Debian's dockerd 20.10 speaks 1.41). When none answers, the error
// names every endpoint tried and says what to do. The caller closes the
// client.
func Connect(ctx context.Context, h Host) (*client.Client, error) {
	eps, err := Endpoints(h)
	if err != nil {
		return nil, err
	}
	ue := &UnreachableError{}
	for _, ep := range eps {
		c, err := dial(ctx, ep, h)
		if err == nil {
			return c, nil
		}
		ue.Tried = append(ue.Tried, fmt.Sprintf("%s: %v", ep, err))
		if errors.Is(err, syscall.EACCES) {
			ue.Denied = append(ue.Denied, ep.Host)
		}
	}
	return nil, ue
}

// UnreachableError is Connect's error when no engine answers.
type UnreachableError struct {
	// Tried lists each endpoint with the reason it failed.
	Tried []string
	// Denied are the endpoints whose socket this user may not connect to
	// (EACCES): an engine runs there, for others.
	Denied []string
}

func (e *UnreachableError) Error() string {
	if len(e.Denied) > 0 {
		return "permission denied on the docker socket (tried " + strings.Join(e.Tried, "; ") + "): " + DeniedFix
	}
	return "no docker engine answers (tried " + strings.Join(e.Tried, "; ") +
		"): start dockerd (Linux), Docker Desktop, `colima start` or OrbStack, or point DOCKER_HOST at a running engine; or use --backend podman"
}

// DeniedFix is what to do when the docker socket refuses this user.
const DeniedFix = "the engine runs, but this user may not use it; join the docker group (`sudo usermod -aG docker $USER`, then log out and in) or use rootless Podman (--backend podman)"

// Usable reports whether this user may connect to the engine that h points
// at, without asking it: nil, or an *UnreachableError with Denied set when
// every unix socket that exists refuses this user (EACCES). An endpoint it
// cannot judge so (tcp, ssh) counts as usable; Connect says more.
func Usable(h Host) error {
	eps, err := Endpoints(h)
	if err != nil {
		return nil // a broken context: Connect says why
	}
	exists, access := h.Exists, h.Access
	if exists == nil {
		exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	if access == nil {
		access = accessW
	}
	ue := &UnreachableError{}
	for _, ep := range eps {
		p, unix := strings.CutPrefix(ep.Host, "unix://")
		if !unix {
			return nil
		}
		if !exists(p) {
			continue
		}
		err := access(p)
		if !errors.Is(err, syscall.EACCES) {
			return nil
		}
		ue.Tried = append(ue.Tried, fmt.Sprintf("%s: permission denied", ep))
		ue.Denied = append(ue.Denied, ep.Host)
	}
	if len(ue.Denied) == 0 {
		return nil
	}
	return ue
}

// dial makes a client for ep and pings it.
func dial(ctx context.Context, ep Endpoint, h Host) (*client.Client, error) {
	if strings.HasPrefix(ep.Host, "ssh://") {
		return nil, errors.New("ssh:// endpoints are not supported yet; forward the socket (ssh -L /tmp/docker.sock:/var/run/docker.sock HOST) and set DOCKER_HOST=unix:///tmp/docker.sock")
	}
	if p, unix := strings.CutPrefix(ep.Host, "unix://"); unix {
		// The client reports a refused socket by text alone: ask the
		// kernel first, whose answer has a type.
		access := h.Access
		if access == nil {
			access = accessW
		}
		if err := access(p); errors.Is(err, syscall.EACCES) {
			return nil, syscall.EACCES
		}
	}
	opts := []client.Opt{client.WithHost(ep.Host)}
	getenv := h.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	switch {
	case ep.Source == "DOCKER_HOST" && getenv("DOCKER_CERT_PATH") != "":
		d := getenv("DOCKER_CERT_PATH")
		opts = append(opts, client.WithTLSClientConfig(filepath.Join(d, "ca.pem"), filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem")))
	case ep.TLSDir != "":
		opts = append(opts, client.WithTLSClientConfig(filepath.Join(ep.TLSDir, "ca.pem"), filepath.Join(ep.TLSDir, "cert.pem"), filepath.Join(ep.TLSDir, "key.pem")))
	}
	if v := getenv("DOCKER_API_VERSION"); v != "" {
		opts = append(opts, client.WithAPIVersion(v))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, pingError(err)
	}
	return c, nil
}

// pingError shortens the client's connection errors, whose text repeats the
// endpoint, to the reason, with a hint for the usual ones.
func pingError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer within 10s")
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		switch {
		case errors.Is(op.Err, fs.ErrNotExist):
			return errors.New("no such socket")
		case errors.Is(op.Err, syscall.ECONNREFUSED):
			return errors.New("connection refused (the engine is not running)")
		}
		return op.Err
	}
	return err
}

// accessW is access(2) with W_OK (2 on Linux and macOS), which connecting
// to a unix socket needs.
func accessW(p string) error { return syscall.Access(p, 2) }
