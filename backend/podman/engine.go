package podman

import (
	"context"
	"errors"
	"io"

	"go.podman.io/podman/v6/libpod/define"
	"go.podman.io/podman/v6/pkg/bindings/containers"
	"go.podman.io/podman/v6/pkg/bindings/images"
	"go.podman.io/podman/v6/pkg/bindings/system"
	"go.podman.io/podman/v6/pkg/errorhandling"
	"go.podman.io/podman/v6/pkg/specgen"
)

// engine is the part of the libpod API that Exec uses: the bindings are
// package functions taking a connection context, so *Conn adapts them; tests
// use a fake.
type engine interface {
	// Endpoint names the service in messages ("unix:///run/podman/podman.sock").
	Endpoint() string
	// Info is the service's `podman info`.
	Info(ctx context.Context) (*define.Info, error)
	ImageExists(ctx context.Context, ref string) (bool, error)
	// ImageEnv is the Env of the image's configuration.
	ImageEnv(ctx context.Context, ref string) ([]string, error)
	// Pull pulls ref for the platform os/arch/variant (empty: the
	// service's), writing the service's progress lines to progress.
	Pull(ctx context.Context, ref, os, arch, variant string, progress io.Writer) error
	Create(ctx context.Context, s *specgen.SpecGenerator) (id string, err error)
	// Runtime is the OCI runtime the container was created with.
	Runtime(ctx context.Context, id string) (string, error)
	// Attach connects the streams and sends true on ready once connected;
	// it returns when the container's output ends.
	Attach(ctx context.Context, id string, in io.Reader, out, errw io.Writer, ready chan bool) error
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
}

var _ engine = (*Conn)(nil)

func (c *Conn) Endpoint() string { return c.endpoint }

func (c *Conn) Info(ctx context.Context) (*define.Info, error) {
	return system.Info(c.bind(ctx), nil)
}

func (c *Conn) ImageExists(ctx context.Context, ref string) (bool, error) {
	return images.Exists(c.bind(ctx), ref, nil)
}

func (c *Conn) ImageEnv(ctx context.Context, ref string) ([]string, error) {
	img, err := images.GetImage(c.bind(ctx), ref, nil)
	if err != nil {
		return nil, err
	}
	if img.Config == nil {
		return nil, nil
	}
	return img.Config.Env, nil
}

func (c *Conn) Pull(ctx context.Context, ref, os, arch, variant string, progress io.Writer) error {
	// No tlsVerify parameter: the service's registries.conf decides, so a
	// registry listed there as insecure is pulled over plain HTTP and no
	// other is.
	o := new(images.PullOptions).WithPolicy("always").WithProgressWriter(progress)
	if os != "" {
		o.WithOS(os)
	}
	if arch != "" {
		o.WithArch(arch)
	}
	if variant != "" {
		o.WithVariant(variant)
	}
	_, err := images.Pull(c.bind(ctx), ref, o)
	return err
}

func (c *Conn) Create(ctx context.Context, s *specgen.SpecGenerator) (string, error) {
	res, err := containers.CreateWithSpec(c.bind(ctx), s, nil)
	return res.ID, err
}

func (c *Conn) Runtime(ctx context.Context, id string) (string, error) {
	data, err := containers.Inspect(c.bind(ctx), id, new(containers.InspectOptions).WithSize(false))
	if err != nil {
		return "", err
	}
	return data.OCIRuntime, nil
}

func (c *Conn) Attach(ctx context.Context, id string, in io.Reader, out, errw io.Writer, ready chan bool) error {
	// No detach keys: the agent gets every key, Ctrl-P included (the
	// service's default would swallow ctrl-p,ctrl-q).
	return containers.Attach(c.bind(ctx), id, in, out, errw, ready, new(containers.AttachOptions).WithDetachKeys("").WithStream(true))
}

func (c *Conn) Start(ctx context.Context, id string) error {
	return containers.Start(c.bind(ctx), id, nil)
}

func (c *Conn) Wait(ctx context.Context, id string) (int, error) {
	code, err := containers.Wait(c.bind(ctx), id, new(containers.WaitOptions).WithCondition([]define.ContainerStatus{define.ContainerStateExited, define.ContainerStateStopped}))
	return int(code), err
}

func (c *Conn) Resize(ctx context.Context, id string, width, height uint) error {
	return containers.ResizeContainerTTY(c.bind(ctx), id, new(containers.ResizeTTYOptions).WithWidth(int(width)).WithHeight(int(height)))
}

func (c *Conn) Stop(ctx context.Context, id string) error {
	return containers.Stop(c.bind(ctx), id, new(containers.StopOptions).WithIgnore(true))
}

func (c *Conn) Remove(ctx context.Context, id string) error {
	_, err := containers.Remove(c.bind(ctx), id, new(containers.RemoveOptions).WithForce(true).WithVolumes(true).WithIgnore(true))
	return err
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
