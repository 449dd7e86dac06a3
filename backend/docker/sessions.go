package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/runner"
	sess "github.com/launchcli/launch/session"
)

// SessionEngine is the part of the Engine API that the session commands
// (launch ps, attach, stop, logs, gc) use. *client.Client satisfies it.
type SessionEngine interface {
	DaemonHost() string
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerAttach(ctx context.Context, container string, options client.ContainerAttachOptions) (client.ContainerAttachResult, error)
	ContainerResize(ctx context.Context, container string, options client.ContainerResizeOptions) (client.ContainerResizeResult, error)
	ContainerStop(ctx context.Context, container string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerRemove(ctx context.Context, container string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	ContainerLogs(ctx context.Context, container string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageRemove(ctx context.Context, image string, options client.ImageRemoveOptions) (client.ImageRemoveResult, error)
	VolumeRemove(ctx context.Context, volumeID string, options client.VolumeRemoveOptions) (client.VolumeRemoveResult, error)
	VolumeList(ctx context.Context, options client.VolumeListOptions) (client.VolumeListResult, error)
}

var _ SessionEngine = (*client.Client)(nil)

// exitedRE reads the exit code from a listed container's status text
// ("Exited (137) 2 minutes ago").
var exitedRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^Exited \((-?\d+)\)`) })

// Sessions lists the sessions of the user uid on the engine e: the
// containers that carry launch's labels and uid's. Without all, only those
// that are running (or created and not yet started).
func Sessions(ctx context.Context, e SessionEngine, uid int, all bool) ([]sess.Info, error) {
	f := make(client.Filters).Add("label", naming.LabelPlan, naming.LabelUser+"="+strconv.Itoa(uid))
	res, err := e.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, sessionError(e, "list containers", err)
	}
	var out []sess.Info
	for _, c := range res.Items {
		if !sess.Mine(c.Labels, uid) {
			continue
		}
		i := sess.FromLabels(c.Labels)
		i.ID, i.Backend, i.Endpoint = c.ID, "docker", e.DaemonHost()
		if len(c.Names) > 0 {
			i.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		i.Status = sess.Status(c.State)
		if m := exitedRE().FindStringSubmatch(c.Status); m != nil {
			n, _ := strconv.Atoi(m[1])
			i.ExitCode = &n
		}
		if i.Network == "" {
			i.Network = c.HostConfig.NetworkMode
		}
		if !all && i.Status.Ended() {
			continue
		}
		out = append(out, i)
	}
	sess.Sort(out)
	return out, nil
}

// ContainerSizes are the sizes of the writable layers of uid's session
// containers, by ID: what removing each frees (the image stays). Docker
// computes them on request, so only launch gc asks.
func ContainerSizes(ctx context.Context, e SessionEngine, uid int) (map[string]int64, error) {
	f := make(client.Filters).Add("label", naming.LabelPlan, naming.LabelUser+"="+strconv.Itoa(uid))
	res, err := e.ContainerList(ctx, client.ContainerListOptions{All: true, Size: true, Filters: f})
	if err != nil {
		return nil, sessionError(e, "list container sizes", err)
	}
	out := map[string]int64{}
	for _, c := range res.Items {
		out[c.ID] = c.SizeRw
	}
	return out, nil
}

// Stop ends the session s: SIGTERM to the container's init, which passes
// it on to the agent, then SIGKILL after the container's stop timeout; then
// the container is removed.
func Stop(ctx context.Context, e SessionEngine, s sess.Info) error {
	if _, err := e.ContainerStop(ctx, s.ID, client.ContainerStopOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return sessionError(e, "stop container "+s.Name, err)
	}
	return Remove(ctx, e, s)
}

// Remove removes the session's container, forcefully, and then its proxy
// sidecar and the sidecar's volume if it has them. A conflict (the
// engine is still starting it, or already removing it for a launch that was
// killed half-way) is asked again for a few seconds, until it is gone.
func Remove(ctx context.Context, e SessionEngine, s sess.Info) error {
	err := removeContainer(ctx, e, s)
	if s.Sidecar != "" || s.SidecarVolume != "" {
		err = errors.Join(err, removeSidecar(ctx, e, s.Sidecar, s.SidecarVolume))
	}
	return err
}

func removeContainer(ctx context.Context, e SessionEngine, s sess.Info) error {
	for try := 0; ; try++ {
		_, err := e.ContainerRemove(ctx, s.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		switch {
		case err == nil || cerrdefs.IsNotFound(err):
			return nil
		case cerrdefs.IsConflict(err) && try < 20:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(250 * time.Millisecond):
			}
			continue
		case cerrdefs.IsConflict(err):
			return nil // the engine's own removal is under way
		}
		return fmt.Errorf("%w; remove it with `docker rm -f %s`", sessionError(e, "remove container "+s.Name, err), s.Name)
	}
}

// Logs writes the session's output so far to out and errw (one stream, out,
// when it has a terminal) and, with follow, what follows until it ends or
// ctx is cancelled.
func Logs(ctx context.Context, e SessionEngine, s sess.Info, follow bool, out, errw io.Writer) error {
	in, err := e.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
	if err != nil {
		return sessionError(e, "inspect container "+s.Name, err)
	}
	rc, err := e.ContainerLogs(ctx, s.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow})
	if err != nil {
		return sessionError(e, "read the logs of container "+s.Name, err)
	}
	defer rc.Close()
	if in.Container.Config != nil && in.Container.Config.Tty {
		_, err = io.Copy(out, rc)
	} else {
		_, err = stdcopy.StdCopy(out, errw, rc)
	}
	if err != nil && ctx.Err() == nil {
		return sessionError(e, "read the logs of container "+s.Name, err)
	}
	return nil
}

// Attach connects the streams st to the running session s (launch attach):
// raw mode, size and resizes with a terminal. It returns when the engine
// sees detachKeys (the session runs on), when the session ends, or when
// ctx is cancelled (a detach too). ended reports whether the session is
// over, with its exit code.
func Attach(ctx context.Context, e SessionEngine, s sess.Info, st iostreams.Streams, detachKeys string) (ended bool, code int, err error) {
	in, err := e.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
	if err != nil {
		return false, 0, sessionError(e, "inspect container "+s.Name, err)
	}
	if in.Container.State == nil || !in.Container.State.Running {
		return true, exitCodeOf(in), nil
	}
	tty := in.Container.Config != nil && in.Container.Config.Tty
	c := &attached{e: e, id: s.ID, name: s.Name, tty: tty, keys: detachKeys}
	keys, err := sess.DetachKeyBytes(detachKeys)
	if err != nil {
		return false, 0, err
	}
	if err := runner.Reattach(ctx, c, st, tty, keys); err != nil {
		return false, 0, err
	}
	in, err = e.ContainerInspect(context.WithoutCancel(ctx), s.ID, client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return true, -1, nil
		}
		return false, 0, sessionError(e, "inspect container "+s.Name, err)
	}
	if in.Container.State != nil && in.Container.State.Running {
		return false, 0, nil
	}
	return true, exitCodeOf(in), nil
}

func exitCodeOf(in client.ContainerInspectResult) int {
	if in.Container.State == nil {
		return -1
	}
	return in.Container.State.ExitCode
}

// attached is a running session as runner.Reattach drives it.
type attached struct {
	e        SessionEngine
	id, name string
	tty      bool
	keys     string
}

var _ runner.Running = (*attached)(nil)

func (c *attached) Name() string { return c.name }

func (c *attached) Attach(ctx context.Context, in io.Reader, out, errw io.Writer) (runner.Attachment, error) {
	// Empty keys are the engine's default (ctrl-p,ctrl-q): dockerd has no
	// way to turn detaching off. The end of in is not passed on: the
	// session keeps its stdin for the next attach.
	opts := client.ContainerAttachOptions{Stream: true, Stdin: in != nil, Stdout: true, Stderr: true, DetachKeys: c.keys}
	return attachStreams(ctx, c.e, c.id, opts, c.tty, false, in, out, errw)
}

func (c *attached) Resize(ctx context.Context, width, height uint) error {
	_, err := c.e.ContainerResize(ctx, c.id, client.ContainerResizeOptions{Height: height, Width: width})
	return err
}

func (c *attached) EngineError(what string, err error) error { return sessionError(c.e, what, err) }

// sessionError adds what was being done, and for an unreachable engine
// which one.
func sessionError(e SessionEngine, what string, err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%s: cannot reach the docker engine at %s: %w", what, e.DaemonHost(), err)
	}
	return fmt.Errorf("%s: %w", what, trimEngineText(err))
}

// ImageOf returns the ID, size and names (tags) of the image ref names on
// e; an empty ID when ref names none.
func ImageOf(ctx context.Context, e SessionEngine, ref string) (id string, size int64, names []string, err error) {
	res, err := e.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return "", 0, nil, nil
	}
	if err != nil {
		return "", 0, nil, sessionError(e, fmt.Sprintf("inspect image %q", ref), err)
	}
	return res.ID, res.Size, res.RepoTags, nil
}

// ImagesInUse returns the IDs of the images that containers on e use:
// every container, ended ones and other users' included.
func ImagesInUse(ctx context.Context, e SessionEngine) (map[string]bool, error) {
	res, err := e.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, sessionError(e, "list containers", err)
	}
	out := map[string]bool{}
	for _, c := range res.Items {
		out[c.ImageID] = true
	}
	return out, nil
}

// RemoveImage removes the reference ref from e, not forcefully: the image
// goes with it when ref was its last reference, and stays under its other
// names (a tag of the user's) otherwise.
func RemoveImage(ctx context.Context, e SessionEngine, ref string) error {
	_, err := e.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return sessionError(e, fmt.Sprintf("remove image %q", ref), err)
	}
	return nil
}
