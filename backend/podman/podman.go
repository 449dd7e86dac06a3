// Package podman renders a plan.Plan for Podman: a container-create request
// (a *specgen.SpecGenerator, the value Podman's own CLI sends to its service)
// and the `podman run` command computed from that request, which --dry-run
// prints; and it carries the request out over the libpod API (Exec).
//
// Render is pure: no I/O, no environment, no clock. Everything that depends
// on the machine (is the service rootless? which container name?) arrives in
// Config, filled by cmd/launch. Connect finds the service (Endpoints lists
// where it looks) and starts a private one when none answers; Exec creates,
// attaches, starts, waits for and removes the container, the session itself
// run by internal/runner as for Docker.
//
// This package may import plan, internal/*, session (what launch ps shows),
// the standard library,
// go.podman.io/podman/v6 (pkg/specgen, pkg/bindings) with the OCI
// runtime-spec types and go.podman.io/common's network types (port
// mappings) its request is made of, and a TOML decoder for
// containers.conf.
// It never imports another backend or cmd. Podman's packages need the build
// tags `remote exclude_graphdriver_btrfs containers_image_openpgp` and
// CGO_ENABLED=0.
package podman

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	nettypes "go.podman.io/common/libnetwork/types"
	"go.podman.io/podman/v6/pkg/specgen"
)

// AssumeRootless is the guess whether the Podman service launch talks to
// is rootless, made without asking it: rootless on macOS (Podman Desktop's
// machine runs it so) and for any caller but root on Linux, as a plain
// `podman` connects to the caller's own service. rootful, when not nil, is
// the podman_rootful setting of the configuration and wins over the guess.
// cmd/launch fills Config.Rootless with it for --dry-run, which asks no
// service; a real run renders again with the service's own answer
// (Conn.Rootless, `podman info` host.security.rootless) when they differ.
func AssumeRootless(goos string, uid int, rootful *bool) bool {
	if rootful != nil {
		return !*rootful
	}
	return goos == "darwin" || uid != 0
}

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

// Config holds what only the Podman backend needs. cmd/launch fills it from
// the connection, flags and config files; Render never looks anything up.
type Config struct {
	// Rootless reports whether the Podman service the run talks to is
	// rootless (Conn.Rootless, `podman info` host.security.rootless; for a
	// dry run, AssumeRootless). It decides the user namespace (see UserNS) and
	// so who the agent is (see Render).
	Rootless bool
	// UserNS overrides the user namespace; UserNSAuto (empty) lets Render
	// choose. UserNSKeepID on a rootful service is an error.
	UserNS UserNS
	// Name is the container name; empty lets Podman generate one. It must
	// pass naming.CheckName. cmd/launch chooses it (naming.ContainerName);
	// the executor may add -2, -3, ... on a conflict (naming.Numbered).
	Name string
	// StopTimeout is how many seconds the service waits after SIGTERM
	// before it kills the agent when the run is interrupted (Ctrl-C); 0
	// keeps the service's default (10).
	StopTimeout uint
	// Machine describes the podman machine (the Linux VM of Podman on
	// macOS) that runs the service; nil when the service runs on this host.
	Machine *Machine
	// Labels are added to the Plan's labels, for real runs
	// (naming.RunLabels). A key the Plan already sets, or
	// naming.LabelPlan, is an error (naming.Labels).
	Labels map[string]string
	// Detach starts the session and returns (--detach): the container is
	// created without Remove, keeps stdin open for a later `launch
	// attach`, and stays until `launch stop` or `launch gc` removes it, so
	// that its output and exit code can be read after it ends.
	Detach bool
	// CgroupV1 is set when the service's host uses cgroup v1 (the legacy
	// hierarchy). A rootless service cannot apply resource limits there
	// (podman only warns and ignores them), so Render refuses limits
	// someone asked for and leaves out the default pids limit with a note.
	CgroupV1 bool
}

// Rendered is everything a Podman run will do, decided by Render; Exec
// carries it out.
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
	// Argv is the `podman run` command, computed from Spec, Pull,
	// Inherited and Detach (and nothing else) by one pure function.
	Argv []string
	// Detach is Config.Detach: Exec starts the container and returns
	// (podman run -d).
	Detach bool
	// OnPull, when set (by the caller, before Exec), is told each image
	// Exec pulls that the service did not have under that reference
	// before: the reference and the ID of the image pulled. cmd records it
	// for launch gc --images.
	OnPull func(ref, id string)
	// Sidecar, when not nil, is the proxy container and volume of an
	// allowlist enforced by a sidecar (plan.Sidecar).
	Sidecar *Sidecar

	// notes are true of every run of r; cmdNotes only of the printed
	// command (Snippet), which a real run does not use.
	notes, cmdNotes []string
	// p is the Plan rendered: Exec puts its PATH prepends in front of the
	// image's own PATH, which only the service can read.
	p plan.Plan
}

// Snippet is the POSIX shell text --dry-run prints: it first creates the
// missing Prepare paths (private to the user), then runs Argv, and it runs as
// printed. Inherited values appear by name only. No trailing newline.
//
// An attached run decides -t when it runs, from the terminal of the shell
// that runs it (shell.Terminal), in a subshell: a real run decides it from
// launch's own (Spec.Terminal), but the snippet is often run elsewhere
// (`| sh`, eval, a copy). A detached run attaches nothing and keeps it.
func (r Rendered) Snippet() string { return r.snippet("run") }

// snippet is Snippet with verb (run, or create for the tests) for podman's
// run.
func (r Rendered) snippet(verb string) string {
	if r.Detach {
		run := shell.Join(withVerb(r.Argv, verb))
		if r.Sidecar != nil {
			return r.sidecarSnippet(nil, run)
		}
		return strings.Join(append(shell.Prepare(r.Prepare), run), "\n")
	}
	q := r.request()
	spec := *q.Spec
	spec.Terminal = ptr(true)
	q.Spec = &spec
	argv, err := command(q)
	if err != nil {
		// Render made r.Argv from the same request, -t aside.
		panic("podman: the command of a rendered spec: " + err.Error())
	}
	run := shell.JoinTTY(withVerb(argv, verb), "-t")
	if r.Sidecar != nil {
		return r.sidecarSnippet(shell.Terminal("-t"), run)
	}
	lines := append([]string{"("}, shell.Terminal("-t")...)
	lines = append(lines, shell.Prepare(r.Prepare)...)
	return strings.Join(append(lines, run, ")"), "\n")
}

// withVerb is a podman run argv with verb in place of run.
func withVerb(argv []string, verb string) []string {
	out := append([]string(nil), argv...)
	if i := slices.Index(out, "run"); i >= 0 {
		out[i] = verb
	}
	return out
}

// Notes are remarks for stderr: how Render translated parts of the Plan that
// a user may not expect, true of every run of r. They never hold an
// inherited value.
func (r Rendered) Notes() []string { return append([]string(nil), r.notes...) }

// CommandNotes are remarks for stderr about the printed command only (how
// it differs from a real run); a real run does not print them.
func (r Rendered) CommandNotes() []string { return append([]string(nil), r.cmdNotes...) }

// Render decides everything the Podman backend will do with p. A part of p
// that it cannot honour is an error wrapping plan.ErrUnsupported that says
// what to use instead; a malformed Config is an error wrapping
// plan.ErrInvalid. p is validated first.
//
// Who the agent is follows the rule of every backend: what it writes in the
// workspace belongs to the caller on the host (see identify).
func Render(p plan.Plan, c Config) (Rendered, error) {
	if err := p.Validate(); err != nil {
		return Rendered{}, err
	}
	// An allowlist is a container without network, behind launch's proxy
	// (on the host, or in a sidecar container: sc).
	sc, policy := p.Network.Sidecar, p.Network
	p, err := p.Enforced()
	if err != nil {
		return Rendered{}, err
	}
	if p.Image.OCI == "" {
		return Rendered{}, plan.Errorf(plan.ErrUnsupported, "image: the podman backend needs an OCI image and the plan names only the SIF %q; name one with --image, or use --backend singularity", p.Image.SIF)
	}
	if err := naming.CheckName(c.Name); err != nil {
		return Rendered{}, err
	}
	var notes, cmdNotes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	cmdNote := func(format string, args ...any) { cmdNotes = append(cmdNotes, fmt.Sprintf(format, args...)) }

	s := specgen.NewSpecGenerator(p.Image.OCI, false)
	s.RawImageName = p.Image.OCI
	s.Name = c.Name
	s.Remove = ptr(!c.Detach)
	// Podman's init (catatonit) is PID 1, not the agent: it forwards
	// SIGTERM, so that a stop ends the agent without the SIGKILL after the
	// stop timeout, and it reaps the agent's orphaned children.
	s.Init = ptr(true)
	s.Stdin = ptr(true)
	s.Terminal = ptr(p.TTY)
	s.Command = append([]string(nil), p.Argv...)
	s.WorkDir = p.Workdir
	if c.StopTimeout > 0 {
		s.StopTimeout = ptr(c.StopTimeout)
	}
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

	id, err := identify(p, c)
	if err != nil {
		return Rendered{}, err
	}
	s.UserNS, s.User = id.userns, id.user
	note("%s", id.note)

	switch p.Network.Mode {
	case plan.NetworkNone:
		s.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
	case plan.NetworkOpen:
		// The service's default network.
	}
	for _, x := range p.Publish {
		// As `podman run -p IP:H:C` sends it (specgenutil.CreatePortBindings:
		// one port, no protocol, which the service takes as tcp). Validate
		// checked the ports.
		s.PortMappings = append(s.PortMappings, nettypes.PortMapping{HostIP: x.HostIP, HostPort: uint16(x.HostPort), ContainerPort: uint16(x.ContainerPort), Range: 1})
	}

	if p.Runtime == plan.RuntimeRunsc {
		s.OCIRuntime = string(plan.RuntimeRunsc)
		note("runtime runsc: it must be registered with the podman service ([engine.runtimes] in containers.conf; not available on macOS)")
		cmdNote("runtime runsc: the printed command's --runtime is a flag of local podman, not of podman-remote")
	}

	renderPrivileges(s, p.Privileges, note)
	if err := renderLimits(s, p.Limits, c, note); err != nil {
		return Rendered{}, err
	}

	if p.GPUs.All {
		s.Devices = append(s.Devices, cdiGPU("all"))
	}
	for _, d := range p.GPUs.Devices {
		if d == "" || strings.ContainsAny(d, ",= \t\n") {
			return Rendered{}, plan.Errorf(plan.ErrInvalid, "gpu %q: want a device index or UUID", d)
		}
		s.Devices = append(s.Devices, cdiGPU(d))
	}
	if p.GPUs.Any() {
		note("gpus: passed as CDI devices (nvidia.com/gpu=...); the podman host needs a CDI spec (`nvidia-ctk cdi generate`)")
	}

	if c.Name != "" {
		cmdNote("the command fails if a container named %s exists; a real run picks %s, %s, ... instead", c.Name, naming.Numbered(c.Name, 2), naming.Numbered(c.Name, 3))
	}
	if s.Labels, err = naming.Labels(p, naming.AgentLabels(sc, c.Labels)); err != nil {
		return Rendered{}, err
	}

	envs := p.EnvWithPath("")
	if len(p.PathPrepend) > 0 {
		// The image's config (and its PATH) is known to the service only;
		// Render makes no call, so PATH is the prepended directories in
		// front of plan.FallbackPath.
		cmdNote("PATH: %s in front of %s; the image's own PATH cannot be read without the podman service, so this fallback list stands in for it", strings.Join(p.PathPrepend, ":"), plan.FallbackPath)
	}
	s.Env = make(map[string]string, len(envs))
	var inherited []string
	for _, e := range envs {
		s.Env[e.Name] = e.Value
		if e.FromHost {
			inherited = append(inherited, e.Name)
		}
	}
	if len(inherited) > 0 {
		cmdNote("env %s: inherited from your environment by name; the printed command reads them from the shell it runs in", strings.Join(inherited, ", "))
	}

	// The Plan's mounts are already the effective list (mounts.List drops
	// what a later mount hides): each becomes one mount, in order, after
	// the private home when there is one.
	if id.home != nil {
		s.Mounts = append(s.Mounts, *id.home)
	}
	for _, m := range p.Mounts {
		if c.Machine != nil && m.Kind == plan.MountBind {
			m.Source = c.Machine.hostPath(m.Source, note)
		}
		s.Mounts = append(s.Mounts, specMount(m))
	}
	if c.Machine != nil {
		c.Machine.platformNote(s.ImageArch, note)
	}
	var side *Sidecar
	if sc != nil {
		// The proxy's socket is on the sidecar's volume.
		s.Volumes = append(s.Volumes, &specgen.NamedVolume{Name: sc.Volume, Dest: plan.ProxyDir})
		if side, err = renderSidecar(p, policy, *sc, s, pull, c, note); err != nil {
			return Rendered{}, err
		}
	}

	r := Rendered{
		Spec:      s,
		Pull:      pull,
		Inherited: inherited,
		Detach:    c.Detach,
		Prepare:   append([]plan.HostPath(nil), p.Prepare...),
		Sidecar:   side,
		notes:     notes,
		cmdNotes:  cmdNotes,
		p:         p,
	}
	argv, err := command(r.request())
	if err != nil {
		return Rendered{}, err
	}
	r.Argv = argv
	s.ContainerCreateCommand = append([]string(nil), argv...)
	return r, nil
}

// renderPrivileges sets no_new_privs and the capability set of the
// container: none but the ones added back by name, or podman's default set
// (plan.CapabilitiesImage).
func renderPrivileges(s *specgen.SpecGenerator, pr plan.Privileges, note func(string, ...any)) {
	pr = pr.Effective()
	if pr.NoNewPrivileges {
		s.NoNewPrivileges = ptr(true)
	}
	if pr.Capabilities != plan.CapabilitiesImage {
		s.CapDrop = []string{"ALL"}
	}
	s.CapAdd = append([]string(nil), pr.Add...)
	if !pr.Least() {
		note("privileges image: the agent keeps podman's default capabilities and setuid binaries (sudo) raise privileges, as the image intends; drop --privileges image for least privilege")
	}
}

// renderLimits sets the container's cgroup limits as podman run's
// --memory, --memory-swap, --cpus and --pids-limit do. A rootless service
// on a cgroup v1 host cannot apply them: asked-for limits are refused, the
// default pids limit is left out with a note.
func renderLimits(s *specgen.SpecGenerator, l plan.Limits, c Config, note func(string, ...any)) error {
	if c.Rootless && c.CgroupV1 {
		if l.Asked() {
			return plan.Errorf(plan.ErrUnsupported, "limits %s: rootless podman cannot apply resource limits on a cgroup v1 host (podman would ignore them); use a rootful service (podman_rootful = true) or --backend docker, boot the host with cgroup v2, or under Slurm ask the scheduler (srun --mem, --cpus-per-task)", l)
		}
		if l.PIDs > 0 {
			note("pids: launch's default limit of %d processes is not applied: rootless podman cannot set limits on this cgroup v1 host", l.PIDs)
		}
		return nil
	}
	if !l.Any() {
		return nil
	}
	r := &specs.LinuxResources{}
	if l.Memory > 0 {
		m := l.Memory
		r.Memory = &specs.LinuxMemory{Limit: &m, Swap: ptr(m)}
	}
	if l.MilliCPUs > 0 {
		// podman run --cpus N: a quota of N periods of 100 ms.
		r.CPU = &specs.LinuxCPU{Period: ptr(uint64(100_000)), Quota: ptr(l.MilliCPUs * 100)}
	}
	if l.PIDs > 0 {
		r.Pids = &specs.LinuxPids{Limit: ptr(l.PIDs)}
	}
	s.ResourceLimits = r
	return nil
}

// identity is who the agent is in the container.
type identity struct {
	userns specgen.Namespace
	// user is the --user value, "UID:GID".
	user string
	// home is the private tmpfs home mounted at Plan.User.Home, or nil when
	// the agent keeps the image's home.
	home *specs.Mount
	// note says which identity and why.
	note string
}

// identify decides who the agent is. The rule of every backend: what the
// agent writes in the workspace belongs to the caller on the host.
//
//   - A rootless service maps the caller to Plan.User with keep-id
//     (--userns keep-id:uid=U,gid=G): the agent is the image user, with the
//     image's home, and its files are the caller's on the host.
//   - A rootful service cannot keep-id (it has no caller to keep): the
//     agent runs as Plan.Caller, unless the caller is Plan.User. Root runs
//     as 0:0 and keeps the image's home (root can write it); anyone else
//     gets a private, empty tmpfs home at Plan.User.Home that they own,
//     unless a mount of the Plan already provides that directory.
//
// Config.UserNS may force keep-id (rootless only) or the host's user
// namespace.
func identify(p plan.Plan, c Config) (identity, error) {
	u, cl := p.User, p.Caller
	image := fmt.Sprintf("%d:%d", u.UID, u.GID)
	switch c.UserNS {
	case UserNSAuto, UserNSKeepID, UserNSHost:
	default:
		return identity{}, plan.Errorf(plan.ErrInvalid, "user namespace %q: want keep-id, host or empty (automatic)", c.UserNS)
	}
	if c.Rootless {
		if c.UserNS == UserNSHost {
			return identity{
				userns: specgen.Namespace{NSMode: specgen.Host},
				user:   image,
				note:   fmt.Sprintf("user namespace host on a rootless service: the agent is %s, one of your subordinate ids on the host, so files it writes to mounts are not owned by you", image),
			}, nil
		}
		return identity{
			userns: specgen.Namespace{NSMode: specgen.KeepID, Value: fmt.Sprintf("uid=%d,gid=%d", u.UID, u.GID)},
			user:   image,
			note:   fmt.Sprintf("user namespace keep-id: rootless podman maps you to the image user %s in the container, so what the agent writes in the workspace stays yours and it keeps the image's home %s", image, u.Home),
		}, nil
	}
	if c.UserNS == UserNSKeepID {
		return identity{}, plan.Errorf(plan.ErrUnsupported, "user namespace keep-id: not supported by a rootful podman service (keep-id maps the user of a rootless service); leave the user namespace unset to run as yourself (%d:%d), or connect to a rootless service", cl.UID, cl.GID)
	}
	var ns specgen.Namespace
	if c.UserNS == UserNSHost {
		ns = specgen.Namespace{NSMode: specgen.Host}
	}
	run := p.Unmapped()
	if run.ImageUser {
		return identity{userns: ns, user: image, note: fmt.Sprintf("rootful podman: the agent runs as the image user %s, who is you, so what it writes in the workspace is yours", image)}, nil
	}
	caller := fmt.Sprintf("%d:%d", run.UID, run.GID)
	if run.ImageHome {
		return identity{userns: ns, user: caller, note: fmt.Sprintf("rootful podman, and you run launch as root: the agent runs as root (%s), not as the image user %s (a rootful service has no keep-id), so that what it writes in the workspace is root's, as yours is; it keeps the image's home %s (root can write it)", caller, image, u.Home)}, nil
	}
	why := fmt.Sprintf("rootful podman, and you are %s, not the image user %s: the agent runs as %s (a rootful service has no keep-id), so that what it writes in the workspace is yours and it can read your private credential files", caller, image, caller)
	keep := "to keep the image's home, use a rootless podman service"
	if cl.UID == 0 {
		// Root without capabilities (least privilege) cannot write a home
		// the image user owns: it gets a private one, as anyone else.
		why = fmt.Sprintf("rootful podman, and you run launch as root: the agent runs as root (%s), not as the image user %s (a rootful service has no keep-id), so that what it writes in the workspace is root's, as yours is; without capabilities root cannot write the image user's home", caller, image)
		keep = "to keep the image's home, use --privileges image (root keeps podman's default capabilities)"
	}
	if run.HomeMount != "" {
		return identity{userns: ns, user: caller, note: fmt.Sprintf("%s; its home %s is what the mount at %s holds", why, u.Home, run.HomeMount)}, nil
	}
	return identity{
		userns: ns,
		user:   caller,
		home: &specs.Mount{
			Type:        "tmpfs",
			Source:      "tmpfs",
			Destination: u.Home,
			// exec: an agent runs what it installs in its home
			// (~/.local/bin). mode=0700: private where the image has no
			// such directory (runc keeps the mode of one it has, checked
			// on podman 4.3). U: podman makes the tmpfs
			// the container user's (uid=, gid= of --user). notmpcopyup: the
			// home starts empty (plan.User.Home); a copy of the image's home
			// would hold files the caller does not own.
			Options: []string{"exec", "mode=0700", "U", "notmpcopyup"},
		},
		note: fmt.Sprintf("%s; its home %s is a new, empty tmpfs that it owns, which hides what the image has there; %s", why, u.Home, keep),
	}, nil
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
