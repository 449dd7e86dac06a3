package main

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// errUsage is wrapped by errors in what the user asked for: bad flags, specs,
// paths, config. main exits 2 on them.
var errUsage = errors.New("usage error")

// usagef formats a usage error once; %w arguments keep their errors.Is
// chains.
func usagef(format string, args ...any) error {
	return fmt.Errorf(format+"%w", append(args, errUsageMark{})...)
}

// errUsageMark prints nothing and unwraps to errUsage, so usagef messages
// stay one clean line.
type errUsageMark struct{}

func (errUsageMark) Error() string { return "" }
func (errUsageMark) Unwrap() error { return errUsage }

// Fixed container paths and values.
const (
	// CertsTarget is where --certs puts the PEM bundle.
	CertsTarget = "/etc/ssl/launch/ca-bundle.pem"
	// BedrockProfile is the AWS profile that the credential helper exports.
	BedrockProfile = "llm-export"
)

// resolved is a Plan and what the user should hear about how it was made.
type resolved struct {
	Plan plan.Plan
	notes
}

// notes are what the user hears about how a Plan was made: warnings go to
// stderr always, Info only with --verbose.
type notes struct {
	Warnings []string
	Info     []string
}

func (n *notes) warn(format string, args ...any) {
	n.Warnings = append(n.Warnings, fmt.Sprintf(format, args...))
}

func (n *notes) info(format string, args ...any) {
	n.Info = append(n.Info, fmt.Sprintf(format, args...))
}

// workspace is the workspace's host path (as the user knows it, and with
// every link resolved) and its path in the container.
type workspace struct{ host, real, target string }

// m is the workspace as package mounts checks paths against it.
func (ws workspace) m() mounts.Workspace {
	return mounts.Workspace{Host: ws.host, Real: ws.real, Target: ws.target}
}

// resolve builds the Plan for o on host h, one question at a time, in the
// order the docs explain them. It reads the host (stat, conda) but never
// writes: nothing is created on disk.
func resolve(o *options, h *Host) (resolved, error) {
	var r resolved
	r.Warnings = append(r.Warnings, o.warnings...)
	a, err := agentOf(o)
	if err != nil {
		return r, err
	}
	ws, err := workspaceOf(o, h)
	if err != nil {
		return r, err
	}
	p := &r.Plan
	*p = plan.Plan{Agent: a.Name, Argv: commandOf(a, o.Args), Workspace: ws.host, Workdir: ws.target, TTY: h.Terminal}
	p.User, p.Caller = identityOf(o.Defaults, h)
	if p.Image, p.Pull, err = imageOf(o, a, h, &r.notes); err != nil {
		return r, err
	}
	p.Runtime = plan.Runtime(o.Runtime)
	if p.Network, err = networkOf(o, h, a.Name, p.Image.Platform.Arch); err != nil {
		return r, err
	}
	for _, x := range o.Publish {
		p.Publish = append(p.Publish, plan.Port(x))
	}
	p.GPUs = gpusOf(o, h, &r.notes)
	p.Privileges, p.Limits = privilegesOf(o, a), limitsOf(o, a)
	m, err := mountsOf(o, a, h, ws, p.User, &r.notes)
	if err != nil {
		return r, err
	}
	p.Mounts, p.Prepare, p.Protected, p.ProtectedGitDirs, p.Watched = m.mounts, m.prepare, m.protected, m.gitDirs, m.watched
	if x := p.Network.Sidecar; x != nil {
		// The sidecar writes the session log into this directory.
		p.Prepare = append(p.Prepare, plan.HostPath{Path: filepath.Dir(x.Log), Dir: true})
	}
	p.Prompt, p.Skills = m.ctx.prompt, m.ctx.skills
	if len(m.ctx.args) > 0 {
		a.Command = append(append([]string(nil), a.Command...), m.ctx.args...)
		p.Argv = commandOf(a, o.Args)
	}
	if p.Exposes, err = exposureOf(o, h, ws, p.Mounts, &r.notes); err != nil {
		return r, err
	}
	if p.Isolation, err = isolationOf(o, a, h, ws, p.Mounts, &r.notes); err != nil {
		return r, err
	}
	if p.Env, err = envOf(o, a, h, *p, m, &r.notes); err != nil {
		return r, err
	}
	p.SSH = m.ctx.ssh
	for _, e := range m.ctx.env {
		if _, set := lookupEnv(p.Env, e.Name); !set {
			p.Env = plan.SortEnv(append(p.Env, e))
		}
	}
	if p.PathPrepend, p.Env, err = pathOf(o, ws, m, p.Mounts, p.Env); err != nil {
		return r, err
	}
	p.Labels = map[string]string{naming.LabelAgent: a.Name, naming.LabelWorkspace: ws.host}
	if err := p.Validate(); err != nil {
		return r, usagef("%w", err)
	}
	return r, nil
}

// agentOf is the catalogue entry of the agent asked for.
func agentOf(o *options) (agent, error) {
	a, ok := o.Agents[o.Agent]
	if !ok {
		return agent{}, usagef("unknown agent %q; known agents: %s (add one under [agents.NAME] in the config)", o.Agent, strings.Join(agentNames(o.Agents), ", "))
	}
	if len(a.Command) == 0 {
		return agent{}, usagef("agent %q: no command; set command = [...] under [agents.%s]", a.Name, a.Name)
	}
	return a, nil
}

// commandOf is the agent's argv with the user's arguments.
func commandOf(a agent, args []string) []string {
	argv := append([]string(nil), a.Command...)
	switch {
	case a.Shell && len(args) == 1:
		// One argument is a script: launch shell 'make test && echo ok'.
		return append(argv, "-c", args[0])
	case a.Shell && len(args) > 1:
		// Several are a command and its arguments, quoted so that bash
		// sees the same words: launch shell -- ls -la 'my dir'.
		return append(argv, "-c", shell.Join(args))
	}
	return append(argv, args...)
}

// workspaceOf is the current directory and where it appears inside.
func workspaceOf(o *options, h *Host) (workspace, error) {
	ws := workspace{host: filepath.Clean(h.Cwd)}
	ws.target = ws.host
	if o.WorkspaceMount != "" {
		ws.target = string(o.WorkspaceMount)
	}
	if strings.ContainsAny(ws.host, ":,\n") {
		return ws, usagef("workspace %q: a path with ':' or ',' cannot be mounted by the engines; run launch from another directory", ws.host)
	}
	real, err := h.EvalSymlinks(ws.host)
	if err != nil {
		return ws, usagef("workspace %q: %w", ws.host, err)
	}
	if strings.ContainsAny(real, ":,\n") {
		return ws, usagef("workspace %q: it is %q, and a path with ':' or ',' cannot be mounted by the engines; run launch from another directory", ws.host, real)
	}
	ws.real = real
	return ws, nil
}

// identityOf is the image's user (from [image_defaults]) and the caller.
// Which of them the agent runs as is each backend's rule (see plan.Caller).
func identityOf(d defaults, h *Host) (plan.User, plan.Caller) {
	return plan.User{UID: d.UID, GID: d.GID, Name: d.User, Home: path.Clean(d.Home)},
		plan.Caller{UID: h.UID, GID: h.GID}
}

// imageOf picks the OCI image, the SIF and the pull policy. A default image
// gets the agent's tag (or --tag); a named image is used as given, and
// --tag may only complete one named without a tag.
func imageOf(o *options, a agent, h *Host, n *notes) (plan.Image, plan.PullPolicy, error) {
	var img plan.Image
	tag := string(o.Tag)
	if tag == "" {
		tag = a.Tag
	}
	switch {
	case o.Image != "" && o.Tag != "" && o.Image.hasTag():
		return img, "", usagef("%s %q: %s %q already names a tag or digest; drop one of them", o.from.of("tag", 0), o.Tag, o.from.of("image", 0), o.Image)
	case o.Image != "":
		img.OCI = withTag(string(o.Image), string(o.Tag))
	default:
		img.OCI = withTag(o.Defaults.OCI, tag)
	}
	img.SIF = withTag(o.Defaults.SIF, tag)
	if o.SIFPath != "" {
		img.SIF = o.SIFPath
		if !strings.Contains(o.SIFPath, "://") {
			img.SIF = mounts.Expand(o.SIFPath, h.Cwd, h.Home)
		}
	}
	img.Default = o.Image == "" && o.SIFPath == ""
	img.Platform = o.Arch.Platform
	if img.Platform.IsZero() && o.Image == "" && o.Defaults.Arch != "" {
		pl, err := plan.ParsePlatform(o.Defaults.Arch)
		if err != nil {
			return img, "", usagef("[image_defaults] arch: %w", err)
		}
		img.Platform = pl
	}
	pull := plan.PullPolicy(o.Pull)
	switch {
	case pull != "":
	case img.Default:
		pull = plan.PullMissing
	default:
		// Only launch's own default image is fetched unasked (the
		// reference launcher's rule): a user's image must exist.
		pull = plan.PullNever
		n.info("pull: not launch's default image, so it is not fetched unless you pass --pull missing or --pull always")
	}
	return img, pull, nil
}

func withTag(ref, tag string) string {
	if tag == "" || imageRef(ref).hasTag() {
		return ref
	}
	return ref + ":" + tag
}

// gpusOf reads --gpus; auto follows CUDA_VISIBLE_DEVICES or Slurm's GPU
// allocation.
func gpusOf(o *options, h *Host, n *notes) plan.GPUs {
	if !o.GPUs.auto {
		return o.GPUs.GPUs
	}
	for _, name := range []string{"CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS"} {
		if val := h.Getenv(name); val != "" && val != "NoDevFiles" && val != "-1" {
			n.info("gpus: auto: %s=%s, so GPUs are passed", name, val)
			return plan.GPUs{All: true}
		}
	}
	n.info("gpus: auto: no CUDA_VISIBLE_DEVICES or Slurm GPU allocation, so no GPU is passed")
	return plan.GPUs{}
}

func agentNames(m map[string]agent) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
