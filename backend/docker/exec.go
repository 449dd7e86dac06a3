package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/term"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
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
}

var _ engine = (*client.Client)(nil)

// maxNames bounds the -2, -3, ... suffixes tried when a name is taken.
const maxNames = 100

// cleanupTimeout bounds each call made after the run is over or cancelled
// (stop, remove), which must not be cut short by the cancelled context.
const cleanupTimeout = 60 * time.Second

// Exec carries r out on the engine e: it checks the runtime, makes sure the
// image is present (pulling it when r allows), creates the container (under
// Request.Name, or Name-2, Name-3, ... when taken), attaches s to it, starts
// it, and returns the agent's exit code. With a terminal on s.In and a TTY
// request it puts the terminal in raw mode and passes its size and every
// resize on. When ctx is cancelled it stops the container and returns an
// error wrapping ctx's cause, with the container's exit code. The container
// is removed on every path.
func (r Rendered) Exec(ctx context.Context, e engine, s iostreams.Streams) (int, error) {
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
		if err := checkRuntime(ctx, e, rt); err != nil {
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
	tty, hasTTY := s.Terminal()
	hasTTY = hasTTY && req.Config.Tty
	if hasTTY {
		// The initial size goes in the create request too (API 1.42+), so
		// that the agent never sees 0x0; older engines ignore it and get the
		// resize after start.
		if w, h, err := term.GetSize(int(tty.Fd())); err == nil {
			host := *req.HostConfig
			host.ConsoleSize = [2]uint{uint(h), uint(w)}
			req.HostConfig = &host
		}
	}

	id, name, err := create(ctx, e, req)
	if err != nil {
		return -1, err
	}
	code, err := r.run(ctx, e, s, id, name, tty, hasTTY)
	if rmErr := remove(e, id, name); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	return code, err
}

func checkRuntime(ctx context.Context, e engine, rt string) error {
	info, err := e.Info(ctx, client.InfoOptions{})
	if err != nil {
		return engineError(e, "read the engine's runtimes", err)
	}
	if _, ok := info.Info.Runtimes[rt]; ok {
		return nil
	}
	have := sortedKeys(info.Info.Runtimes)
	return plan.Errorf(plan.ErrUnsupported,
		"runtime %q: not registered with the docker engine at %s (it has %s): install gVisor (https://gvisor.dev/docs/user_guide/install/), "+
			`add {"runtimes": {"runsc": {"path": "/usr/local/bin/runsc"}}} to /etc/docker/daemon.json and restart dockerd, or use --runtime runc; `+
			"runsc is not available on Docker Desktop for macOS",
		rt, e.DaemonHost(), strings.Join(have, ", "))
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
			return "", "", fmt.Errorf("%s: %w; create it or fix the mount (--mount, --ro, [mounts] in launch.toml)", what, trimEngineText(err))
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

// run attaches to the created container, starts it and waits for it.
func (r Rendered) run(ctx context.Context, e engine, s iostreams.Streams, id, name string, tty *os.File, hasTTY bool) (int, error) {
	bg := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		return -1, interrupted(ctx, "before container "+name+" started")
	}
	att, err := e.ContainerAttach(bg, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return -1, engineError(e, "attach to container "+name, err)
	}
	defer att.Close()

	// The wait is registered before the start, so that a quick exit is not
	// missed; with AutoRemove it ends once the engine has removed the
	// container, as `docker run --rm` waits.
	waitCtx, stopWaiting := context.WithCancel(bg)
	defer stopWaiting()
	cond := container.WaitConditionNextExit
	if r.Request.HostConfig.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	wait := e.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: cond})

	if hasTTY {
		old, err := term.MakeRaw(int(tty.Fd()))
		if err != nil {
			return -1, fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		defer term.Restore(int(tty.Fd()), old)
	}

	outDone := make(chan error, 1)
	go func() {
		var err error
		if r.Request.Config.Tty {
			_, err = io.Copy(s.Out, att.Reader)
		} else {
			_, err = stdcopy.StdCopy(s.Out, s.Err, att.Reader)
		}
		outDone <- err
	}()
	go func() {
		// Closing our half of the connection at EOF closes the container's
		// stdin (StdinOnce). This goroutine may outlive Exec while it blocks
		// reading a terminal; the connection is closed by then.
		if s.In != nil {
			_, _ = io.Copy(att.Conn, s.In)
		}
		_ = att.CloseWrite()
	}()

	if _, err := e.ContainerStart(bg, id, client.ContainerStartOptions{}); err != nil {
		return -1, engineError(e, "start container "+name, err)
	}
	if hasTTY {
		resize := func() {
			w, h, err := term.GetSize(int(tty.Fd()))
			if err != nil {
				return
			}
			_, _ = e.ContainerResize(bg, id, client.ContainerResizeOptions{Height: uint(h), Width: uint(w)})
		}
		resize()
		stop := onResize(resize)
		defer stop()
	}

	var cancelled bool
	select {
	case err = <-outDone:
	case <-ctx.Done():
		cancelled = true
		sctx, cancel := context.WithTimeout(bg, cleanupTimeout)
		// nil timeout: the container's StopTimeout (Config.StopTimeout), or
		// the engine's default.
		_, _ = e.ContainerStop(sctx, id, client.ContainerStopOptions{})
		cancel()
		select {
		case err = <-outDone:
		case <-time.After(cleanupTimeout):
		}
	}
	if err != nil && !cancelled {
		return -1, engineError(e, "read the output of container "+name, err)
	}

	code, werr := waitExit(wait)
	if cancelled {
		return code, interrupted(ctx, "container "+name+" stopped")
	}
	if werr != nil {
		return -1, engineError(e, "wait for container "+name, werr)
	}
	return code, nil
}

// waitExit reads the exit status from a wait started before the container.
func waitExit(w client.ContainerWaitResult) (int, error) {
	select {
	case res := <-w.Result:
		if res.Error != nil && res.Error.Message != "" {
			return int(res.StatusCode), errors.New(res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-w.Error:
		return -1, err
	case <-time.After(cleanupTimeout):
		return -1, errors.New("no exit status within a minute of the output's end")
	}
}

// remove force-removes the container with a context of its own, so that it
// runs after a cancellation too. A container the engine is already removing
// (AutoRemove) is waited for.
func remove(e engine, id, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
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

// interrupted is the error of a run that ctx cancelled.
func interrupted(ctx context.Context, what string) error {
	return fmt.Errorf("interrupted (%s): %w", what, context.Cause(ctx))
}

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
