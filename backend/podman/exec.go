package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/podman/v6/pkg/specgen"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/runner"
	"github.com/launchcli/launch/plan"
)

// maxNames bounds the -2, -3, ... suffixes tried when a name is taken.
const maxNames = 100

// Exec carries r out on the service e: it makes sure the image is present
// (pulling it when r.Pull allows), checks the GPUs' CDI spec, creates the
// container from r.Spec (under Spec.Name, or Name-2, Name-3, ... when
// taken), checks that the service kept the runtime asked for, and runs it
// with internal/runner: attached to s, with the terminal in raw mode and its
// size passed on when there is one, stopped when ctx is cancelled. It
// returns the agent's exit code. The container is removed on every path.
//
// The container is created without Spec.Remove (the printed command's
// --rm): a service that removes it itself may do so before the wait
// arrives, and the exit code is then lost. Exec removes it once the code is
// read.
func (r Rendered) Exec(ctx context.Context, e engine, s iostreams.Streams) (code int, err error) {
	if s.Out == nil {
		s.Out = io.Discard
	}
	if s.Err == nil {
		s.Err = io.Discard
	}
	if r.Spec == nil {
		return -1, errors.New("podman: empty request; build it with podman.Render")
	}
	if err := r.ensureImage(ctx, e, s); err != nil {
		return -1, err
	}
	spec := *r.Spec
	spec.Remove = nil
	if len(r.p.PathPrepend) > 0 {
		env, err := e.ImageEnv(ctx, spec.Image)
		if err != nil {
			return -1, engineError(e, fmt.Sprintf("inspect image %q", spec.Image), err)
		}
		spec.Env = r.withImagePath(imagePath(env))
	}
	if err := checkCDI(e, spec.Devices); err != nil {
		return -1, err
	}
	if ctx.Err() != nil {
		return -1, runner.Interrupted(ctx, "before the container was created")
	}
	if sc := r.Sidecar; sc != nil {
		if err := startSidecar(ctx, e, *sc); err != nil {
			return -1, err
		}
		defer func() {
			// A detached session keeps its sidecar: launch stop removes
			// it with the session.
			if !r.Detach || err != nil {
				err = errors.Join(err, removeSidecar(ctx, e, sc.Spec.Name, sc.Volume))
			}
		}()
	}
	id, name, err := createContainer(ctx, e, &spec)
	if err != nil {
		return -1, err
	}
	c := &session{e: e, id: id, name: name, started: make(chan struct{})}
	if want := spec.OCIRuntime; want != "" {
		if err := checkRuntime(ctx, e, id, want); err != nil {
			if rmErr := c.Remove(context.WithoutCancel(ctx)); rmErr != nil {
				err = errors.Join(err, rmErr)
			}
			return -1, err
		}
	}
	if tty, ok := s.Terminal(); ok && isTrue(spec.Terminal) {
		// The initial size, before the agent starts (Docker takes it in
		// the create request; libpod only resizes a container whose
		// terminal exists): init makes the terminal, the start then runs
		// the agent in it. The runner passes every later size on.
		if w, h, ok := runner.Size(tty); ok && e.Init(context.WithoutCancel(ctx), id) == nil {
			_ = e.Resize(context.WithoutCancel(ctx), id, w, h)
		}
	}
	if r.Detach {
		return detach(ctx, c, s)
	}
	return runner.Run(ctx, c, s, isTrue(spec.Terminal))
}

// detach starts the created container c and prints its name on s.Out: the
// session runs on without launch. A container that fails to start is
// removed.
func detach(ctx context.Context, c *session, s iostreams.Streams) (int, error) {
	bg := context.WithoutCancel(ctx)
	if err := c.e.Start(bg, c.id); err != nil {
		err = c.EngineError("start container "+c.name, err)
		return -1, errors.Join(err, c.Remove(bg))
	}
	_, err := fmt.Fprintln(s.Out, c.name)
	return 0, err
}

// ensureImage makes the image present as r.Pull says: a local image is used
// unless the policy is always; a missing one is pulled when the policy is
// always or missing; otherwise (never) it is an error that says how to get
// it.
func (r Rendered) ensureImage(ctx context.Context, e engine, s iostreams.Streams) error {
	ref := r.Spec.Image
	existed := false
	if r.Pull != plan.PullAlways {
		ok, err := e.ImageExists(ctx, ref)
		switch {
		case err != nil:
			return engineError(e, fmt.Sprintf("look for image %q", ref), err)
		case ok:
			return nil
		case r.Pull == plan.PullNever:
			return plan.Errorf(plan.ErrInvalid,
				"image %q: not present on the podman service, and not pulled (--pull never, the default for an image that is not launch's own): check the name, run `podman pull %s` (or build it), or pass --pull missing", ref, ref)
		}
	}
	if r.Pull == plan.PullAlways && r.OnPull != nil {
		// Only a pull that brings what the service did not have under ref
		// is launch's (OnPull).
		ok, err := e.ImageExists(ctx, ref)
		if err != nil {
			return engineError(e, fmt.Sprintf("look for image %q", ref), err)
		}
		existed = ok
	}
	fmt.Fprintf(s.Err, "launch: pulling %s\n", ref)
	id, err := e.Pull(ctx, ref, r.Spec.ImageOS, r.Spec.ImageArch, r.Spec.ImageVariant, s.Err)
	if err != nil {
		if ctx.Err() != nil {
			return runner.Interrupted(ctx, "pulling "+ref)
		}
		if isConnError(err) {
			return engineError(e, fmt.Sprintf("pull image %q", ref), err)
		}
		if strings.Contains(err.Error(), "HTTP response to HTTPS client") {
			return fmt.Errorf("pull image %q: %w; the registry speaks plain HTTP: if you trust it, list it as insecure in the service's registries.conf ([[registry]] location = %q, insecure = true)", ref, err, registryHost(ref))
		}
		return fmt.Errorf("pull image %q: %w; check the name, and log in with `podman login %s` if the registry needs it", ref, err, registryHost(ref))
	}
	if r.OnPull != nil && id != "" && !existed {
		r.OnPull(ref, id)
	}
	return nil
}

// registryHost is the registry part of an image reference: the first path
// component when it looks like a host, else docker.io.
func registryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

// imagePath is the PATH of an image's Env; "" when it sets none.
func imagePath(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			return v
		}
	}
	return ""
}

// withImagePath is a copy of r.Spec.Env whose PATH has the Plan's prepends
// in front of the image's own PATH, in place of the dry run's
// plan.FallbackPath (plan.Plan.EnvWithPath).
func (r Rendered) withImagePath(imagePath string) map[string]string {
	env := make(map[string]string, len(r.Spec.Env))
	for k, v := range r.Spec.Env {
		env[k] = v
	}
	for _, v := range r.p.EnvWithPath(imagePath) {
		if v.Name == "PATH" {
			env["PATH"] = v.Value
		}
	}
	return env
}

// cdiDirs are where a CDI spec may be (the CDI default spec dirs).
var cdiDirs = []string{"/etc/cdi", "/var/run/cdi"}

// checkCDI refuses GPUs (CDI devices nvidia.com/gpu=...) when the service
// runs on this machine and no CDI spec for NVIDIA GPUs is there: the create
// would otherwise fail late with "unresolvable CDI devices". A service
// elsewhere (ssh, a podman machine) is left to answer for itself.
func checkCDI(e engine, devs []specs.LinuxDevice) error {
	var gpus []string
	for _, d := range devs {
		if strings.HasPrefix(d.Path, "nvidia.com/gpu=") {
			gpus = append(gpus, d.Path)
		}
	}
	if len(gpus) == 0 || !e.Local() {
		return nil
	}
	for _, dir := range cdiDirs {
		for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
			files, _ := filepath.Glob(filepath.Join(dir, pat))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err == nil && strings.Contains(string(b), "nvidia.com/gpu") {
					return nil
				}
			}
		}
	}
	return plan.Errorf(plan.ErrUnsupported, "gpus %s: no CDI spec for NVIDIA GPUs in %s, so the podman service cannot resolve them; generate one with `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` (NVIDIA Container Toolkit), check it with `nvidia-ctk cdi list`, or drop --gpus",
		strings.Join(gpus, ", "), strings.Join(cdiDirs, " or "))
}

// createContainer creates the container, trying name, name-2, name-3, ... while the
// service says the name is taken: two launches that race for a name both
// succeed, under different names. The call is not cut short by ctx: a
// container the service created must have its ID returned so that it can be
// removed.
func createContainer(ctx context.Context, e engine, spec *specgen.SpecGenerator) (id, name string, err error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	base := spec.Name
	for i := 1; ; i++ {
		s := *spec
		s.Name = naming.Numbered(base, i)
		id, err := e.Create(cctx, &s)
		if err == nil {
			name = s.Name
			if name == "" {
				name = shortID(id)
			}
			return id, name, nil
		}
		taken := strings.Contains(err.Error(), "already in use")
		if base != "" && taken && i < maxNames {
			continue
		}
		what := "create container"
		if s.Name != "" {
			what = "create container " + s.Name
		}
		switch {
		case taken:
			return "", "", fmt.Errorf("%s: names %s to %s are all taken; remove old containers (podman ps -a --filter label=%s)", what, base, naming.Numbered(base, maxNames), naming.LabelPlan)
		case strings.Contains(err.Error(), "container-init binary not found"):
			// Spec.Init: the service mounts its init (catatonit) as PID 1.
			return "", "", fmt.Errorf("%s: %w; the agent runs under podman's init, which the service's host lacks: install catatonit there (apt install catatonit, dnf install catatonit) or name another static init with init_path in containers.conf", what, err)
		case strings.Contains(err.Error(), "unresolvable CDI devices"):
			return "", "", plan.Errorf(plan.ErrUnsupported, "%s: %v; the service has no CDI spec for these GPUs: generate one on its host with `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`, or drop --gpus", what, err)
		case strings.Contains(err.Error(), "no such file or directory") && strings.Contains(err.Error(), "mount"),
			strings.Contains(err.Error(), "statfs"):
			return "", "", fmt.Errorf("%s: %w; create it or fix the mount (--mount, --ro, or mounts = [...] in ~/.config/launch/config.toml or the project's .launch.toml); with a podman machine, the path must be one the machine shares", what, err)
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

// checkRuntime reads back the runtime of the created container: Podman 4.3
// accepts a runtime over the API and silently runs its default one (runc),
// even for a name it does not know. launch never runs under runc while
// saying runsc.
func checkRuntime(ctx context.Context, e engine, id, want string) error {
	got, err := e.Runtime(context.WithoutCancel(ctx), id)
	if err != nil {
		return engineError(e, "read the runtime of the created container", err)
	}
	// A service started with --runtime PATH reports the path.
	if got == want || filepath.Base(got) == want {
		return nil
	}
	return plan.Errorf(plan.ErrUnsupported,
		"runtime %q: the podman service at %s created the container with %q instead (Podman before 5 ignores a runtime sent over its API); nothing was run: start the service with that runtime (`podman --runtime %s system service`, with runsc in [engine.runtimes] of containers.conf), use a newer Podman, or use --backend docker; runsc is not available on macOS",
		want, e.Endpoint(), got, want)
}

// session is one created container as internal/runner drives it.
type session struct {
	e        engine
	id, name string
	// started is closed once the container has started: libpod's wait on a
	// container that has not started yet returns at once.
	started chan struct{}
}

var _ runner.Container = (*session)(nil)

func (c *session) Name() string { return c.name }

// Attach attaches over the bindings. The streams are passed wrapped, so that
// the bindings never see a terminal: raw mode and resizes are the runner's.
func (c *session) Attach(ctx context.Context, in io.Reader, out, errw io.Writer) (runner.Attachment, error) {
	var rin io.Reader
	if in != nil {
		rin = &reader{in}
	}
	ready := make(chan bool, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.e.Attach(ctx, c.id, rin, &writer{out}, &writer{errw}, ready)
	}()
	select {
	case <-ready:
		return runner.Attachment{Done: done}, nil
	case err := <-done:
		if err == nil {
			err = errors.New("the attach ended before it was ready")
		}
		return runner.Attachment{}, err
	}
}

// reader and writer hide a stream's concrete type (an *os.File terminal)
// from the bindings, which would otherwise set up the terminal themselves.
type reader struct{ io.Reader }
type writer struct{ io.Writer }

func (c *session) Wait(ctx context.Context) <-chan runner.Exit {
	exits := make(chan runner.Exit, 1)
	go func() {
		select {
		case <-c.started:
		case <-ctx.Done():
			return
		}
		code, err := c.e.Wait(ctx, c.id)
		exits <- runner.Exit{Code: code, Err: err}
	}()
	return exits
}

func (c *session) Start(ctx context.Context) error {
	if err := c.e.Start(ctx, c.id); err != nil {
		return err
	}
	close(c.started)
	return nil
}

func (c *session) Resize(ctx context.Context, width, height uint) error {
	return c.e.Resize(ctx, c.id, width, height)
}

// Stop stops the container after its StopTimeout (Spec.StopTimeout).
func (c *session) Stop(ctx context.Context) error { return c.e.Stop(ctx, c.id) }

func (c *session) Remove(ctx context.Context) error {
	if err := c.e.Remove(ctx, c.id); err != nil {
		if isConnError(err) {
			err = fmt.Errorf("lost the podman service at %s: %w", c.e.Endpoint(), err)
		}
		return fmt.Errorf("remove container %s: %w; remove it with `podman rm -f %s`", c.name, err, c.name)
	}
	return nil
}

func (c *session) EngineError(what string, err error) error { return engineError(c.e, what, err) }

// engineError adds what was being done and, for a lost connection, which
// service was tried and what to do.
func engineError(e engine, what string, err error) error {
	if isConnError(err) {
		return fmt.Errorf("%s: lost the podman service at %s: %w; is it running? (`podman system connection ls`; on macOS `podman machine start`)", what, e.Endpoint(), err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isConnError reports whether err is the connection to the service failing
// rather than an answer of the service.
func isConnError(err error) bool {
	if errorCode(err) != 0 {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, http.ErrServerClosed) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "connection reset") ||
		strings.Contains(s, "broken pipe") || strings.Contains(s, "EOF")
}
