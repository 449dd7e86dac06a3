package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/runner"
	"github.com/launchcli/launch/plan"
)

// engine is the part of the Engine API that Exec uses. *client.Client
// satisfies it; tests use a fake.
type engine interface {
	DaemonHost() string
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImagePull(ctx context.Context, ref string, options client.ImagePullOptions) (client.ImagePullResponse, error)
	ContainerCreate(ctx context.Context, options client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	ContainerAttach(ctx context.Context, container string, options client.ContainerAttachOptions) (client.ContainerAttachResult, error)
	ContainerWait(ctx context.Context, container string, options client.ContainerWaitOptions) client.ContainerWaitResult
	ContainerStart(ctx context.Context, container string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerResize(ctx context.Context, container string, options client.ContainerResizeOptions) (client.ContainerResizeResult, error)
	ContainerStop(ctx context.Context, container string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerRemove(ctx context.Context, container string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	sidecarEngine
}

var _ engine = (*client.Client)(nil)

// maxNames bounds the -2, -3, ... suffixes tried when a name is taken.
const maxNames = 100

// cleanupTimeout bounds each call made after the run is over or cancelled
// (stop, remove), which must not be cut short by the cancelled context.
const cleanupTimeout = runner.CleanupTimeout

// Exec carries r out on the engine e: it checks the runtime, makes sure the
// image is present (pulling it when r allows), creates the container (under
// Request.Name, or Name-2, Name-3, ... when taken), attaches s to it, starts
// it, and returns the agent's exit code. With a terminal on s.In and a TTY
// request it puts the terminal in raw mode and passes its size and every
// resize on. When ctx is cancelled it stops the container and returns an
// error wrapping ctx's cause, with the container's exit code. The container
// is removed on every path.
func (r Rendered) Exec(ctx context.Context, e engine, s iostreams.Streams) (code int, err error) {
	if s.Out == nil {
		s.Out = io.Discard
	}
	if s.Err == nil {
		s.Err = io.Discard
	}
	if r.Request.Config == nil || r.Request.HostConfig == nil {
		return -1, errors.New("docker: empty request; build it with docker.Render")
	}
	if rt := r.Request.HostConfig.Runtime; rt != "" {
		if err := checkRuntime(ctx, e, rt, r.hostUDS); err != nil {
			return -1, err
		}
	}
	img, err := r.ensureImage(ctx, e, s)
	if err != nil {
		return -1, err
	}
	if ctx.Err() != nil {
		return -1, interrupted(ctx, "before the container was created")
	}
	if sc := r.Sidecar; sc != nil {
		if err := startSidecar(ctx, e, *sc); err != nil {
			return -1, err
		}
		defer func() {
			// A detached session keeps its sidecar: launch stop and
			// launch gc remove it with the session.
			if !r.Request.Detach || err != nil {
				err = errors.Join(err, removeSidecar(ctx, e, sc.Request.Name, sc.Volume))
			}
		}()
	}

	req := r.Request
	if len(r.p.PathPrepend) > 0 {
		if img == nil {
			res, err := e.ImageInspect(ctx, req.Config.Image)
			if err != nil {
				return -1, engineError(e, fmt.Sprintf("inspect image %q", req.Config.Image), err)
			}
			img = &res
		}
		req.Config = r.withImagePath(imagePath(*img))
	}
	if tty, ok := s.Terminal(); ok && req.Config.Tty {
		// The initial size goes in the create request too (API 1.42+), so
		// that the agent never sees 0x0; older engines ignore it and get the
		// resize after start.
		if w, h, ok := runner.Size(tty); ok {
			host := *req.HostConfig
			host.ConsoleSize = [2]uint{h, w}
			req.HostConfig = &host
		}
	}

	id, name, err := create(ctx, e, req)
	if err != nil {
		return -1, err
	}
	c := &session{e: e, id: id, name: name, tty: req.Config.Tty, autoRemove: req.HostConfig.AutoRemove}
	if req.Detach {
		return detach(ctx, c, s)
	}
	return runner.Run(ctx, c, s, req.Config.Tty)
}

// detach starts the created container c and prints its name on s.Out: the
// session runs on without launch. A container that fails to start is
// removed.
func detach(ctx context.Context, c *session, s iostreams.Streams) (int, error) {
	if err := c.Start(context.WithoutCancel(ctx)); err != nil {
		err = c.EngineError("start container "+c.name, err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		return -1, errors.Join(err, c.Remove(rctx))
	}
	_, err := fmt.Fprintln(s.Out, c.name)
	return 0, err
}

// checkRuntime checks that the engine has runtime rt, and, when the
// container must reach a host Unix socket (hostUDS) under runsc, that gVisor
// runs with --host-uds=open (its default refuses such connections).
func checkRuntime(ctx context.Context, e engine, rt string, hostUDS bool) error {
	info, err := e.Info(ctx, client.InfoOptions{})
	if err != nil {
		return engineError(e, "read the engine's runtimes", err)
	}
	if reg, ok := info.Info.Runtimes[rt]; ok {
		if hostUDS && rt == string(plan.RuntimeRunsc) && !allowsHostUDS(reg.Args) {
			return plan.Errorf(plan.ErrUnsupported,
				"runtime runsc with a network allowlist: gVisor at %s refuses connections to host Unix sockets, the way to launch's proxy (its arguments: %q); "+
					`register it with "runtimeArgs": ["--host-uds=open"] in /etc/docker/daemon.json ({"runtimes": {"runsc": {"path": "/usr/local/bin/runsc", "runtimeArgs": ["--host-uds=open"]}}}) and reload dockerd (kill -HUP), or use --network none or --runtime runc`,
				e.DaemonHost(), reg.Args)
		}
		return nil
	}
	have := sortedKeys(info.Info.Runtimes)
	return plan.Errorf(plan.ErrUnsupported,
		"runtime %q: not registered with the docker engine at %s (it has %s): install gVisor (https://gvisor.dev/docs/user_guide/install/), "+
			`add {"runtimes": {"runsc": {"path": "/usr/local/bin/runsc"}}} to /etc/docker/daemon.json and restart dockerd, or use --runtime runc; `+
			"runsc is not available on Docker Desktop for macOS",
		rt, e.DaemonHost(), strings.Join(have, ", "))
}

// allowsHostUDS reports whether runsc's arguments let the sandbox connect
// to host Unix sockets (--host-uds=open or =all).
func allowsHostUDS(args []string) bool {
	ok := false
	for i, a := range args {
		v, has := strings.CutPrefix(a, "--host-uds=")
		if !has && a == "--host-uds" && i+1 < len(args) {
			v, has = args[i+1], true
		}
		if has {
			ok = v == "open" || v == "all"
		}
	}
	return ok
}

// create creates the container, trying name, name-2, name-3, ... while the
// engine says the name is taken: two launches that race for a name both
// succeed, under different names. The call is not cut short by ctx: a
// container the engine created must have its ID returned so that it can be
// removed.
func create(ctx context.Context, e engine, req Request) (id, name string, err error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	for i := 1; ; i++ {
		name = naming.Numbered(req.Name, i)
		res, err := e.ContainerCreate(cctx, client.ContainerCreateOptions{
			Name:             name,
			Platform:         req.Platform,
			Config:           req.Config,
			HostConfig:       req.HostConfig,
			NetworkingConfig: req.NetworkingConfig,
		})
		if err == nil {
			if name == "" {
				name = shortID(res.ID)
			}
			return res.ID, name, nil
		}
		if req.Name != "" && cerrdefs.IsConflict(err) && i < maxNames {
			continue
		}
		what := "create container"
		if name != "" {
			what = fmt.Sprintf("create container %s", name)
		}
		if cerrdefs.IsConflict(err) {
			return "", "", fmt.Errorf("%s: names %s to %s are all taken; remove old containers (docker ps -a --filter label=%s)", what, req.Name, naming.Numbered(req.Name, maxNames), naming.LabelPlan)
		}
		if strings.Contains(err.Error(), "bind source path does not exist") {
			return "", "", fmt.Errorf("%s: %w; create it or fix the mount (--mount, --ro, or mounts = [...] in ~/.config/launch/config.toml or the project's .launch.toml)", what, trimEngineText(err))
		}
		return "", "", engineError(e, what, err)
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// session is one created container as internal/runner drives it.
type session struct {
	e        engine
	id, name string
	// tty: the container has a terminal, so its output is one raw stream;
	// without, stdout and stderr come multiplexed (stdcopy).
	tty bool
	// autoRemove: the engine removes the container when it exits.
	autoRemove bool
}

var _ runner.Container = (*session)(nil)

func (c *session) Name() string { return c.name }

func (c *session) Attach(ctx context.Context, in io.Reader, out, errw io.Writer) (runner.Attachment, error) {
	// Closing our half of the connection at EOF closes the container's
	// stdin (StdinOnce).
	return attachStreams(ctx, c.e, c.id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true}, c.tty, true, in, out, errw)
}

// attacher is the call attachStreams makes; engine and SessionEngine have
// it.
type attacher interface {
	ContainerAttach(ctx context.Context, container string, options client.ContainerAttachOptions) (client.ContainerAttachResult, error)
}

// attachStreams attaches to container id with opts and copies its output
// to out and errw until it ends (one raw stream with a terminal, tty;
// stdout and stderr demultiplexed without), and in to its stdin; with
// closeStdin, the end of in is passed on (CloseWrite). The copy of in may
// outlive the attachment while it blocks reading a terminal; the
// connection is closed by then.
func attachStreams(ctx context.Context, e attacher, id string, opts client.ContainerAttachOptions, tty, closeStdin bool, in io.Reader, out, errw io.Writer) (runner.Attachment, error) {
	att, err := e.ContainerAttach(ctx, id, opts)
	if err != nil {
		return runner.Attachment{}, err
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if tty {
			_, err = io.Copy(out, att.Reader)
		} else {
			_, err = stdcopy.StdCopy(out, errw, att.Reader)
		}
		done <- err
	}()
	go func() {
		if in != nil {
			_, _ = io.Copy(att.Conn, in)
		}
		if closeStdin {
			_ = att.CloseWrite()
		}
	}()
	return runner.Attachment{Done: done, Close: att.Close}, nil
}

// Wait waits for the next exit or, with AutoRemove, for the engine to have
// removed the container, as `docker run --rm` waits.
func (c *session) Wait(ctx context.Context) <-chan runner.Exit {
	cond := container.WaitConditionNextExit
	if c.autoRemove {
		cond = container.WaitConditionRemoved
	}
	w := c.e.ContainerWait(ctx, c.id, client.ContainerWaitOptions{Condition: cond})
	exits := make(chan runner.Exit, 1)
	go func() {
		select {
		case res := <-w.Result:
			x := runner.Exit{Code: int(res.StatusCode)}
			if res.Error != nil && res.Error.Message != "" {
				x.Err = errors.New(res.Error.Message)
			}
			exits <- x
		case err := <-w.Error:
			exits <- runner.Exit{Code: -1, Err: err}
		case <-ctx.Done():
		}
	}()
	return exits
}

func (c *session) Start(ctx context.Context) error {
	_, err := c.e.ContainerStart(ctx, c.id, client.ContainerStartOptions{})
	return err
}

func (c *session) Resize(ctx context.Context, width, height uint) error {
	_, err := c.e.ContainerResize(ctx, c.id, client.ContainerResizeOptions{Height: height, Width: width})
	return err
}

// Stop stops the container after its StopTimeout (Config.StopTimeout), or
// the engine's default.
func (c *session) Stop(ctx context.Context) error {
	_, err := c.e.ContainerStop(ctx, c.id, client.ContainerStopOptions{})
	return err
}

// Remove force-removes the container. A container the engine is already
// removing (AutoRemove) is waited for.
func (c *session) Remove(ctx context.Context) error {
	e, id, name := c.e, c.id, c.name
	_, err := e.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err):
		// "removal already in progress": the engine's AutoRemove won the race.
		w := e.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
		select {
		case <-w.Result:
			return nil
		case err := <-w.Error:
			if err == nil || cerrdefs.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("remove container %s: %w; remove it with `docker rm -f %s`", name, err, name)
		}
	}
	if client.IsErrConnectionFailed(err) {
		err = reworded(err, "cannot reach the engine at "+e.DaemonHost()+": "+pingError(err).Error())
	}
	return fmt.Errorf("remove container %s: %w; remove it with `docker rm -f %s`", name, trimEngineText(err), name)
}

func (c *session) EngineError(what string, err error) error { return engineError(c.e, what, err) }

// interrupted is the error of a run that ctx cancelled.
func interrupted(ctx context.Context, what string) error { return runner.Interrupted(ctx, what) }

// engineError adds what was being done and, for a connection failure, which
// engine was tried and what to do.
func engineError(e engine, what string, err error) error {
	if client.IsErrConnectionFailed(err) || isConnReset(err) {
		if client.IsErrConnectionFailed(err) {
			err = reworded(err, pingError(err).Error())
		}
		return fmt.Errorf("%s: lost the docker engine at %s: %w; is dockerd running? (check DOCKER_HOST and `docker context ls`) or try --backend podman", what, e.DaemonHost(), err)
	}
	return fmt.Errorf("%s: %w", what, trimEngineText(err))
}

func isConnReset(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe") ||
		strings.Contains(s, "connection refused") || errors.Is(err, io.ErrUnexpectedEOF)
}

// trimEngineText lower-cases the engine's "Error response from daemon: "
// prefix away, keeping the error's classification.
func trimEngineText(err error) error {
	msg := err.Error()
	for _, p := range []string{"Error response from daemon: ", "Error: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if msg == err.Error() {
		return err
	}
	return reworded(err, msg)
}

// reworded is err with the message msg: errors.Is and errors.As still see
// err and everything it wraps (the engine's classification).
func reworded(err error, msg string) error { return plan.Errorf(err, "%s", msg) }

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
