// Package docker is the Docker backend: Render turns a plan.Plan into one
// Docker Engine API request (a pure function), the `docker run` command that
// --dry-run prints is computed from that request, and Exec carries the
// request out through the Engine API.
//
// It may import plan, internal/*, the Docker SDK (github.com/moby/moby/api,
// github.com/moby/moby/client), github.com/containerd/errdefs,
// github.com/opencontainers/image-spec (the platform type the SDK takes),
// golang.org/x/term and the standard library; never another backend or cmd.
package docker

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
)

// PlanLabel is the label that carries plan.Plan.Hash on every container this
// backend creates.
const PlanLabel = "dev.launch.plan"

// Labels that RunLabels sets.
const (
	// PIDLabel holds the process id of the launch that created the container.
	PIDLabel = "dev.launch.pid"
	// StartedLabel holds when that launch started, in RFC 3339 UTC.
	StartedLabel = "dev.launch.started"
)

// RunLabels are the labels cmd/launch puts in Config.Labels for a real run
// (never for a dry run, whose output must not change from one run to the
// next): the launcher's pid and start time.
func RunLabels(pid int, started time.Time) map[string]string {
	return map[string]string{
		PIDLabel:     strconv.Itoa(pid),
		StartedLabel: started.UTC().Format(time.RFC3339),
	}
}

// Config holds what only the Docker backend needs. cmd/launch fills it; Render
// only copies from it.
type Config struct {
	// Name is the container name ("launch-codex-proj"; see ContainerName).
	// Exec appends -2, -3, ... when the name is taken. Empty lets the engine
	// pick a random name.
	Name string
	// Labels are added to the Plan's labels: cmd sets the launcher's pid and
	// start time here for a real run only, so that a dry run prints the same
	// command every time. Keys may not contain '='.
	Labels map[string]string
	// StopTimeout is how many seconds the engine waits after SIGTERM before it
	// kills the container when the run is cancelled (--stop-timeout). Zero
	// means the engine's default (10 s).
	StopTimeout int
	// ConfigDir is the Docker CLI's configuration directory ($DOCKER_CONFIG or
	// ~/.docker), read by Exec for registry credentials when it must pull.
	// Empty means no credentials: pulls are anonymous.
	ConfigDir string
}

// Request is one Engine API container-create request: what
// POST /containers/create receives, plus the name and platform that go in
// its query string.
type Request struct {
	Name             string                    `json:"Name,omitempty"`
	Platform         *ocispec.Platform         `json:"Platform,omitempty"`
	Config           *container.Config         `json:"Config"`
	HostConfig       *container.HostConfig     `json:"HostConfig"`
	NetworkingConfig *network.NetworkingConfig `json:"NetworkingConfig"`
}

// Rendered is everything the Docker backend will do for one Plan.
type Rendered struct {
	// Request is the container to create. Config.Env holds every value,
	// inherited ones included: they travel over the API socket only.
	Request Request
	// Inherited lists, sorted, the names in Request.Config.Env whose values
	// come from the host environment (plan.EnvVar.FromHost). The printed
	// command passes them by name (--env NAME).
	Inherited []string
	// Pull is the image pull policy; never empty.
	Pull plan.PullPolicy
	// Prepare lists host paths the printed snippet creates before it runs
	// the container (a real run has cmd create them before Exec).
	Prepare []plan.HostPath
	// ConfigDir is Config.ConfigDir.
	ConfigDir string

	notes []string
}

// unsupported is a render error for a valid Plan this backend cannot honour.
// It wraps plan.ErrUnsupported without adding that error's text, so the
// message stays one actionable line.
type unsupported string

func (e unsupported) Error() string { return string(e) }
func (e unsupported) Unwrap() error { return plan.ErrUnsupported }

// invalid is a render error for a Config value Docker rejects.
type invalid string

func (e invalid) Error() string { return string(e) }
func (e invalid) Unwrap() error { return plan.ErrInvalid }

// nameRE is the engine's rule for container names.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Render decides everything the Docker backend will do with p. It does no
// I/O and reads no environment or clock. A part of p that Docker cannot
// honour yet is an error wrapping plan.ErrUnsupported; a bad Config value is
// an error wrapping plan.ErrInvalid.
func Render(p plan.Plan, c Config) (Rendered, error) {
	if err := p.Validate(); err != nil {
		return Rendered{}, err
	}
	if p.Image.OCI == "" {
		return Rendered{}, unsupported("image: the plan names only a SIF image; the docker backend needs an OCI reference (--image) or use --backend singularity")
	}
	if p.Network.Mode == plan.NetworkAllow {
		return Rendered{}, unsupported("network allowlist: not enforced by the docker backend yet; use --network none or open")
	}
	if c.Name != "" && !nameRE.MatchString(c.Name) {
		return Rendered{}, invalid(fmt.Sprintf("container name %q: want letters, digits, '_', '.' and '-', starting with a letter or digit", c.Name))
	}
	if c.StopTimeout < 0 {
		return Rendered{}, invalid(fmt.Sprintf("stop timeout %d: want seconds >= 0", c.StopTimeout))
	}

	r := Rendered{
		Pull:      p.Pull,
		Prepare:   slices.Clone(p.Prepare),
		ConfigDir: c.ConfigDir,
	}
	if r.Pull == "" {
		r.Pull = plan.PullMissing
	}

	labels := map[string]string{}
	for _, m := range []map[string]string{p.Labels, c.Labels} {
		for k, v := range m {
			if k == "" || strings.ContainsAny(k, "=\n") {
				return Rendered{}, invalid(fmt.Sprintf("label %q: a label key may not be empty or contain '=' or a newline", k))
			}
			labels[k] = v
		}
	}
	labels[PlanLabel] = p.Hash()

	envs := p.EnvWithPath("")
	env := make([]string, 0, len(envs))
	for _, e := range envs {
		env = append(env, e.Name+"="+e.Value)
		if e.FromHost {
			r.Inherited = append(r.Inherited, e.Name)
		}
	}

	cfg := &container.Config{
		User: fmt.Sprintf("%d:%d", p.User.UID, p.User.GID),
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

	host := &container.HostConfig{
		AutoRemove: true,
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
	if p.Runtime == plan.RuntimeRunsc {
		host.Runtime = string(plan.RuntimeRunsc)
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
		Config:           cfg,
		HostConfig:       host,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}},
	}
	if pl := p.Image.Platform; !pl.IsZero() {
		r.Request.Platform = &ocispec.Platform{OS: pl.OS, Architecture: pl.Arch, Variant: pl.Variant}
	}

	// Notes, in a fixed order.
	if len(r.Inherited) > 0 {
		r.notes = append(r.notes, fmt.Sprintf("values passed by name (--env NAME) come from the environment of the shell that runs the command, and docker leaves out any that is unset there: %s", strings.Join(r.Inherited, ", ")))
	}
	if p.TTY {
		r.notes = append(r.notes, "the command uses -t: run it from a terminal")
	}
	if masked+maskedFiles > 0 {
		r.notes = append(r.notes, "masked directories are empty read-only tmpfs mounts; masked files are a read-only bind of /dev/null (reads are empty, writes are discarded)")
	}
	if p.Runtime == plan.RuntimeRunsc {
		r.notes = append(r.notes, "--runtime runsc needs gVisor registered with dockerd (see docs/docker.md); Docker Desktop for macOS has no runsc")
	}
	if p.GPUs.Any() {
		r.notes = append(r.notes, "--gpus needs the NVIDIA Container Toolkit on the engine's host")
	}
	if c.Name != "" {
		r.notes = append(r.notes, fmt.Sprintf("the command fails if a container named %s exists; a real run picks %s-2, %s-3, ... instead", c.Name, c.Name, c.Name))
	}
	return r, nil
}

// Argv is the `docker run` command line that creates the container Exec
// creates, computed from r.Request by Command.
func (r Rendered) Argv() []string { return Command("run", r.Request, r.Inherited) }

// Snippet is the POSIX shell text --dry-run prints: the host preparation of
// the Plan (shell.Prepare: private directories, missing files written), then the
// docker run command. It runs as printed in sh and bash, creates nothing
// until it is run, and shows inherited values by name only.
func (r Rendered) Snippet() string { return r.snippet("run") }

func (r Rendered) snippet(verb string) string {
	lines := append(shell.Prepare(r.Prepare), shell.Join(Command(verb, r.Request, r.Inherited)))
	return strings.Join(lines, "\n") + "\n"
}

// Notes are remarks for stderr about the printed command: what it needs from
// the shell that runs it and how it differs from a real run.
func (r Rendered) Notes() []string { return slices.Clone(r.notes) }

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
	if cfg.OpenStdin {
		argv = append(argv, "-i")
	}
	if cfg.Tty {
		argv = append(argv, "-t")
	}
	if req.Name != "" {
		argv = append(argv, "--name", req.Name)
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
	if host.Runtime != "" {
		argv = append(argv, "--runtime", host.Runtime)
	}
	if cfg.StopTimeout != nil {
		argv = append(argv, "--stop-timeout", fmt.Sprint(*cfg.StopTimeout))
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
	keys := make([]string, 0, len(cfg.Labels))
	for k := range cfg.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
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

// ContainerName builds a valid container name from its parts
// ("launch", "codex", "my proj" → "launch-codex-my-proj"): each run of
// characters the engine refuses becomes one '-', and empty parts are left out.
func ContainerName(parts ...string) string {
	var out []string
	for _, p := range parts {
		var b strings.Builder
		dash := false
		for _, r := range p {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
			if !ok {
				if !dash && b.Len() > 0 {
					b.WriteByte('-')
				}
				dash = true
				continue
			}
			b.WriteRune(r)
			dash = false
		}
		if s := strings.Trim(b.String(), "-._"); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "-")
}
