package podman

import (
	"bytes"
	"encoding/csv"
	"net"
	"strconv"
	"strings"

	"github.com/launchcli/launch/plan"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/podman/v6/pkg/specgen"
)

// request is what a real run sends to the Podman service: an image pull
// (policy; the platform is in the spec) and a container create (the spec),
// plus which env values the printed command must take by name.
type request struct {
	Spec      *specgen.SpecGenerator
	Pull      plan.PullPolicy
	Inherited []string
	Detach    bool
}

func (r Rendered) request() request {
	return request{Spec: r.Spec, Pull: r.Pull, Inherited: r.Inherited, Detach: r.Detach}
}

// command computes the `podman run` argv of q, from q alone: it is the one
// place that knows the CLI spelling of each spec field Render sets. A field
// value it cannot spell is an error wrapping plan.ErrUnsupported rather than
// a silent omission; the round-trip test (parse the argv back into a spec)
// keeps the two in step.
// Value flags are written as two words ("--env", "A=1"); booleans that
// default to true need the one-word form ("--http-proxy=false").
func command(q request) ([]string, error) {
	s := q.Spec
	if s == nil {
		return nil, plan.Errorf(plan.ErrInvalid, "podman run: no spec")
	}
	argv := []string{"podman"}
	if s.OCIRuntime != "" {
		// --runtime is a global flag of podman, not a flag of run.
		argv = append(argv, "--runtime", s.OCIRuntime)
	}
	argv = append(argv, "run")
	if isTrue(s.Remove) {
		argv = append(argv, "--rm")
	}
	if isTrue(s.Init) {
		argv = append(argv, "--init")
	}
	if isTrue(s.ReadOnlyFilesystem) {
		if s.ReadWriteTmpfs == nil || !*s.ReadWriteTmpfs {
			return nil, plan.Errorf(plan.ErrUnsupported, "podman run: a read-only root without podman's writable tmpfs: not rendered by this backend")
		}
		argv = append(argv, "--read-only")
	}
	if q.Detach {
		argv = append(argv, "-d")
	}
	if isTrue(s.Stdin) {
		argv = append(argv, "-i")
	}
	if isTrue(s.Terminal) {
		argv = append(argv, "-t")
	}
	if s.Name != "" {
		argv = append(argv, "--name", s.Name)
	}
	if q.Pull != "" {
		argv = append(argv, "--pull", string(q.Pull))
	}
	if s.ImageOS != "" || s.ImageArch != "" {
		if s.ImageOS == "" || s.ImageArch == "" || strings.Contains(s.ImageArch, "/") {
			return nil, plan.Errorf(plan.ErrUnsupported, "podman run: platform %q/%q: want an OS and an architecture", s.ImageOS, s.ImageArch)
		}
		// podman run splits --platform at its first '/': a variant given
		// there would end up in the architecture, so it has its own flag.
		argv = append(argv, "--platform", s.ImageOS+"/"+s.ImageArch)
	}
	if s.ImageVariant != "" {
		argv = append(argv, "--variant", s.ImageVariant)
	}
	switch s.UserNS.NSMode {
	case "":
	case specgen.KeepID:
		v := string(specgen.KeepID)
		if s.UserNS.Value != "" {
			v += ":" + s.UserNS.Value
		}
		argv = append(argv, "--userns", v)
	case specgen.Host:
		argv = append(argv, "--userns", string(specgen.Host))
	default:
		return nil, plan.Errorf(plan.ErrUnsupported, "podman run: user namespace %q: not rendered by this backend", s.UserNS.NSMode)
	}
	if s.User != "" {
		argv = append(argv, "--user", s.User)
	}
	switch s.NetNS.NSMode {
	case "":
	case specgen.NoNetwork:
		argv = append(argv, "--network", string(specgen.NoNetwork))
	default:
		return nil, plan.Errorf(plan.ErrUnsupported, "podman run: network %q: not rendered by this backend", s.NetNS.NSMode)
	}
	for _, m := range s.PortMappings {
		if m.Range > 1 || m.HostPort == 0 || (m.Protocol != "" && m.Protocol != "tcp") {
			return nil, plan.Errorf(plan.ErrUnsupported, "podman run: port mapping %+v: not rendered by this backend", m)
		}
		argv = append(argv, "-p", net.JoinHostPort(m.HostIP, strconv.Itoa(int(m.HostPort)))+":"+strconv.Itoa(int(m.ContainerPort)))
	}
	if s.HTTPProxy != nil && !*s.HTTPProxy {
		argv = append(argv, "--http-proxy=false")
	}
	for _, c := range s.CapDrop {
		argv = append(argv, "--cap-drop", c)
	}
	for _, c := range s.CapAdd {
		argv = append(argv, "--cap-add", c)
	}
	if s.NoNewPrivileges != nil {
		if !*s.NoNewPrivileges {
			return nil, plan.Errorf(plan.ErrUnsupported, "podman run: no_new_privileges false: not rendered by this backend (leave it unset)")
		}
		argv = append(argv, "--security-opt", "no-new-privileges")
	}
	lim, err := limitFlags(s.ResourceLimits)
	if err != nil {
		return nil, err
	}
	argv = append(argv, lim...)
	for _, d := range s.Devices {
		if d.Type != "" || d.Major != 0 || d.Minor != 0 || strings.Contains(d.Path, ":") {
			return nil, plan.Errorf(plan.ErrUnsupported, "podman run: device %q: only a CDI name or a path is rendered", d.Path)
		}
		argv = append(argv, "--device", d.Path)
	}
	for _, k := range sortedKeys(s.Labels) {
		argv = append(argv, "--label", k+"="+s.Labels[k])
	}
	byName := make(map[string]bool, len(q.Inherited))
	for _, name := range q.Inherited {
		if _, ok := s.Env[name]; !ok {
			return nil, plan.Errorf(plan.ErrUnsupported, "podman run: inherited variable %s: not in the spec's env", name)
		}
		byName[name] = true
	}
	for _, k := range sortedKeys(s.Env) {
		if byName[k] {
			// podman run reads the value from its own environment: the
			// value never appears on the command line.
			argv = append(argv, "--env", k)
		} else {
			argv = append(argv, "--env", k+"="+s.Env[k])
		}
	}
	for _, m := range s.Mounts {
		arg, err := mountArg(m)
		if err != nil {
			return nil, err
		}
		argv = append(argv, "--mount", arg)
	}
	for _, v := range s.Volumes {
		if v.Name == "" || len(v.Options) > 0 || v.SubPath != "" || strings.ContainsAny(v.Name+v.Dest, ",\"\n") {
			return nil, plan.Errorf(plan.ErrUnsupported, "podman run: volume %q at %q: only a plain named volume is rendered", v.Name, v.Dest)
		}
		argv = append(argv, "--mount", "type=volume,source="+v.Name+",destination="+v.Dest)
	}
	if s.WorkDir != "" {
		argv = append(argv, "--workdir", s.WorkDir)
	}
	if s.StopTimeout != nil {
		argv = append(argv, "--stop-timeout", strconv.FormatUint(uint64(*s.StopTimeout), 10))
	}
	switch len(s.Entrypoint) {
	case 0:
	case 1:
		argv = append(argv, "--entrypoint", s.Entrypoint[0])
	default:
		return nil, plan.Errorf(plan.ErrUnsupported, "podman run: an entrypoint of several words: not rendered by this backend")
	}
	if s.Image == "" || strings.HasPrefix(s.Image, "-") {
		return nil, plan.Errorf(plan.ErrUnsupported, "podman run: image %q: want an image reference", s.Image)
	}
	argv = append(argv, s.Image)
	return append(argv, s.Command...), nil
}

// limitFlags spells the resource limits Render sets: memory and swap, a
// CPU quota over podman's default period of 100 ms, pids. Any other field is
// an error.
func limitFlags(r *specs.LinuxResources) ([]string, error) {
	if r == nil {
		return nil, nil
	}
	unsupported := func(what string) error {
		return plan.Errorf(plan.ErrUnsupported, "podman run: resource limit %s: not rendered by this backend", what)
	}
	if len(r.Devices) > 0 || r.BlockIO != nil || len(r.HugepageLimits) > 0 || r.Network != nil || len(r.Rdma) > 0 || len(r.Unified) > 0 {
		return nil, unsupported("other than memory, cpus and pids")
	}
	var argv []string
	if m := r.Memory; m != nil {
		if m.Limit == nil || m.Swap == nil || m.Reservation != nil || m.Kernel != nil || m.KernelTCP != nil || m.Swappiness != nil || m.DisableOOMKiller != nil || m.UseHierarchy != nil || m.CheckBeforeUpdate != nil {
			return nil, unsupported("memory other than a limit with its swap")
		}
		argv = append(argv, "--memory", plan.FormatBytes(*m.Limit), "--memory-swap", plan.FormatBytes(*m.Swap))
	}
	if c := r.CPU; c != nil {
		if c.Period == nil || *c.Period != 100_000 || c.Quota == nil || *c.Quota%100 != 0 || c.Shares != nil || c.Burst != nil || c.RealtimePeriod != nil || c.RealtimeRuntime != nil || c.Cpus != "" || c.Mems != "" || c.Idle != nil {
			return nil, unsupported("cpu other than a quota in thousandths of a CPU over 100 ms")
		}
		argv = append(argv, "--cpus", plan.FormatCPUs(*c.Quota/100))
	}
	if p := r.Pids; p != nil {
		if p.Limit == nil {
			return nil, unsupported("pids without a limit")
		}
		argv = append(argv, "--pids-limit", strconv.FormatInt(*p.Limit, 10))
	}
	return argv, nil
}

// mountArg spells m as the value of `podman run --mount`, which podman
// splits as one CSV record of key=value fields: a field holding a quote or
// a comma is quoted the CSV way.
func mountArg(m specs.Mount) (string, error) {
	fields := []string{"type=" + m.Type}
	switch m.Type {
	case "bind":
		fields = append(fields, "source="+m.Source)
	case "tmpfs":
		if m.Source != "tmpfs" {
			return "", plan.Errorf(plan.ErrUnsupported, "podman run: tmpfs mount at %q: source %q is not expressible", m.Destination, m.Source)
		}
	default:
		return "", plan.Errorf(plan.ErrUnsupported, "podman run: mount type %q at %q: not rendered by this backend", m.Type, m.Destination)
	}
	fields = append(fields, "destination="+m.Destination)
	for _, o := range m.Options {
		switch {
		case o == "ro":
			fields = append(fields, "ro=true")
		case m.Type == "tmpfs" && (o == "notmpcopyup" || o == "exec"):
			fields = append(fields, o)
		case m.Type == "tmpfs" && strings.HasPrefix(o, "mode="):
			// podman's --mount spells the tmpfs mode tmpfs-mode.
			fields = append(fields, "tmpfs-"+o)
		case m.Type == "tmpfs" && o == "U":
			// Podman makes a tmpfs with U the container user's.
			fields = append(fields, "U=true")
		default:
			return "", plan.Errorf(plan.ErrUnsupported, "podman run: mount at %q: option %q not rendered by this backend", m.Destination, o)
		}
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(fields); err != nil {
		return "", err
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func isTrue(b *bool) bool { return b != nil && *b }
