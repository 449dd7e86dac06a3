// Package podman renders a plan.Plan for Podman: a container-create request
// (a *specgen.SpecGenerator, the value Podman's own CLI sends to its service)
// and the `podman run` command computed from that request, which --dry-run
// prints.
//
// Render is pure: no I/O, no environment, no clock. Everything that depends
// on the machine (is the service rootless? which container name?) arrives in
// Config, filled by cmd/launch.
//
// This package may import plan, internal/*, the standard library and
// go.podman.io/podman/v6 (pkg/specgen now, pkg/bindings with the executor)
// with the OCI runtime-spec types its request is made of.
// It never imports another backend or cmd. Podman's packages need the build
// tags `remote exclude_graphdriver_btrfs containers_image_openpgp` and
// CGO_ENABLED=0.
package podman

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/podman/v6/pkg/specgen"
)

// UserNS selects the user namespace of the container.
type UserNS string

const (
	// UserNSAuto lets Render choose: keep-id on a rootless service, the
	// service's default (normally the host's) on a rootful one.
	UserNSAuto UserNS = ""
	// UserNSKeepID maps the caller's host user to Plan.User inside the
	// container, so files written to bind mounts stay the caller's. Only a
	// rootless service has a caller to keep.
	UserNSKeepID UserNS = "keep-id"
	// UserNSHost uses the service's own user namespace: on a rootless
	// service the caller is root in the container and Plan.User is one of
	// the caller's subordinate ids on the host.
	UserNSHost UserNS = "host"
)

// LabelPlan is the label that carries Plan.Hash, so that a container can be
// traced back to the plan that made it.
const LabelPlan = "dev.launch.plan"

// Config holds what only the Podman backend needs. cmd/launch fills it from
// the connection, flags and config files; Render never looks anything up.
type Config struct {
	// Rootless reports whether the Podman service the run talks to is
	// rootless (`podman info` host.security.rootless). It decides the user
	// namespace (see UserNS).
	Rootless bool
	// UserNS overrides the user namespace; UserNSAuto (empty) lets Render
	// choose. UserNSKeepID on a rootful service is an error.
	UserNS UserNS
	// Name is the container name; empty lets Podman generate one. It must
	// match [a-zA-Z0-9][a-zA-Z0-9_.-]*. cmd/launch chooses it (from
	// Plan.Agent, say); the executor may add -2, -3, ... on a conflict.
	Name string
	// Labels are added to the Plan's labels, for real runs (a session id,
	// say). A key the Plan already sets, or LabelPlan, is an error.
	Labels map[string]string
}

// Rendered is everything a Podman run will do, decided by Render.
//
// The executor (a later issue) carries it out over Podman's bindings, which
// are package functions taking a connection context; it will take a small
// adapter holding that context, behind an interface with only the calls it
// makes:
//
//	type engine interface {
//		ImageExists(ctx context.Context, ref string) (bool, error)
//		Pull(ctx context.Context, ref string, policy plan.PullPolicy, os, arch, variant string) error
//		Create(ctx context.Context, s *specgen.SpecGenerator) (id string, err error)
//		Attach(ctx context.Context, id string, s iostreams.Streams, started chan<- bool) error
//		Start(ctx context.Context, id string) error
//		Wait(ctx context.Context, id string) (exitCode int32, err error)
//		Remove(ctx context.Context, id string) error
//	}
//
// and `func (r Rendered) Exec(ctx, e engine, s iostreams.Streams) (int, error)`
// pulls per Pull, creates Spec, attaches, starts, waits and removes.
type Rendered struct {
	// Spec is the container-create request. Its Env holds every value,
	// inherited ones included: they travel over the service's socket,
	// never on a command line. Spec.ContainerCreateCommand is Argv, so that
	// `podman inspect` shows the equivalent command.
	Spec *specgen.SpecGenerator
	// Pull says when the image is fetched before the container is created;
	// never empty. The platform pulled is Spec's ImageOS, ImageArch and
	// ImageVariant (podman has no platform field at create time other than
	// these, which select an instance of a manifest list).
	Pull plan.PullPolicy
	// Inherited names, sorted, the variables of Spec.Env whose values come
	// from the caller's environment (plan.EnvVar.FromHost). Argv passes them
	// by name only (`--env NAME`).
	Inherited []string
	// Prepare lists the host paths a real run creates before the container
	// starts; Snippet creates them itself, so a dry run creates nothing.
	Prepare []plan.HostPath
	// Argv is the `podman run` command, computed from Spec, Pull and
	// Inherited (and nothing else) by one pure function.
	Argv []string

	notes []string
}

// Snippet is the POSIX shell text --dry-run prints: it first creates the
// missing Prepare paths (private to the user), then runs Argv, and it runs as
// printed. Inherited values appear by name only. No trailing newline.
func (r Rendered) Snippet() string {
	return strings.Join(append(shell.Prepare(r.Prepare), shell.Join(r.Argv)), "\n")
}

// Notes are remarks for stderr: how Render translated parts of the Plan that
// a user may not expect. They never hold an inherited value.
func (r Rendered) Notes() []string { return append([]string(nil), r.notes...) }

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Render decides everything the Podman backend will do with p. A part of p
// that it cannot honour is an error wrapping plan.ErrUnsupported that says
// what to use instead; a malformed Config is an error too. p is validated
// first.
func Render(p plan.Plan, c Config) (Rendered, error) {
	if err := p.Validate(); err != nil {
		return Rendered{}, err
	}
	if p.Image.OCI == "" {
		return Rendered{}, unsupported("image: the podman backend needs an OCI image and the plan names only the SIF %q; name one with --image, or use --backend singularity", p.Image.SIF)
	}
	if c.Name != "" && !validName.MatchString(c.Name) {
		return Rendered{}, fmt.Errorf("container name %q: want letters, digits, '_', '.' and '-', starting with a letter or digit", c.Name)
	}
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }

	s := specgen.NewSpecGenerator(p.Image.OCI, false)
	s.RawImageName = p.Image.OCI
	s.Name = c.Name
	s.Remove = ptr(true)
	s.Stdin = ptr(true)
	s.Terminal = ptr(p.TTY)
	s.Command = append([]string(nil), p.Argv...)
	s.WorkDir = p.Workdir
	// Podman copies the proxy variables of its own process into the
	// container unless told not to (the CLI's --http-proxy defaults to
	// true); the Plan's Env is the whole environment.
	s.HTTPProxy = ptr(false)

	if pl := p.Image.Platform; !pl.IsZero() {
		s.ImageOS, s.ImageArch, s.ImageVariant = pl.OS, pl.Arch, pl.Variant
	}

	pull := p.Pull
	if pull == "" {
		pull = plan.PullMissing
	}

	user := fmt.Sprintf("%d:%d", p.User.UID, p.User.GID)
	s.User = user
	switch {
	case c.UserNS == UserNSHost:
		s.UserNS = specgen.Namespace{NSMode: specgen.Host}
		if c.Rootless {
			note("user namespace host on a rootless service: user %s is one of your subordinate ids on the host, so files it writes to mounts are not owned by you", user)
		}
	case c.UserNS == UserNSKeepID && !c.Rootless:
		return Rendered{}, unsupported("user namespace keep-id: not supported by a rootful podman service (keep-id maps the user of a rootless service); leave the user namespace unset to run as --user %s, or connect to a rootless service", user)
	case c.UserNS == UserNSKeepID, c.UserNS == UserNSAuto && c.Rootless:
		s.UserNS = specgen.Namespace{NSMode: specgen.KeepID, Value: fmt.Sprintf("uid=%d,gid=%d", p.User.UID, p.User.GID)}
		note("user namespace keep-id: your host user is %s in the container, so files it writes to mounts stay yours", user)
	case c.UserNS == UserNSAuto:
		// Rootful: plain --user; the service's default user namespace.
	default:
		return Rendered{}, fmt.Errorf("user namespace %q: want keep-id, host or empty (automatic)", c.UserNS)
	}

	switch p.Network.Mode {
	case plan.NetworkNone:
		s.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
	case plan.NetworkOpen:
		// The service's default network.
	case plan.NetworkAllow:
		return Rendered{}, unsupported("network allowlist: not enforced by the podman backend yet; use --network none or open")
	}

	if p.Runtime == plan.RuntimeRunsc {
		s.OCIRuntime = string(plan.RuntimeRunsc)
		note("runtime runsc: it must be registered with the podman service ([engine.runtimes] in containers.conf; not available on macOS); the printed command's --runtime is a flag of local podman, not of podman-remote")
	}

	if p.GPUs.All {
		s.Devices = append(s.Devices, cdiGPU("all"))
	}
	for _, d := range p.GPUs.Devices {
		if d == "" || strings.ContainsAny(d, ",= \t\n") {
			return Rendered{}, fmt.Errorf("gpu %q: want a device index or UUID: %w", d, plan.ErrInvalid)
		}
		s.Devices = append(s.Devices, cdiGPU(d))
	}
	if p.GPUs.Any() {
		note("gpus: passed as CDI devices (nvidia.com/gpu=...); the podman host needs a CDI spec (`nvidia-ctk cdi generate`)")
	}

	labels := map[string]string{}
	for k, v := range p.Labels {
		labels[k] = v
	}
	for k, v := range c.Labels {
		if _, dup := labels[k]; dup || k == LabelPlan {
			return Rendered{}, fmt.Errorf("label %q: already set by the plan", k)
		}
		labels[k] = v
	}
	labels[LabelPlan] = p.Hash()
	for k := range labels {
		if k == "" || strings.ContainsAny(k, "=\n") {
			return Rendered{}, fmt.Errorf("label %q: a key may not be empty or contain '=' or a newline", k)
		}
	}
	s.Labels = labels

	envs := p.EnvWithPath("")
	s.Env = make(map[string]string, len(envs))
	var inherited []string
	for _, e := range envs {
		s.Env[e.Name] = e.Value
		if e.FromHost {
			inherited = append(inherited, e.Name)
		}
	}
	if len(inherited) > 0 {
		note("env %s: inherited from your environment by name; the printed command reads them from the shell it runs in", strings.Join(inherited, ", "))
	}

	for _, m := range visibleMounts(p.Mounts, note) {
		s.Mounts = append(s.Mounts, specMount(m))
	}

	r := Rendered{
		Spec:      s,
		Pull:      pull,
		Inherited: inherited,
		Prepare:   append([]plan.HostPath(nil), p.Prepare...),
		notes:     notes,
	}
	argv, err := command(r.request())
	if err != nil {
		return Rendered{}, err
	}
	r.Argv = argv
	s.ContainerCreateCommand = append([]string(nil), argv...)
	return r, nil
}

// visibleMounts returns the mounts of ms that Podman must make, in order.
// Podman mounts parents before children whatever the order it is given, so
// a mount that a later mount at or above its target hides completely (and
// so has no effect in the Plan) is left out, with a note; an exact repeat
// is made once.
func visibleMounts(ms []plan.Mount, note func(string, ...any)) []plan.Mount {
	var out []plan.Mount
	for i, m := range ms {
		hidden := false
		for _, later := range ms[i+1:] {
			if later == m {
				hidden = true // made by the later copy
				break
			}
			if later.Target == m.Target || strings.HasPrefix(m.Target, later.Target+"/") {
				note("mount %s: hidden by the later mount at %q, so not made", describe(m), later.Target)
				hidden = true
				break
			}
		}
		if !hidden {
			out = append(out, m)
		}
	}
	return out
}

func describe(m plan.Mount) string {
	if m.Kind == plan.MountMask {
		return fmt.Sprintf("mask %q", m.Target)
	}
	return fmt.Sprintf("%q at %q", m.Source, m.Target)
}

// cdiGPU names an NVIDIA GPU as a CDI device, the form both `--device` and
// the API's Devices accept.
func cdiGPU(id string) specs.LinuxDevice { return specs.LinuxDevice{Path: "nvidia.com/gpu=" + id} }

// specMount translates one Plan mount into the form `podman run --mount`
// produces, so that the API request and the printed command agree: a bind
// (read-only: option "ro"), a masked directory as an empty read-only tmpfs
// (not filled from the image or the mount below: "notmpcopyup"),
// a masked file as a read-only bind of /dev/null. SpecGenerator.Mask
// (`--security-opt mask=`) is not used: it is a list the OCI runtime applies
// after every mount, ':'-separated on the CLI, and Docker has no CLI form of
// it; mounts keep the mask where the Plan puts it, in the same form on every
// engine, and visible in `podman inspect`.
func specMount(m plan.Mount) specs.Mount {
	var opts []string
	if m.ReadOnly || m.Kind == plan.MountMask {
		opts = []string{"ro"}
	}
	switch {
	case m.Kind == plan.MountMask && m.File:
		return specs.Mount{Type: "bind", Source: "/dev/null", Destination: m.Target, Options: opts}
	case m.Kind == plan.MountMask:
		// Podman fills a tmpfs with a copy of what lies under it unless told
		// not to (tmpcopyup is its default): without notmpcopyup the mask
		// would show the very files it hides.
		return specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, Options: append(opts, "notmpcopyup")}
	default:
		return specs.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: opts}
	}
}

// unsupportedError is a part of a valid Plan this backend cannot honour. Its
// message names the backend and what to use instead; it wraps
// plan.ErrUnsupported without repeating that error's generic text.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }
func (e *unsupportedError) Unwrap() error { return plan.ErrUnsupported }

func unsupported(format string, args ...any) error {
	return &unsupportedError{msg: fmt.Sprintf(format, args...)}
}

func ptr[T any](v T) *T { return &v }

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
