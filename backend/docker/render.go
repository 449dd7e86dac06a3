// Package docker is the Docker backend: Render turns a plan.Plan into one
// Docker Engine API request (a pure function), the `docker run` command that
// --dry-run prints is computed from that request, and Exec carries the
// request out through the Engine API.
//
// It may import plan, internal/*, session (what launch ps shows), the Docker SDK (github.com/moby/moby/api,
// github.com/moby/moby/client), github.com/containerd/errdefs,
// github.com/opencontainers/image-spec (the platform type the SDK takes),
// golang.org/x/term and the standard library; never another backend or cmd.
package docker

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
)

// Config holds what only the Docker backend needs. cmd/launch fills it; Render
// only copies from it.
type Config struct {
	// Name is the container name (naming.ContainerName). Exec appends -2,
	// -3, ... when the name is taken. Empty lets the engine pick a random
	// name.
	Name string
	// Labels are added to the Plan's labels (naming.Labels): cmd sets the
	// launcher's pid and start time here for a real run only
	// (naming.RunLabels), so that a dry run prints the same command every
	// time. A key the Plan already sets is an error.
	Labels map[string]string
	// StopTimeout is how many seconds the engine waits after SIGTERM before it
	// kills the container when the run is cancelled (--stop-timeout). Zero
	// means the engine's default (10 s).
	StopTimeout int
	// ConfigDir is the Docker CLI's configuration directory ($DOCKER_CONFIG or
	// ~/.docker), read by Exec for registry credentials when it must pull.
	// Empty means no credentials: pulls are anonymous.
	ConfigDir string
	// HostIDs is set when the engine's containers use the caller's own
	// kernel and file system with the host's ids unchanged (dockerd on
	// Linux): what the agent writes as uid N belongs to host uid N. Render
	// then runs the agent as Plan.Caller when the caller is not Plan.User
	// (docker has no keep-id). Unset (Docker Desktop, Colima, OrbStack on
	// macOS or Windows, whose file sharing gives the caller what the
	// container writes), the agent runs as Plan.User. cmd/launch sets it
	// when launch runs on Linux.
	HostIDs bool
	// Detach starts the session and returns (--detach): the container is
	// created without AutoRemove and without attached streams, keeps stdin
	// open for a later `launch attach`, and stays until `launch stop` or
	// `launch gc` removes it, so that its output and exit code can be read
	// after it ends.
	Detach bool
}

// Request is one Engine API container-create request: what
// POST /containers/create receives, plus the name and platform that go in
// its query string, and the pull policy Exec applies before the create.
type Request struct {
	Name     string            `json:"Name,omitempty"`
	Platform *ocispec.Platform `json:"Platform,omitempty"`
	// Pull says when Exec pulls Config.Image before the create (docker run
	// --pull); never empty in a rendered request.
	Pull plan.PullPolicy `json:"Pull"`
	// Detach says Exec starts the container and returns (docker run -d)
	// instead of attaching to it.
	Detach           bool                      `json:"Detach,omitempty"`
	Config           *container.Config         `json:"Config"`
	HostConfig       *container.HostConfig     `json:"HostConfig"`
	NetworkingConfig *network.NetworkingConfig `json:"NetworkingConfig"`
}

// Rendered is everything the Docker backend will do for one Plan.
type Rendered struct {
	// Request is the container to create. Config.Env holds every value,
	// inherited ones included: they travel over the API socket only. With
	// path prepends, its PATH is the dry run's (the prepends in front of
	// plan.FallbackPath); Exec puts them in front of the image's own PATH
	// instead.
	Request Request
	// Inherited lists, sorted, the names in Request.Config.Env whose values
	// come from the host environment (plan.EnvVar.FromHost). The printed
	// command passes them by name (--env NAME).
	Inherited []string
	// Prepare lists host paths the printed snippet creates before it runs
	// the container (a real run has cmd create them before Exec).
	Prepare []plan.HostPath
	// ConfigDir is Config.ConfigDir.
	ConfigDir string
	// OnPull, when set (by the caller, before Exec), is told each image
	// Exec pulls that the engine did not have under that reference before:
	// the reference and the image ID it names now. cmd records it for
	// launch gc --images.
	OnPull func(ref, id string)

	// p is the Plan, for what Exec computes from the image: the PATH
	// (p.EnvWithPath) when p.PathPrepend is not empty.
	p plan.Plan
	// notes are true of every run of r; cmdNotes only of the printed
	// command (Snippet), which a real run does not use.
	notes, cmdNotes []string
	// hostUDS is set when the container must connect to a host Unix socket
	// (the allowlist's proxy): under runsc, Exec checks that gVisor allows
	// it (--host-uds=open).
	hostUDS bool
	// Sidecar, when not nil, is the proxy container and the volume of its
	// socket, for an allowlist enforced by a sidecar (plan.Sidecar).
	Sidecar *Sidecar
}

// Render decides everything the Docker backend will do with p. It does no
// I/O and reads no environment or clock. A part of p that Docker cannot
// honour yet is an error wrapping plan.ErrUnsupported; a bad Config value is
// an error wrapping plan.ErrInvalid.
func Render(p plan.Plan, c Config) (Rendered, error) {
	if err := p.Validate(); err != nil {
		return Rendered{}, err
	}
	if p.Image.OCI == "" {
		return Rendered{}, plan.Errorf(plan.ErrUnsupported, "image: the plan names only a SIF image; the docker backend needs an OCI reference (--image) or use --backend singularity")
	}
	// An allowlist is a container without network, behind launch's proxy
	// (on the host, or in a sidecar container: x).
	hostUDS := p.Network.Proxy != nil || p.Network.Sidecar != nil
	x, policy := p.Network.Sidecar, p.Network
	p, err := p.Enforced()
	if err != nil {
		return Rendered{}, err
	}
	if err := naming.CheckName(c.Name); err != nil {
		return Rendered{}, err
	}
	if c.StopTimeout < 0 {
		return Rendered{}, plan.Errorf(plan.ErrInvalid, "stop timeout %d: want seconds >= 0", c.StopTimeout)
	}
	labels, err := naming.Labels(p, naming.AgentLabels(x, c.Labels))
	if err != nil {
		return Rendered{}, err
	}
	who, err := identity(p, c)
	if err != nil {
		return Rendered{}, err
	}

	r := Rendered{
		Prepare:   slices.Clone(p.Prepare),
		ConfigDir: c.ConfigDir,
		p:         p,
		hostUDS:   hostUDS,
	}
	pull := p.Pull
	if pull == "" {
		pull = plan.PullMissing
	}

	// The dry run cannot read the image's PATH: it prints the prepends in
	// front of plan.FallbackPath, and Exec replaces that PATH with the
	// prepends in front of the image's own (withImagePath).
	env, inherited := envList(p.EnvWithPath(""))
	r.Inherited = inherited

	cfg := &container.Config{
		User: who.user,
		// Stdin is always kept open (plan.Plan.TTY); StdinOnce closes the
		// container's stdin when our attached stdin ends, as `docker run -i`
		// does, so that `echo hi | launch shell -- cat` terminates.
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		OpenStdin:    true,
		StdinOnce:    true,
		Tty:          p.TTY,
		Env:          env,
		Cmd:          slices.Clone(p.Argv),
		Image:        p.Image.OCI,
		WorkingDir:   p.Workdir,
		Labels:       labels,
	}
	if c.StopTimeout > 0 {
		t := c.StopTimeout
		cfg.StopTimeout = &t
	}
	if c.Detach {
		// docker run -d -i: nothing attached now, stdin kept open for
		// `launch attach`, and not closed when that attach detaches.
		cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr, cfg.StdinOnce = false, false, false, false
	}

	host := &container.HostConfig{
		AutoRemove: !c.Detach,
		// The engine's init (docker-init, tini) is PID 1, not the agent:
		// it forwards SIGTERM, so that a stop ends the agent without the
		// SIGKILL that follows the stop timeout, and it reaps the agent's
		// orphaned children, which would otherwise stay zombies.
		Init: ptrTo(true),
		// The values `docker run` sends when no flag says otherwise, so that
		// both paths create identical containers.
		NetworkMode:   "default",
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	switch p.Network.Mode {
	case plan.NetworkNone:
		host.NetworkMode = network.NetworkNone
	case plan.NetworkOpen:
	}
	publish(cfg, host, p.Publish)
	if p.Runtime == plan.RuntimeRunsc {
		host.Runtime = string(plan.RuntimeRunsc)
	}
	privileges(host, p.Privileges)
	limits(host, p.Limits)
	if who.home != "" {
		// HostConfig.Tmpfs (--tmpfs) rather than a tmpfs in Mounts: the
		// mount API takes no uid or gid before API 1.46, and --mount's
		// tmpfs options have neither. The engine mounts it before the
		// credential binds below it (it sorts mounts by depth).
		host.Tmpfs = map[string]string{who.home: who.tmpfs}
	}
	var masked, maskedFiles int
	for _, m := range p.Mounts {
		switch {
		case m.Kind == plan.MountBind:
			host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		case m.File:
			// HostConfig.MaskedPaths exists only in the API (moby/moby#36644);
			// a read-only bind of /dev/null reads empty on both paths.
			host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/dev/null", Target: m.Target, ReadOnly: true})
			maskedFiles++
		default:
			// An empty tmpfs, mounted read-only: writes fail with EROFS, for
			// root too (checked on dockerd 20.10 and by the integration tests).
			host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeTmpfs, Target: m.Target, ReadOnly: true})
			masked++
		}
	}
	if p.GPUs.Any() {
		req := container.DeviceRequest{Capabilities: [][]string{{"gpu"}}, Options: map[string]string{}}
		if p.GPUs.All {
			req.Count = -1
		} else {
			req.DeviceIDs = slices.Clone(p.GPUs.Devices)
		}
		host.DeviceRequests = []container.DeviceRequest{req}
	}

	r.Request = Request{
		Name:             c.Name,
		Pull:             pull,
		Detach:           c.Detach,
		Config:           cfg,
		HostConfig:       host,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}},
	}
	if pl := p.Image.Platform; !pl.IsZero() {
		r.Request.Platform = &ocispec.Platform{OS: pl.OS, Architecture: pl.Arch, Variant: pl.Variant}
	}
	if x != nil {
		// The proxy's socket is on the sidecar's volume.
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeVolume, Source: x.Volume, Target: plan.ProxyDir})
		r.Sidecar = renderSidecar(p, policy, *x, cfg.User, pull, c.Labels)
		r.Sidecar.Request.Platform = r.Request.Platform
	}

	// Notes, in a fixed order.
	if who.note != "" {
		r.notes = append(r.notes, who.note)
	}
	if len(p.PathPrepend) > 0 {
		dirs := strings.Join(p.PathPrepend, ":")
		r.cmdNotes = append(r.cmdNotes, fmt.Sprintf("PATH: the command puts %s in front of a default PATH (%s); a real run puts them in front of the image's own PATH instead, which only the image knows", dirs, plan.FallbackPath))
	}
	if len(r.Inherited) > 0 {
		r.cmdNotes = append(r.cmdNotes, fmt.Sprintf("values passed by name (--env NAME) come from the environment of the shell that runs the command, and docker leaves out any that is unset there: %s", strings.Join(r.Inherited, ", ")))
	}
	if masked+maskedFiles > 0 {
		r.notes = append(r.notes, "masked directories are empty read-only tmpfs mounts; masked files are a read-only bind of /dev/null (reads are empty, writes are discarded)")
	}
	if p.Runtime == plan.RuntimeRunsc {
		r.notes = append(r.notes, "--runtime runsc needs gVisor registered with dockerd (see docs/docker.md); Docker Desktop for macOS has no runsc")
	}
	if !p.Privileges.Least() {
		r.notes = append(r.notes, "privileges image: the agent keeps docker's default capabilities and setuid binaries (sudo) raise privileges, as the image intends; drop --privileges image (or privileges = \"image\" in a config file) for least privilege")
	}
	if p.GPUs.Any() {
		r.notes = append(r.notes, "--gpus needs the NVIDIA Container Toolkit on the engine's host")
	}
	if c.Name != "" {
		r.cmdNotes = append(r.cmdNotes, fmt.Sprintf("the command fails if a container named %s exists; a real run picks %s, %s, ... instead", c.Name, naming.Numbered(c.Name, 2), naming.Numbered(c.Name, 3)))
	}
	return r, nil
}

// privileges renders plan.Privileges: no-new-privileges as a security
// option, no capabilities as a drop of ALL (the bounding set too), and the
// ones added back by name.
// publish renders the published ports as `docker run -p IP:H:C` does: the
// container port exposed, and bound on the host address and port.
func publish(cfg *container.Config, host *container.HostConfig, ports []plan.Port) {
	for _, x := range ports {
		c, _ := network.PortFrom(uint16(x.ContainerPort), network.TCP)
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts, host.PortBindings = network.PortSet{}, network.PortMap{}
		}
		cfg.ExposedPorts[c] = struct{}{}
		// Validate checked the address and the ports.
		host.PortBindings[c] = append(host.PortBindings[c], network.PortBinding{HostIP: netip.MustParseAddr(x.HostIP), HostPort: strconv.Itoa(x.HostPort)})
	}
}

func privileges(host *container.HostConfig, pr plan.Privileges) {
	pr = pr.Effective()
	if pr.NoNewPrivileges {
		host.SecurityOpt = []string{"no-new-privileges"}
	}
	if pr.Capabilities != plan.CapabilitiesImage {
		host.CapDrop = []string{"ALL"}
	}
	host.CapAdd = slices.Clone(pr.Add)
}

// limits renders plan.Limits: memory without extra swap (MemorySwap equal
// to Memory), CPUs as NanoCPUs (--cpus), pids as PidsLimit.
func limits(host *container.HostConfig, l plan.Limits) {
	if l.Memory > 0 {
		host.Memory, host.MemorySwap = l.Memory, l.Memory
	}
	if l.MilliCPUs > 0 {
		host.NanoCPUs = l.MilliCPUs * 1_000_000
	}
	if l.PIDs > 0 {
		n := l.PIDs
		host.PidsLimit = &n
	}
}

// envList is env as Config.Env takes it (NAME=value, in env's order) and
// the names whose values are inherited from the host.
func envList(env []plan.EnvVar) (list, inherited []string) {
	list = make([]string, 0, len(env))
	for _, e := range env {
		list = append(list, e.Name+"="+e.Value)
		if e.FromHost {
			inherited = append(inherited, e.Name)
		}
	}
	return list, inherited
}

// who is the identity the agent runs with.
type who struct {
	// user is Config.User, "uid:gid".
	user string
	// home, when set, is the agent's home: a private tmpfs mounted there
	// with the options in tmpfs, hiding the image's own home.
	home, tmpfs string
	// note says which identity is used and why; empty when it is the
	// image user, as the Plan asks.
	note string
}

// identity decides who the agent is. The rule for every backend: the agent
// can write the workspace, and what it writes belongs to the caller on the
// host. Docker has no keep-id, so on an engine that shares the host's ids
// (c.HostIDs) a caller other than the image user runs the agent as
// themselves: root as 0:0 with the image's home (root can write it), anyone
// else with a private tmpfs home at Plan.User.Home that they own.
func identity(p plan.Plan, c Config) (who, error) {
	u, cl, run := p.User, p.Caller, p.Unmapped()
	image := fmt.Sprintf("%d:%d", u.UID, u.GID)
	if run.ImageUser {
		return who{user: image}, nil
	}
	if !c.HostIDs {
		return who{user: image, note: fmt.Sprintf("the agent runs as the image user %s (you are %d:%d): the engine's file sharing (Docker Desktop, Colima, OrbStack) gives you what it writes in the workspace", image, cl.UID, cl.GID)}, nil
	}
	caller := fmt.Sprintf("%d:%d", run.UID, run.GID)
	if run.ImageHome {
		return who{user: caller, note: fmt.Sprintf("you run launch as root: the agent runs as root (%s), not as the image user %s, so that what it writes in the workspace is root's, as yours is; it keeps the image's home %s (root can write it)", caller, image, u.Home)}, nil
	}
	why := fmt.Sprintf("you are %s, not the image user %s: the agent runs as %s (docker has no keep-id), so that what it writes in the workspace is yours and it can read your private credential files", caller, image, caller)
	keep := "to keep the image's home, set uid and gid under [image_defaults] to yours if the image allows, or use rootless podman (--backend podman)"
	if cl.UID == 0 {
		// Root without capabilities (least privilege) cannot write a home
		// the image user owns: it gets a private one, as anyone else.
		why = fmt.Sprintf("you run launch as root: the agent runs as root (%s), not as the image user %s, so that what it writes in the workspace is root's, as yours is; without capabilities root cannot write the image user's home", caller, image)
		keep = "to keep the image's home, use --privileges image (root keeps docker's default capabilities)"
	}
	if run.HomeMount != "" {
		return who{user: caller, note: fmt.Sprintf("%s; its home %s is what the mount at %s holds", why, u.Home, run.HomeMount)}, nil
	}
	if strings.ContainsAny(u.Home, ":,") {
		return who{}, plan.Errorf(plan.ErrUnsupported, "user home %q: the docker backend mounts a private home there for uid %d, and a path with ':' or ',' cannot be written in --tmpfs; use another home or --backend podman", u.Home, cl.UID)
	}
	return who{
		user: caller,
		home: u.Home,
		// exec: docker's --tmpfs default is noexec, and an agent runs
		// what it installs in its home (~/.local/bin). mode: runc keeps
		// the mode of a directory the image has at that path; gVisor and
		// a new directory get 0700.
		tmpfs: fmt.Sprintf("exec,mode=0700,uid=%d,gid=%d", run.UID, run.GID),
		note:  fmt.Sprintf("%s; its home %s is a new, empty tmpfs that it owns, which hides what the image has there; %s", why, u.Home, keep),
	}, nil
}

// Argv is the `docker run` command line that creates the container Exec
// creates, computed from r.Request by Command.
func (r Rendered) Argv() []string { return Command("run", r.Request, r.Inherited) }

// Snippet is the POSIX shell text --dry-run prints: the host preparation of
// the Plan (shell.Prepare: private directories, missing files written), then the
// docker run command. It runs as printed in sh and bash, creates nothing
// until it is run, and shows inherited values by name only.
//
// An attached run decides -t when it runs, from the terminal of the shell
// that runs it (shell.Terminal), in a subshell: a real run decides it from
// launch's own (Config.Tty), but the snippet is often run elsewhere
// (`| sh`, eval, a copy). A detached run attaches nothing and keeps Tty.
func (r Rendered) Snippet() string { return r.snippet("run") }

func (r Rendered) snippet(verb string) string {
	if r.Request.Detach {
		run := shell.Join(Command(verb, r.Request, r.Inherited))
		if r.Sidecar != nil {
			return r.sidecarSnippet(nil, run)
		}
		lines := append(shell.Prepare(r.Prepare), run)
		return strings.Join(lines, "\n") + "\n"
	}
	req := r.Request
	cfg := *req.Config
	cfg.Tty = true
	req.Config = &cfg
	run := shell.JoinTTY(Command(verb, req, r.Inherited), "-t")
	if r.Sidecar != nil {
		return r.sidecarSnippet(shell.Terminal("-t"), run)
	}
	lines := append([]string{"("}, shell.Terminal("-t")...)
	lines = append(lines, shell.Prepare(r.Prepare)...)
	lines = append(lines, run, ")")
	return strings.Join(lines, "\n") + "\n"
}

// Notes are remarks for stderr that are true of every run of r, real or
// printed: who the agent runs as, what a mask is, what a setting needs from
// the engine.
func (r Rendered) Notes() []string { return slices.Clone(r.notes) }

// CommandNotes are remarks for stderr about the printed command only: what
// it needs from the shell that runs it and how it differs from a real run.
// A real run does not print them, not even with --verbose.
func (r Rendered) CommandNotes() []string { return slices.Clone(r.cmdNotes) }

// Command computes the docker CLI command (verb "run" or "create") that sends
// req to the engine. It is the only place that turns a request into a command
// line, and it reads nothing but its arguments. Every request field that
// Render sets has a flag here; the names in inherited are rendered as
// --env NAME, so that their values never appear on a command line.
func Command(verb string, req Request, inherited []string) []string {
	cfg, host := req.Config, req.HostConfig
	if cfg == nil {
		cfg = &container.Config{}
	}
	if host == nil {
		host = &container.HostConfig{}
	}
	argv := []string{"docker", verb}
	if host.AutoRemove {
		argv = append(argv, "--rm")
	}
	if host.Init != nil && *host.Init {
		argv = append(argv, "--init")
	}
	if req.Detach {
		argv = append(argv, "-d")
	}
	if cfg.OpenStdin {
		argv = append(argv, "-i")
	}
	if cfg.Tty {
		argv = append(argv, "-t")
	}
	if req.Name != "" {
		argv = append(argv, "--name", req.Name)
	}
	if req.Pull != "" {
		// docker run --pull does what Exec does before its create: pull
		// always, when missing, or never.
		argv = append(argv, "--pull", string(req.Pull))
	}
	if req.Platform != nil && req.Platform.OS != "" {
		argv = append(argv, "--platform", formatPlatform(*req.Platform))
	}
	if cfg.User != "" {
		argv = append(argv, "--user", cfg.User)
	}
	if cfg.WorkingDir != "" {
		argv = append(argv, "--workdir", cfg.WorkingDir)
	}
	switch host.NetworkMode {
	case "", "default":
	default:
		argv = append(argv, "--network", string(host.NetworkMode))
	}
	argv = append(argv, publishFlags(host.PortBindings)...)
	if host.ReadonlyRootfs {
		argv = append(argv, "--read-only")
	}
	if host.Runtime != "" {
		argv = append(argv, "--runtime", host.Runtime)
	}
	if cfg.StopTimeout != nil {
		argv = append(argv, "--stop-timeout", fmt.Sprint(*cfg.StopTimeout))
	}
	for _, c := range host.CapDrop {
		argv = append(argv, "--cap-drop", c)
	}
	for _, c := range host.CapAdd {
		argv = append(argv, "--cap-add", c)
	}
	for _, o := range host.SecurityOpt {
		argv = append(argv, "--security-opt", o)
	}
	if host.Memory > 0 {
		argv = append(argv, "--memory", plan.FormatBytes(host.Memory))
	}
	if host.MemorySwap != 0 {
		argv = append(argv, "--memory-swap", plan.FormatBytes(host.MemorySwap))
	}
	if host.NanoCPUs > 0 {
		argv = append(argv, "--cpus", plan.FormatCPUs(host.NanoCPUs/1_000_000))
	}
	if host.PidsLimit != nil {
		argv = append(argv, "--pids-limit", fmt.Sprint(*host.PidsLimit))
	}
	for _, d := range host.DeviceRequests {
		argv = append(argv, "--gpus", gpusFlag(d))
	}
	byName := map[string]bool{}
	for _, n := range inherited {
		byName[n] = true
	}
	// Env keeps the request's order (Render sorts it by name), so that the
	// engine stores the same list on both paths.
	for _, kv := range cfg.Env {
		name, _, _ := strings.Cut(kv, "=")
		if byName[name] {
			argv = append(argv, "--env", name)
		} else {
			argv = append(argv, "--env", kv)
		}
	}
	for _, m := range host.Mounts {
		argv = append(argv, "--mount", mountFlag(m))
	}
	for _, dir := range sortedKeys(host.Tmpfs) {
		if opts := host.Tmpfs[dir]; opts != "" {
			argv = append(argv, "--tmpfs", dir+":"+opts)
		} else {
			argv = append(argv, "--tmpfs", dir)
		}
	}
	for _, k := range sortedKeys(cfg.Labels) {
		argv = append(argv, "--label", k+"="+cfg.Labels[k])
	}
	if len(cfg.Entrypoint) > 0 {
		// Render keeps the image's entrypoint; this is for completeness.
		argv = append(argv, "--entrypoint", cfg.Entrypoint[0])
	}
	argv = append(argv, cfg.Image)
	if len(cfg.Entrypoint) > 1 {
		argv = append(argv, cfg.Entrypoint[1:]...)
	}
	return append(argv, cfg.Cmd...)
}

// publishFlags are the -p flags of bindings, by container port.
func publishFlags(bindings network.PortMap) []string {
	ports := make([]network.Port, 0, len(bindings))
	for c := range bindings {
		ports = append(ports, c)
	}
	slices.SortFunc(ports, func(a, b network.Port) int { return int(a.Num()) - int(b.Num()) })
	var argv []string
	for _, c := range ports {
		for _, b := range bindings[c] {
			ctr := c.Port()
			if c.Proto() != network.TCP {
				ctr = c.String()
			}
			argv = append(argv, "-p", net.JoinHostPort(b.HostIP.String(), b.HostPort)+":"+ctr)
		}
	}
	return argv
}

func formatPlatform(p ocispec.Platform) string {
	s := p.OS
	for _, part := range []string{p.Architecture, p.Variant} {
		if part != "" {
			s += "/" + part
		}
	}
	return s
}

// mountFlag renders m in --mount's CSV syntax. A field holding a double quote
// is CSV-quoted; plan.Validate already refuses ',' and newlines in paths.
func mountFlag(m mount.Mount) string {
	fields := []string{"type=" + string(m.Type)}
	if m.Source != "" {
		fields = append(fields, "source="+m.Source)
	}
	fields = append(fields, "target="+m.Target)
	if m.ReadOnly {
		fields = append(fields, "readonly")
	}
	for i, f := range fields {
		fields[i] = csvField(f)
	}
	return strings.Join(fields, ",")
}

// gpusFlag renders a device request as --gpus takes it: "all", or a quoted
// CSV field "device=0,2" (the quotes keep the comma inside the field).
func gpusFlag(d container.DeviceRequest) string {
	if d.Count == -1 && len(d.DeviceIDs) == 0 {
		return "all"
	}
	if len(d.DeviceIDs) > 0 {
		return `"` + strings.ReplaceAll("device="+strings.Join(d.DeviceIDs, ","), `"`, `""`) + `"`
	}
	return fmt.Sprint(d.Count)
}

func csvField(s string) string {
	if !strings.ContainsAny(s, "\",\n\r") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func ptrTo[T any](v T) *T { return &v }
