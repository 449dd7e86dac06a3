package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
	sess "github.com/launchcli/launch/session"
)

// Sidecar is an allowlist enforced by a proxy container (plan.Sidecar): the
// volume Exec creates first (a private tmpfs), and the proxy container it
// starts before the agent's, on the engine's default network, listening on
// a Unix socket in that volume. Both are removed after the agent's
// container (a detached session's by launch stop or launch gc).
type Sidecar struct {
	// Volume is the volume's name; VolumeOptions its local driver's
	// options, VolumeLabels its labels.
	Volume        string            `json:"Volume"`
	VolumeOptions map[string]string `json:"VolumeOptions"`
	VolumeLabels  map[string]string `json:"VolumeLabels"`
	// Request creates the proxy container, started detached (docker run -d).
	Request Request `json:"Request"`
	// Inherited lists the names in Request.Config.Env whose values come
	// from the host (the corporate proxy variable).
	Inherited []string `json:"Inherited,omitempty"`
}

// sidecarReady is what launch proxy prints on stderr once it accepts
// connections.
const sidecarReady = "launch proxy: listening on "

// volumeOptions make the socket's volume a tmpfs that any uid may write
// (sticky, as /tmp): the proxy runs as the agent's user, which the engine
// may map (keep-id, Docker Desktop), and the socket it makes is that
// user's. Only the agent and the sidecar mount it.
var volumeOptions = map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "mode=1777"}

// renderSidecar is the proxy container of x for the policy n: the agent's
// image (present by then) with the launch binary as entrypoint, the agent's
// user, no capabilities, a read-only root, the socket's volume and the
// session log's directory mounted.
func renderSidecar(p plan.Plan, n plan.Network, x plan.Sidecar, user string, pull plan.PullPolicy, run map[string]string) *Sidecar {
	labels := naming.SidecarLabels(x.Name, x.Volume, run)
	var env, inherited []string
	if u := x.Upstream; u != nil {
		env = []string{u.Name + "=" + u.Value}
		if u.FromHost {
			inherited = []string{u.Name}
		}
	}
	argv := x.Argv(n)
	cfg := &container.Config{
		User:       user,
		Env:        env,
		Entrypoint: argv[:1],
		Cmd:        argv[1:],
		Image:      p.Image.OCI,
		Labels:     labels,
	}
	host := &container.HostConfig{
		Init:           ptrTo(true),
		NetworkMode:    "default",
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: x.Volume, Target: plan.ProxyDir},
			{Type: mount.TypeBind, Source: x.Binary, Target: plan.ProxyBinary, ReadOnly: true},
			{Type: mount.TypeBind, Source: filepath.Dir(x.Log), Target: plan.SidecarLogDir},
		},
	}
	req := Request{
		Name: x.Name,
		// The agent's image and pull policy: the printed snippet runs the
		// sidecar first (a real run's Exec has pulled the image by then).
		Pull:             pull,
		Detach:           true,
		Config:           cfg,
		HostConfig:       host,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}},
	}
	return &Sidecar{Volume: x.Volume, VolumeOptions: volumeOptions, VolumeLabels: labels, Request: req, Inherited: inherited}
}

// sidecarSnippet wraps the agent's command line in what creates the volume
// and the sidecar before it and removes them after it (on every exit of the
// subshell; a detached run keeps them once its container runs).
func (r Rendered) sidecarSnippet(term []string, run string) string {
	sc := r.Sidecar
	lines := shell.Sidecar{
		CLI: "docker", Volume: sc.Volume, VolumeOptions: sc.VolumeOptions, VolumeLabels: sc.VolumeLabels,
		Name: sc.Request.Name, Run: Command("run", sc.Request, sc.Inherited), Ready: sidecarReady,
	}.Wrap(term, shell.Prepare(r.Prepare), run, r.Request.Detach)
	return strings.Join(lines, "\n") + "\n"
}

// sidecarEngine is what the sidecar needs of the engine besides engine.
type sidecarEngine interface {
	VolumeInspect(ctx context.Context, volumeID string, options client.VolumeInspectOptions) (client.VolumeInspectResult, error)
	VolumeCreate(ctx context.Context, options client.VolumeCreateOptions) (client.VolumeCreateResult, error)
	VolumeRemove(ctx context.Context, volumeID string, options client.VolumeRemoveOptions) (client.VolumeRemoveResult, error)
	ContainerLogs(ctx context.Context, container string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
}

// startSidecar creates the volume and the proxy container, starts it and
// waits until the proxy listens. On failure it removes what it created,
// and only that: a volume or container of that name that was there before
// (a detached session of an earlier launch with the same pid) is left
// alone. The calls are not cut short by ctx (a created thing must be known
// to be removed); a cancelled ctx stops the wait.
func startSidecar(ctx context.Context, e engine, sc Sidecar) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	// docker volume create succeeds on an existing volume: ask first.
	if _, err := e.VolumeInspect(cctx, sc.Volume, client.VolumeInspectOptions{}); err == nil {
		return fmt.Errorf("create volume %s: it exists; a session of an earlier launch with this pid may use it: see launch ps, or remove it with launch gc or `docker volume rm %s`", sc.Volume, sc.Volume)
	} else if !cerrdefs.IsNotFound(err) {
		return engineError(e, "inspect volume "+sc.Volume, err)
	}
	if _, err := e.VolumeCreate(cctx, client.VolumeCreateOptions{Name: sc.Volume, Driver: "local", DriverOpts: sc.VolumeOptions, Labels: sc.VolumeLabels}); err != nil {
		return engineError(e, "create volume "+sc.Volume, err)
	}
	res, err := e.ContainerCreate(cctx, client.ContainerCreateOptions{
		Name: sc.Request.Name, Platform: sc.Request.Platform, Config: sc.Request.Config,
		HostConfig: sc.Request.HostConfig, NetworkingConfig: sc.Request.NetworkingConfig,
	})
	if err != nil {
		if cerrdefs.IsConflict(err) {
			err = fmt.Errorf("create the network proxy container %s: %w; a session of an earlier launch with this pid may use it: see launch ps, or remove it with launch gc or `docker rm -f %s`", sc.Request.Name, trimEngineText(err), sc.Request.Name)
		} else {
			err = engineError(e, "create the network proxy container "+sc.Request.Name, err)
		}
		return errors.Join(err, removeSidecar(ctx, e, "", sc.Volume))
	}
	fail := func(err error) error {
		return errors.Join(err, removeSidecar(ctx, e, res.ID, sc.Volume))
	}
	if _, err := e.ContainerStart(cctx, res.ID, client.ContainerStartOptions{}); err != nil {
		return fail(engineError(e, "start the network proxy container "+sc.Request.Name, err))
	}
	if err := waitReady(ctx, e, res.ID); err != nil {
		return fail(fmt.Errorf("network proxy container %s: %w", sc.Request.Name, err))
	}
	return nil
}

// waitReady polls the sidecar's output until the proxy says it listens,
// for up to 15 s.
func waitReady(ctx context.Context, e engine, id string) error {
	var last []byte
	for try := 0; try < 150; try++ {
		rc, err := e.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			return fmt.Errorf("read its output: %w", trimEngineText(err))
		}
		var out bytes.Buffer
		_, _ = stdcopy.StdCopy(&out, &out, io.LimitReader(rc, 1<<16))
		rc.Close()
		if last = out.Bytes(); bytes.Contains(last, []byte(sidecarReady)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the proxy did not start within 15 s; its output: %q (is the launch binary a static Linux build for the engine's architecture?)", strings.TrimSpace(string(last)))
}

// sidecarRemover is what removing a sidecar needs of the engine.
type sidecarRemover interface {
	DaemonHost() string
	ContainerRemove(ctx context.Context, container string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	VolumeRemove(ctx context.Context, volumeID string, options client.VolumeRemoveOptions) (client.VolumeRemoveResult, error)
}

// removeSidecar force-removes the proxy container and then its volume;
// either may be gone already.
func removeSidecar(ctx context.Context, e sidecarRemover, name, vol string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var errs []error
	if name != "" {
		if _, err := e.ContainerRemove(rctx, name, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove the network proxy container %s: %w; remove it with `docker rm -f %s`", name, trimEngineText(err), name))
		}
	}
	if vol != "" {
		// The agent's container may still be going (AutoRemove): the
		// volume is in use until it is gone.
		for try := 0; ; try++ {
			_, err := e.VolumeRemove(rctx, vol, client.VolumeRemoveOptions{Force: true})
			if err == nil || cerrdefs.IsNotFound(err) {
				break
			}
			if try < 40 && rctx.Err() == nil {
				time.Sleep(250 * time.Millisecond)
				continue
			}
			errs = append(errs, fmt.Errorf("remove volume %s: %w; remove it with `docker volume rm %s`", vol, trimEngineText(err), vol))
			break
		}
	}
	return errors.Join(errs...)
}

// Sidecars lists the proxy sidecars and sidecar volumes of the user uid
// that no session's container names: what a launch killed between creating
// them and creating its agent's container leaves behind. Each is a
// sess.Info whose Sidecar and SidecarVolume name what to remove (one of
// them may be empty), with the PID and start time of the launch that made
// it.
func Sidecars(ctx context.Context, e SessionEngine, uid int) ([]sess.Info, error) {
	user := naming.LabelUser + "=" + strconv.Itoa(uid)
	cs, err := e.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", naming.LabelSidecar, user)})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", trimEngineText(err))
	}
	vs, err := e.VolumeList(ctx, client.VolumeListOptions{Filters: make(client.Filters).Add("label", naming.LabelSidecar, user)})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", trimEngineText(err))
	}
	var labels []map[string]string
	for _, c := range cs.Items {
		labels = append(labels, c.Labels)
	}
	var vols []sess.Volume
	for _, v := range vs.Items {
		vols = append(vols, sess.Volume{Name: v.Name, Labels: v.Labels})
	}
	return sess.LeftSidecars("docker", e.DaemonHost(), uid, labels, vols), nil
}

// RemoveSidecar removes a leftover that Sidecars listed.
func RemoveSidecar(ctx context.Context, e SessionEngine, s sess.Info) error {
	return removeSidecar(ctx, e, s.Sidecar, s.SidecarVolume)
}
