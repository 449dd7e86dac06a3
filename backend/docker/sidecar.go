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

// Sidecar is an allowlist enforced by a proxy container (plan.Sidecar):
// the internal network Exec creates first, and the proxy container it
// creates on the engine's default network, connects to the internal one and
// starts before the agent's; both are removed after the agent's container
// (a detached session's by launch stop or launch gc).
type Sidecar struct {
	// Network is the internal network's name; NetworkLabels its labels.
	Network       string            `json:"Network"`
	NetworkLabels map[string]string `json:"NetworkLabels"`
	// Request creates the proxy container (docker create).
	Request Request `json:"Request"`
	// Inherited lists the names in Request.Config.Env whose values come
	// from the host (the corporate proxy variable).
	Inherited []string `json:"Inherited,omitempty"`
}

// sidecarReady is what launch proxy --listen prints on stderr once it
// accepts connections.
const sidecarReady = "launch proxy: listening on "

// renderSidecar is the proxy container of x: the agent's image (present
// by then) with the launch binary as entrypoint, the caller's uid, no
// capabilities, a read-only root, and the session log's directory mounted.
func renderSidecar(p plan.Plan, x plan.Sidecar, run map[string]string) *Sidecar {
	labels := naming.SidecarLabels(x.Name, x.Network, run)
	var env, inherited []string
	if u := x.Upstream; u != nil {
		env = []string{u.Name + "=" + u.Value}
		if u.FromHost {
			inherited = []string{u.Name}
		}
	}
	argv := x.Argv(p.Network)
	cfg := &container.Config{
		User:       fmt.Sprintf("%d:%d", p.Caller.UID, p.Caller.GID),
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
			{Type: mount.TypeBind, Source: x.Binary, Target: plan.ProxyBinary, ReadOnly: true},
			{Type: mount.TypeBind, Source: filepath.Dir(x.Log), Target: plan.SidecarLogDir},
		},
	}
	req := Request{
		Name: x.Name,
		// The agent's image, which Exec has made present already.
		Pull:             plan.PullNever,
		Config:           cfg,
		HostConfig:       host,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}},
	}
	return &Sidecar{Network: x.Network, NetworkLabels: labels, Request: req, Inherited: inherited}
}

// sidecarSnippet wraps the agent's command line in what creates the
// network and the sidecar before it and removes them after it (on every
// exit of the subshell; a detached run keeps them once its container runs).
func (r Rendered) sidecarSnippet(run string) string {
	sc := r.Sidecar
	net, name := sc.Network, sc.Request.Name
	create := []string{"docker", "network", "create", "--internal"}
	for _, k := range sortedKeys(sc.NetworkLabels) {
		create = append(create, "--label", k+"="+sc.NetworkLabels[k])
	}
	create = append(create, net)
	cleanup := "docker rm -f " + shell.Quote(name) + " >/dev/null 2>&1; docker network rm " + shell.Quote(net) + " >/dev/null 2>&1"
	ready := "i=0; until docker logs " + shell.Quote(name) + " 2>&1 | grep -q " + shell.Quote(sidecarReady) +
		"; do i=$((i+1)); if [ $i -ge 100 ]; then docker logs " + shell.Quote(name) + "; exit 125; fi; sleep 0.1; done"
	lines := []string{"("}
	lines = append(lines, shell.Prepare(r.Prepare)...)
	lines = append(lines,
		shell.Join(create)+" >/dev/null || exit 125",
		"trap "+shell.Quote(cleanup)+" EXIT",
		"trap : HUP INT TERM",
		shell.Join(Command("create", sc.Request, sc.Inherited))+" >/dev/null || exit 125",
		shell.Join([]string{"docker", "network", "connect", net, name})+" || exit 125",
		shell.Join([]string{"docker", "start", name})+" >/dev/null || exit 125",
		ready,
	)
	if r.Request.Detach {
		// The session outlives this shell: keep its sidecar.
		run += " && trap - EXIT"
	}
	lines = append(lines, run, ")")
	return strings.Join(lines, "\n") + "\n"
}

// sidecarEngine is what the sidecar needs of the engine besides engine.
type sidecarEngine interface {
	NetworkCreate(ctx context.Context, name string, options client.NetworkCreateOptions) (client.NetworkCreateResult, error)
	NetworkConnect(ctx context.Context, networkID string, options client.NetworkConnectOptions) (client.NetworkConnectResult, error)
	NetworkRemove(ctx context.Context, networkID string, options client.NetworkRemoveOptions) (client.NetworkRemoveResult, error)
	ContainerLogs(ctx context.Context, container string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
}

// startSidecar creates the internal network and the proxy container,
// connects it, starts it and waits until the proxy listens. On failure it
// removes what it created. The calls are not cut short by ctx (a created
// thing must be known to be removed); a cancelled ctx stops the wait.
func startSidecar(ctx context.Context, e engine, sc Sidecar) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if _, err := e.NetworkCreate(cctx, sc.Network, client.NetworkCreateOptions{Driver: "bridge", Internal: true, Labels: sc.NetworkLabels}); err != nil {
		if cerrdefs.IsConflict(err) {
			return fmt.Errorf("create network %s: %w; a launch with this pid left it: remove it with launch gc or `docker network rm %s`", sc.Network, trimEngineText(err), sc.Network)
		}
		return engineError(e, "create network "+sc.Network, err)
	}
	fail := func(err error) error {
		return errors.Join(err, removeSidecar(ctx, e, sc.Request.Name, sc.Network))
	}
	res, err := e.ContainerCreate(cctx, client.ContainerCreateOptions{
		Name: sc.Request.Name, Platform: sc.Request.Platform, Config: sc.Request.Config,
		HostConfig: sc.Request.HostConfig, NetworkingConfig: sc.Request.NetworkingConfig,
	})
	if err != nil {
		return fail(engineError(e, "create the network proxy container "+sc.Request.Name, err))
	}
	if _, err := e.NetworkConnect(cctx, sc.Network, client.NetworkConnectOptions{Container: res.ID}); err != nil {
		return fail(engineError(e, "connect "+sc.Request.Name+" to network "+sc.Network, err))
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

// removeSidecar force-removes the proxy container and then its network;
// either may be gone already.
func removeSidecar(ctx context.Context, e interface {
	DaemonHost() string
	ContainerRemove(ctx context.Context, container string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	NetworkRemove(ctx context.Context, networkID string, options client.NetworkRemoveOptions) (client.NetworkRemoveResult, error)
}, name, net string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var errs []error
	if name != "" {
		if _, err := e.ContainerRemove(rctx, name, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove the network proxy container %s: %w; remove it with `docker rm -f %s`", name, trimEngineText(err), name))
		}
	}
	if net != "" {
		// The agent's container may still be leaving the network (AutoRemove).
		for try := 0; ; try++ {
			_, err := e.NetworkRemove(rctx, net, client.NetworkRemoveOptions{})
			if err == nil || cerrdefs.IsNotFound(err) {
				break
			}
			if try < 40 && rctx.Err() == nil {
				time.Sleep(250 * time.Millisecond)
				continue
			}
			errs = append(errs, fmt.Errorf("remove network %s: %w; remove it with `docker network rm %s`", net, trimEngineText(err), net))
			break
		}
	}
	return errors.Join(errs...)
}

// Sidecars lists the proxy sidecars and sidecar networks of the user uid
// that no session's container names: what a launch killed between
// creating them and creating its agent's container leaves behind. Each is
// a sess.Info whose Sidecar and SidecarNetwork name what to remove (one of
// them may be empty), with the PID and start time of the launch that made
// it.
func Sidecars(ctx context.Context, e interface {
	DaemonHost() string
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	NetworkList(ctx context.Context, options client.NetworkListOptions) (client.NetworkListResult, error)
}, uid int) ([]sess.Info, error) {
	user := naming.LabelUser + "=" + strconv.Itoa(uid)
	cs, err := e.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", naming.LabelSidecar, user)})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", trimEngineText(err))
	}
	ns, err := e.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", naming.LabelSidecar, user)})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", trimEngineText(err))
	}
	used := map[string]bool{} // the sidecars and networks sessions name
	for _, c := range cs.Items {
		if _, agent := c.Labels[naming.LabelPlan]; agent {
			used[c.Labels[naming.LabelSidecar]] = true
			used[c.Labels[naming.LabelSidecarNetwork]] = true
		}
	}
	var out []sess.Info
	left := func(labels map[string]string, container, network string) {
		i := sess.FromLabels(labels)
		i.Backend, i.Endpoint, i.Name, i.Sidecar, i.SidecarNetwork = "docker", e.DaemonHost(), container, container, network
		if i.Name == "" {
			i.Name = network
		}
		out = append(out, i)
	}
	for _, c := range cs.Items {
		name := c.Labels[naming.LabelSidecar]
		if _, agent := c.Labels[naming.LabelPlan]; agent || used[name] {
			continue
		}
		used[c.Labels[naming.LabelSidecarNetwork]] = true // removed with it
		left(c.Labels, name, c.Labels[naming.LabelSidecarNetwork])
	}
	for _, n := range ns.Items {
		if !used[n.Name] {
			left(n.Labels, "", n.Name)
		}
	}
	return out, nil
}

// RemoveSidecar removes a leftover that Sidecars listed.
func RemoveSidecar(ctx context.Context, e sessionEngine, s sess.Info) error {
	return removeSidecar(ctx, e, s.Sidecar, s.SidecarNetwork)
}
