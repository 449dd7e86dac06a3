package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/podman/v6/pkg/specgen"

	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/runner"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
	sess "github.com/launchcli/launch/session"
)

// Sidecar is an allowlist enforced by a proxy container (plan.Sidecar): the
// volume Exec creates first (a private tmpfs), and the proxy container it
// starts before the agent's, on the service's default network, listening
// on a Unix socket in that volume. Both are removed after the agent's
// container (a detached session's by launch stop).
type Sidecar struct {
	// Volume is the volume's name; VolumeOptions its local driver's
	// options, VolumeLabels its labels.
	Volume        string
	VolumeOptions map[string]string
	VolumeLabels  map[string]string
	// Spec creates the proxy container, started detached (podman run -d).
	Spec *specgen.SpecGenerator
	// Pull is the printed command's pull policy, the agent's.
	Pull plan.PullPolicy
	// Argv is the `podman run -d` command of Spec.
	Argv []string
}

// sidecarReady is what launch proxy prints on stderr once it accepts
// connections.
const sidecarReady = "launch proxy: listening on "

// volumeOptions make the socket's volume a tmpfs that any uid may write
// (sticky, as /tmp): the proxy runs as the agent's user in the agent's
// user namespace, and the socket it makes is that user's. Only the agent
// and the sidecar mount it.
var volumeOptions = map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "mode=1777"}

// renderSidecar is the proxy container of x for the policy n: the agent's
// image with the launch binary as entrypoint, the agent's user namespace
// and user, no capabilities, a read-only root, the socket's volume and the
// session log's directory mounted.
func renderSidecar(p plan.Plan, n plan.Network, x plan.Sidecar, agent *specgen.SpecGenerator, pull plan.PullPolicy, c Config, note func(string, ...any)) (*Sidecar, error) {
	argv := x.Argv(n)
	s := specgen.NewSpecGenerator(p.Image.OCI, false)
	s.RawImageName = p.Image.OCI
	s.Name = x.Name
	s.Remove, s.Stdin, s.Terminal, s.HTTPProxy = ptr(false), ptr(false), ptr(false), ptr(false)
	s.Init = ptr(true)
	s.Entrypoint, s.Command = argv[:1], argv[1:]
	s.ImageOS, s.ImageArch, s.ImageVariant = agent.ImageOS, agent.ImageArch, agent.ImageVariant
	s.UserNS, s.User = agent.UserNS, agent.User
	s.CapDrop = []string{"ALL"}
	s.NoNewPrivileges = ptr(true)
	// podman run --read-only keeps writable tmpfs on /tmp, /run and
	// /var/tmp (--read-only-tmpfs, true by default): the same here.
	s.ReadOnlyFilesystem, s.ReadWriteTmpfs = ptr(true), ptr(true)
	s.Labels = naming.SidecarLabels(x.Name, x.Volume, c.Labels)
	s.Env = map[string]string{}
	var inherited []string
	if u := x.Upstream; u != nil {
		s.Env[u.Name] = u.Value
		if u.FromHost {
			inherited = []string{u.Name}
		}
	}
	bin, logDir := x.Binary, filepath.Dir(x.Log)
	if c.Machine != nil {
		bin, logDir = c.Machine.hostPath(bin, note), c.Machine.hostPath(logDir, note)
	}
	s.Mounts = []specs.Mount{
		{Type: "bind", Source: bin, Destination: plan.ProxyBinary, Options: []string{"ro"}},
		{Type: "bind", Source: logDir, Destination: plan.SidecarLogDir},
	}
	s.Volumes = []*specgen.NamedVolume{{Name: x.Volume, Dest: plan.ProxyDir}}
	// The agent's pull policy: the printed snippet runs the sidecar first
	// (a real run's Exec has pulled the image by then).
	cmd, err := command(request{Spec: s, Pull: pull, Inherited: inherited, Detach: true})
	if err != nil {
		return nil, err
	}
	s.ContainerCreateCommand = append([]string(nil), cmd...)
	return &Sidecar{Volume: x.Volume, VolumeOptions: volumeOptions, VolumeLabels: s.Labels, Spec: s, Pull: pull, Argv: cmd}, nil
}

// sidecarSnippet wraps the agent's command line in what creates the volume
// and the sidecar before it and removes them after it (on every exit of the
// subshell; a detached run keeps them once its container runs).
func (r Rendered) sidecarSnippet(term []string, run string) string {
	sc := r.Sidecar
	lines := shell.Sidecar{
		CLI: "podman", Volume: sc.Volume, VolumeOptions: sc.VolumeOptions, VolumeLabels: sc.VolumeLabels,
		Name: sc.Spec.Name, Run: sc.Argv, Ready: sidecarReady,
	}.Wrap(term, shell.Prepare(r.Prepare), run, r.Detach)
	return strings.Join(lines, "\n")
}

// startSidecar creates the volume and the proxy container, starts it and
// waits until the proxy listens. On failure it removes what it created.
// The calls are not cut short by ctx; a cancelled ctx stops the wait.
func startSidecar(ctx context.Context, e engine, sc Sidecar) error {
	bg := context.WithoutCancel(ctx)
	// libpod refuses a volume that exists (an earlier launch with this
	// pid): nothing is created or removed then.
	if err := e.VolumeCreate(bg, sc.Volume, sc.VolumeOptions, sc.VolumeLabels); err != nil {
		return fmt.Errorf("%w; if it exists, see launch ps, or remove it with launch gc or `podman volume rm %s`", engineError(e, "create volume "+sc.Volume, err), sc.Volume)
	}
	id, err := e.Create(bg, sc.Spec)
	if err != nil {
		// Only the volume is ours: a container of that name that was
		// there (an earlier launch with this pid) is left alone.
		err = fmt.Errorf("%w; if a container of that name exists, see launch ps, or remove it with launch gc or `podman rm -f %s`", engineError(e, "create the network proxy container "+sc.Spec.Name, err), sc.Spec.Name)
		return errors.Join(err, removeSidecar(bg, e, "", sc.Volume))
	}
	fail := func(err error) error { return errors.Join(err, removeSidecar(bg, e, id, sc.Volume)) }
	if err := e.Start(bg, id); err != nil {
		return fail(engineError(e, "start the network proxy container "+sc.Spec.Name, err))
	}
	var last []byte
	for try := 0; try < 150; try++ {
		out, err := e.Logs(bg, id)
		if err != nil {
			return fail(engineError(e, "read the output of the network proxy container "+sc.Spec.Name, err))
		}
		if last = out; bytes.Contains(out, []byte(sidecarReady)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fail(runner.Interrupted(ctx, "while the network proxy started"))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fail(fmt.Errorf("network proxy container %s: the proxy did not start within 15 s; its output: %q (is the launch binary a static Linux build for the service's architecture?)", sc.Spec.Name, strings.TrimSpace(string(last))))
}

// removeSidecar force-removes the proxy container and then its volume;
// either may be gone already.
func removeSidecar(ctx context.Context, e interface {
	Remove(ctx context.Context, id string) error
	VolumeRemove(ctx context.Context, name string) error
}, name, vol string) error {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), runner.CleanupTimeout)
	defer cancel()
	var errs []error
	if name != "" {
		if err := e.Remove(bg, name); err != nil {
			errs = append(errs, fmt.Errorf("remove the network proxy container %s: %w; remove it with `podman rm -f %s`", name, err, name))
		}
	}
	if vol != "" {
		if err := e.VolumeRemove(bg, vol); err != nil {
			errs = append(errs, fmt.Errorf("remove volume %s: %w; remove it with `podman volume rm -f %s`", vol, err, vol))
		}
	}
	return errors.Join(errs...)
}

// VolumeCreate creates the named volume with the local driver's options
// and labels.
func (c *Conn) VolumeCreate(ctx context.Context, name string, options, labels map[string]string) error {
	body, err := json.Marshal(struct {
		Name    string
		Driver  string
		Labels  map[string]string
		Options map[string]string
	}{name, "local", labels, options})
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/volumes/create", nil, bytes.NewReader(body), nil)
}

// VolumeRemove removes the named volume, not forcefully: libpod's force
// would remove the containers that use it too. A volume that is gone is not
// an error.
func (c *Conn) VolumeRemove(ctx context.Context, name string) error {
	err := c.do(ctx, http.MethodDelete, "/volumes/%s", nil, nil, nil, name)
	if errorCode(err) == http.StatusNotFound {
		return nil
	}
	return err
}

// Logs is the container's output so far, stdout and stderr together.
func (c *Conn) Logs(ctx context.Context, id string) ([]byte, error) {
	conn, err := c.client()
	if err != nil {
		return nil, err
	}
	params := url.Values{"stdout": {"true"}, "stderr": {"true"}}
	resp, err := conn.DoRequest(ctx, nil, http.MethodGet, "/containers/%s/logs", params, nil, id)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if !resp.IsSuccess() {
		return nil, resp.Process(nil)
	}
	var out bytes.Buffer
	err = demux(io.LimitReader(resp.Body, 1<<16), &out, &out)
	return out.Bytes(), err
}

// Sidecars lists the proxy sidecars and sidecar volumes of the user uid
// that no session's container names: what a launch killed between creating
// them and creating its agent's container leaves behind. Each is a
// sess.Info whose Sidecar and SidecarVolume name what to remove (one may be
// empty), with the PID and start time of the launch that made it.
func Sidecars(ctx context.Context, c *Conn, uid int) ([]sess.Info, error) {
	filters, _ := json.Marshal(map[string][]string{"label": {naming.LabelSidecar, naming.LabelUser + "=" + strconv.Itoa(uid)}})
	var cs []listed
	if err := c.do(ctx, http.MethodGet, "/containers/json", url.Values{"all": {"true"}, "filters": {string(filters)}}, nil, &cs); err != nil {
		return nil, engineError(c, "list containers", err)
	}
	var vs []sess.Volume
	if err := c.do(ctx, http.MethodGet, "/volumes/json", url.Values{"filters": {string(filters)}}, nil, &vs); err != nil {
		return nil, engineError(c, "list volumes", err)
	}
	var labels []map[string]string
	for _, l := range cs {
		labels = append(labels, l.Labels)
	}
	return sess.LeftSidecars("podman", c.Endpoint(), uid, labels, vs), nil
}

// RemoveSidecar removes a leftover that Sidecars listed.
func RemoveSidecar(ctx context.Context, c *Conn, s sess.Info) error {
	return removeSidecar(ctx, c, s.Sidecar, s.SidecarVolume)
}
