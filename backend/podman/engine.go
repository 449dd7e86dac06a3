package podman

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.podman.io/podman/v6/pkg/bindings"
	"go.podman.io/podman/v6/pkg/errorhandling"
	"go.podman.io/podman/v6/pkg/specgen"
)

// engine is the part of the libpod API that Exec uses. *Conn implements it;
// tests use a fake.
type engine interface {
	// Endpoint names the service in messages ("unix:///run/podman/podman.sock (rootful socket)").
	Endpoint() string
	// Local reports whether the service runs on this host (a unix socket,
	// not a podman machine's), so that its files are this host's.
	Local() bool
	ImageExists(ctx context.Context, ref string) (bool, error)
	// ImageEnv is the Env of the image's configuration.
	ImageEnv(ctx context.Context, ref string) ([]string, error)
	// Pull pulls ref for the platform os/arch/variant (empty: the
	// service's), writing the service's progress lines to progress. It
	// returns the ID of the image pulled.
	Pull(ctx context.Context, ref, os, arch, variant string, progress io.Writer) (id string, err error)
	Create(ctx context.Context, s *specgen.SpecGenerator) (id string, err error)
	// Runtime is the OCI runtime the container was created with.
	Runtime(ctx context.Context, id string) (string, error)
	// Attach connects the streams and sends true on ready once connected;
	// it returns when the container's output ends.
	Attach(ctx context.Context, id string, in io.Reader, out, errw io.Writer, ready chan bool) error
	// Init creates the container's process in the runtime (and its
	// terminal) without starting it, so that the terminal can be sized.
	Init(ctx context.Context, id string) error
	Start(ctx context.Context, id string) error
	// Wait waits for a started container to exit and returns its code.
	Wait(ctx context.Context, id string) (int, error)
	Resize(ctx context.Context, id string, width, height uint) error
	// Stop stops the container: SIGTERM, then SIGKILL after its
	// StopTimeout.
	Stop(ctx context.Context, id string) error
	// Remove force-removes the container and its anonymous volumes; a
	// container that is already gone is not an error.
	Remove(ctx context.Context, id string) error
	// VolumeCreate and VolumeRemove make and remove a proxy sidecar's
	// volume; Logs reads its output (sidecar.go).
	VolumeCreate(ctx context.Context, name string, options, labels map[string]string) error
	VolumeRemove(ctx context.Context, name string) error
	Logs(ctx context.Context, id string) ([]byte, error)
}

var _ engine = (*Conn)(nil)

// The calls below are the libpod REST API's, made over the bindings'
// connection (unix, ssh, tcp) with Connection.DoRequest. Podman's own
// wrappers (pkg/bindings/containers, images, system) are not used: they
// bring in buildah and some 480 packages whose initialisation would more
// than double the start-up of every launch, a dry run's included. The
// wrappers are the reference for each call; the real-service tests check
// the result.

func (c *Conn) client() (*bindings.Connection, error) { return bindings.GetClient(c.ctx) }

// do makes one call and decodes a successful answer into into (nil: none).
// An answer of the service's that is an error comes back as an
// *errorhandling.ErrorModel.
func (c *Conn) do(ctx context.Context, method, endpoint string, params url.Values, body io.Reader, into any, pathValues ...string) error {
	conn, err := c.client()
	if err != nil {
		return err
	}
	resp, err := conn.DoRequest(ctx, body, method, endpoint, params, nil, pathValues...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return resp.Process(into)
}

// rootless asks the service whether it is rootless (`podman info`).
func (c *Conn) rootless(ctx context.Context) (bool, error) {
	var info struct {
		Host struct {
			Security struct {
				Rootless bool `json:"rootless"`
			} `json:"security"`
		} `json:"host"`
	}
	err := c.do(ctx, http.MethodGet, "/info", nil, nil, &info)
	return info.Host.Security.Rootless, err
}

func (c *Conn) Endpoint() string { return c.endpoint }

func (c *Conn) Local() bool { return c.local }

func (c *Conn) ImageExists(ctx context.Context, ref string) (bool, error) {
	conn, err := c.client()
	if err != nil {
		return false, err
	}
	resp, err := conn.DoRequest(ctx, nil, http.MethodGet, "/images/%s/exists", nil, nil, ref)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.IsSuccess():
		return true, nil
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	}
	return false, resp.Process(nil)
}

func (c *Conn) ImageEnv(ctx context.Context, ref string) ([]string, error) {
	var img struct {
		Config *struct{ Env []string }
	}
	if err := c.do(ctx, http.MethodGet, "/images/%s/json", nil, nil, &img, ref); err != nil {
		return nil, err
	}
	if img.Config == nil {
		return nil, nil
	}
	return img.Config.Env, nil
}

func (c *Conn) Pull(ctx context.Context, ref, os, arch, variant string, progress io.Writer) (string, error) {
	// No tlsVerify parameter: the service's registries.conf decides, so a
	// registry listed there as insecure is pulled over plain HTTP and no
	// other is. Credentials are the service's (`podman login` where it
	// runs).
	params := url.Values{"reference": {ref}, "policy": {"always"}}
	for k, v := range map[string]string{"OS": os, "Arch": arch, "Variant": variant} {
		if v != "" {
			params.Set(k, v)
		}
	}
	conn, err := c.client()
	if err != nil {
		return "", err
	}
	resp, err := conn.DoRequest(ctx, nil, http.MethodPost, "/images/pull", params, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if !resp.IsSuccess() {
		return "", resp.Process(nil)
	}
	// A stream of reports, as images.Pull reads it.
	dec := json.NewDecoder(resp.Body)
	var errs []error
	id := ""
	for {
		var r struct {
			Stream string   `json:"stream"`
			Error  string   `json:"error"`
			Images []string `json:"images"`
			ID     string   `json:"id"`
		}
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", fmt.Errorf("read the pull's progress: %w", err)
		}
		if r.ID != "" {
			id = r.ID
		}
		if r.Stream != "" {
			fmt.Fprint(progress, r.Stream)
		}
		if r.Error != "" {
			errs = append(errs, errors.New(r.Error))
		}
	}
	return id, errors.Join(errs...)
}

func (c *Conn) Create(ctx context.Context, s *specgen.SpecGenerator) (string, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	var res struct {
		ID string `json:"Id"`
	}
	err = c.do(ctx, http.MethodPost, "/containers/create", nil, strings.NewReader(string(body)), &res)
	return res.ID, err
}

func (c *Conn) Runtime(ctx context.Context, id string) (string, error) {
	var data struct{ OCIRuntime string }
	err := c.do(ctx, http.MethodGet, "/containers/%s/json", url.Values{"size": {"false"}}, nil, &data, id)
	return data.OCIRuntime, err
}

func (c *Conn) Init(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/containers/%s/init", nil, nil, nil, id)
}

func (c *Conn) Start(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/containers/%s/start", nil, nil, nil, id)
}

func (c *Conn) Wait(ctx context.Context, id string) (int, error) {
	// The service polls the state at interval (250 ms by default, a
	// quarter of a second added to every run).
	params := url.Values{"condition": {"exited", "stopped"}, "interval": {"20ms"}}
	var code int32
	err := c.do(ctx, http.MethodPost, "/containers/%s/wait", params, nil, &code, id)
	return int(code), err
}

func (c *Conn) Resize(ctx context.Context, id string, width, height uint) error {
	params := url.Values{"h": {strconv.FormatUint(uint64(height), 10)}, "w": {strconv.FormatUint(uint64(width), 10)}, "running": {"true"}}
	return c.do(ctx, http.MethodPost, "/containers/%s/resize", params, nil, nil, id)
}

func (c *Conn) Stop(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/containers/%s/stop", url.Values{"ignore": {"true"}}, nil, nil, id)
}

func (c *Conn) Remove(ctx context.Context, id string) error {
	params := url.Values{"force": {"true"}, "v": {"true"}, "ignore": {"true"}}
	return c.do(ctx, http.MethodDelete, "/containers/%s", params, nil, nil, id)
}

// Attach attaches over a connection of its own, upgraded from HTTP as
// containers.Attach does: with a terminal the container's output is one raw
// stream, without one it comes in frames (8-byte header: stream, size).
// No detach keys: the agent gets every key, Ctrl-P included (the
// service's default would swallow ctrl-p,ctrl-q).
func (c *Conn) Attach(ctx context.Context, id string, in io.Reader, out, errw io.Writer, ready chan bool) error {
	return c.attach(ctx, id, "", in, out, errw, ready)
}

// attach is Attach with the detach keys keys ("" for none): the service
// ends the attach when it reads them from in, and the container runs on.
func (c *Conn) attach(ctx context.Context, id, keys string, in io.Reader, out, errw io.Writer, ready chan bool) error {
	conn, err := c.client()
	if err != nil {
		return err
	}
	var tty struct{ Config struct{ Tty bool } }
	if err := c.do(ctx, http.MethodGet, "/containers/%s/json", url.Values{"size": {"false"}}, nil, &tty, id); err != nil {
		return err
	}
	sock, err := conn.GetDialer(ctx)
	if err != nil {
		return err
	}
	defer sock.Close()
	params := url.Values{"stream": {"true"}, "stdout": {"true"}, "stderr": {"true"}, "detachKeys": {keys}}
	if in != nil {
		params.Set("stdin", "true")
	}
	host := "d"
	if conn.URI != nil && conn.URI.Scheme == "tcp" {
		host = conn.URI.Host
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host+"/v4.0.0/libpod/containers/"+url.PathEscape(id)+"/attach?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	if err := req.Write(sock); err != nil {
		return err
	}
	br := bufio.NewReader(sock)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return (&bindings.APIResponse{Response: resp, Request: req}).Process(nil)
	}
	ready <- true

	if in != nil {
		go func() {
			// The container's stdin ends when ours does. This goroutine
			// may outlive the attach while it blocks reading a terminal;
			// the connection is closed by then.
			_, _ = io.Copy(sock, in)
			if cw, ok := sock.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}()
	}
	if tty.Config.Tty {
		_, err := io.Copy(out, br)
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		return err
	}
	return demux(br, out, errw)
}

// demux copies the framed stream r to out (stdout) and errw (stderr).
func demux(r io.Reader, out, errw io.Writer) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		var w io.Writer
		switch hdr[0] {
		case 0, 1:
			w = out
		case 2:
			w = errw
		case 3:
			msg, _ := io.ReadAll(io.LimitReader(r, n))
			return fmt.Errorf("from the service: %s", msg)
		default:
			return fmt.Errorf("unknown stream %d in the attach", hdr[0])
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			return err
		}
	}
}

// errorCode is the HTTP status of the service's answer in err, 0 when err is
// not one.
func errorCode(err error) int {
	var m *errorhandling.ErrorModel
	if errors.As(err, &m) {
		return m.Code()
	}
	var v errorhandling.ErrorModel
	if errors.As(err, &v) {
		return v.Code()
	}
	return 0
}
