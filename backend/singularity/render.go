package singularity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/launchcli/launch/plan"
)

// Rendered is everything this backend will do for one Plan: the host paths
// the snippet creates (a real run has cmd/launch create them), the image to
// pull, the mask sources to create, the runtime's argv and the variables
// added to or removed from its environment. It holds
// the values of inherited variables, to hand them to the runtime's
// environment in Exec, but never prints them.
type Rendered struct {
	binary   string
	prepare  []plan.HostPath
	pull     *pull         // nil when the image is a local path
	image    string        // what exec runs: the local path, or the cache link
	platform plan.Platform // the Plan's, checked against the image
	scratch  string        // Config.ScratchDir
	masks    []mask
	// tmpdirVar is set with --unsquash: the runtime setting
	// (APPTAINER_TMPDIR, SINGULARITY_TMPDIR) that points the runtime's own
	// temporary files, the unsquashed image among them, into the per-run
	// scratch directory, so that they go with it even when the runtime is
	// killed before it can clean up.
	tmpdirVar string
	args      []arg // after the binary: "exec", options, image, the Plan's argv
	imageAt   int   // index of the image in args
	env       []envVar
	unset     []string
	notes     []string
	onImage   func(ImageInfo)
	// sandbox, when set, runs a SIF unpacked once into the cache.
	sandbox *sandboxCache
}

// arg is one word of the runtime's argv. A word under the per-run scratch
// directory (a mask source) is held relative to it: its absolute path is
// known only when the run creates the directory.
type arg struct {
	word    string
	scratch bool
}

// mask is the empty source of one masked path, created in the scratch
// directory: an empty directory, or an empty file when file is set.
type mask struct {
	name string
	file bool
}

// envVar is one variable of the runtime's environment. A variable inherited
// from the host is printed as name="$host" and never by value.
type envVar struct {
	name     string // as the runtime sees it: APPTAINERENV_TOOL, NVIDIA_VISIBLE_DEVICES
	value    string
	host     string // the host variable it is read from; empty for a constant
	fromHost bool
}

// pull fetches a remote image into the cache. The file lands under its
// content digest (CacheDir/sha256/<hex>.sif); link, a symbolic link named
// after the reference, points at it, and is what exec runs.
type pull struct {
	ref    string
	link   string
	store  string // CacheDir/sha256
	always bool   // pull even when link exists
	never  bool   // never pull; a missing link is an error
	advice string // what to say when never is set and link is missing
	args   []string
}

// refuse is the error for a part of a valid Plan this backend cannot
// honour: it wraps plan.ErrUnsupported without repeating its text.
// publish checks the published ports against the host's network, which an
// open network under Apptainer is: the agent's ports are the host's own,
// with no mapping in between (plan.Validate already refused publish with
// network none or an allowlist, whose network namespace has no interface a
// host port could reach).
func (r *Rendered) publish(ports []plan.Port) error {
	for _, x := range ports {
		if x.HostPort != x.ContainerPort {
			return refuse("publish %q: apptainer shares the host's network and cannot map ports: the agent's port %d is the host's port %d; publish %d:%d, or use --backend docker or --backend podman", x, x.ContainerPort, x.ContainerPort, x.ContainerPort, x.ContainerPort)
		}
		r.notes = append(r.notes, fmt.Sprintf("publish %s: apptainer shares the host's network, so the agent's port %d is the host's own, on whichever address the agent's server listens (not only %s): listen on 127.0.0.1 to keep it to this machine", x, x.ContainerPort, x.HostIP))
	}
	return nil
}

func refuse(format string, args ...any) error {
	return plan.Errorf(plan.ErrUnsupported, format, args...)
}

// reservedEnv are names the runtime does not let an APPTAINERENV_ variable
// set, or reads as instructions rather than passing on
// (internal/pkg/util/env/create.go in Apptainer 1.4).
var reservedEnv = map[string]string{
	"PREPEND_PATH":        "apptainer reads APPTAINERENV_PREPEND_PATH as a PATH prefix",
	"APPEND_PATH":         "apptainer reads APPTAINERENV_APPEND_PATH as a PATH suffix",
	"APPTAINER_SHELL":     "apptainer does not let the container's APPTAINER_SHELL be set",
	"APPTAINER_APPNAME":   "apptainer does not let the container's APPTAINER_APPNAME be set",
	"SINGULARITY_SHELL":   "apptainer does not let the container's SINGULARITY_SHELL be set",
	"SINGULARITY_APPNAME": "apptainer does not let the container's SINGULARITY_APPNAME be set",
}

// Render decides everything this backend will do with p. It does no I/O and
// reads no environment. A part of p it cannot honour is an error wrapping
// plan.ErrUnsupported that says what to use instead.
func Render(p plan.Plan, c Config) (Rendered, error) {
	if err := p.Validate(); err != nil {
		return Rendered{}, err
	}
	r := Rendered{
		binary:   c.binary(),
		prepare:  p.Prepare,
		platform: p.Image.Platform,
		scratch:  c.ScratchDir,
		onImage:  c.OnImage,
	}
	if p.Runtime == plan.RuntimeRunsc {
		return Rendered{}, refuse("runtime %q: not supported by the singularity backend (apptainer has no gVisor runtime); use --backend docker or --backend podman", p.Runtime)
	}
	// An allowlist is a container without network (--net --network none,
	// unprivileged), behind launch's proxy.
	if p.Network.Sidecar != nil {
		return Rendered{}, plan.Errorf(plan.ErrUnsupported, "network %q through a proxy sidecar: a sidecar is a container of an engine, which Apptainer has not; use network_via = \"socket\" (the default on Linux)", p.Network.String())
	}
	p, err := p.Enforced()
	if err != nil {
		return Rendered{}, err
	}
	if c.ScratchDir != "" && (!strings.HasPrefix(c.ScratchDir, "/") || strings.ContainsAny(c.ScratchDir, ",:\n")) {
		return Rendered{}, plan.Errorf(plan.ErrInvalid, "scratch directory %q: want an absolute path without ',', ':' or a newline", c.ScratchDir)
	}

	if err := r.renderImage(p, c); err != nil {
		return Rendered{}, err
	}

	a := []string{"exec",
		// --cleanenv: nothing from the host environment but what is
		// rendered below (TERM and *_proxy are removed from the runtime's
		// own environment instead, see Config.Clear).
		"--cleanenv",
		// --contain: no host home, /tmp or current directory.
		"--contain",
		// --no-eval: values reach the agent as they are; without it the
		// runtime expands $VAR and `cmd` in APPTAINERENV_ values.
		"--no-eval",
		// bind paths from apptainer.conf (site-wide /data, /scratch on HPC)
		// would give the agent more than the Plan's mounts.
		"--no-mount", "bind-paths",
		// --pid: a process namespace whose PID 1 is the runtime's own init
		// (appinit), the agent's parent: it forwards SIGTERM and reaps the
		// agent's orphaned children. Without it they would go to the host's
		// init, or stay zombies where that init does not reap.
		"--pid",
	}
	if c.UserNS {
		a = append(a, "--userns")
	}
	switch {
	case c.Unsquash && c.SandboxDir != "":
		if !strings.HasPrefix(c.SandboxDir, "/") {
			return Rendered{}, plan.Errorf(plan.ErrInvalid, "sandbox directory %q: want an absolute path", c.SandboxDir)
		}
		r.sandbox = &sandboxCache{dir: c.SandboxDir, max: c.SandboxMax}
	case c.Unsquash:
		a = append(a, "--unsquash")
		r.tmpdirVar = strings.TrimSuffix(c.Flavour.EnvPrefix(), "ENV_") + "_TMPDIR"
	}
	// --home DIR (one path, no source) gives an empty, writable tmpfs at DIR
	// under --contain; the credential binds below land inside it.
	a = append(a, "--home", p.User.Home, "--pwd", p.Workdir)
	if p.Network.Mode == plan.NetworkNone {
		a = append(a, "--net", "--network", "none")
	}
	if err := r.publish(p.Publish); err != nil {
		return Rendered{}, err
	}
	sec, err := r.security(p, c)
	if err != nil {
		return Rendered{}, err
	}
	a = append(a, sec...)
	if p.GPUs.Any() {
		a = append(a, "--nv")
		if c.NvCCLI {
			a = append(a, "--nvccli")
		}
	}
	r.args = words(a)
	for _, m := range p.Mounts {
		switch m.Kind {
		case plan.MountBind:
			spec := m.Source + ":" + m.Target
			if m.ReadOnly {
				spec += ":ro"
			}
			r.args = append(r.args, arg{word: "--bind"}, arg{word: spec})
		case plan.MountMask:
			k := mask{name: "mask" + strconv.Itoa(len(r.masks)), file: m.File}
			r.masks = append(r.masks, k)
			r.args = append(r.args, arg{word: "--bind"}, arg{word: k.name + ":" + m.Target + ":ro", scratch: true})
		}
	}
	r.imageAt = len(r.args)
	r.args = append(r.args, arg{word: r.image})
	r.args = append(r.args, words(p.Argv)...)

	if err := r.renderEnv(p, c); err != nil {
		return Rendered{}, err
	}
	r.renderNotes(p, c)
	return r, nil
}

// security renders plan.Privileges and plan.Limits. Apptainer gives an
// unprivileged caller no capabilities and sets no_new_privs by itself;
// --no-privs makes root's container the same (checked on apptainer 1.4.3,
// with and without --userns), and is rendered for everyone so that the
// command says what it does. Root keeps its capabilities only with
// plan.CapabilitiesImage; an unprivileged caller has none to keep, and the
// runtime mounts images nosuid, so that setuid binaries (sudo) never work:
// that opt-out is refused. Limits need cgroups (Config.NoLimits).
func (r *Rendered) security(p plan.Plan, c Config) ([]string, error) {
	var a []string
	pr := p.Privileges.Effective()
	switch {
	case pr.Least():
		a = append(a, "--no-privs")
	case p.Caller.UID != 0:
		return nil, refuse("privileges image: not supported by the singularity backend for an unprivileged user: apptainer runs your container with no capabilities and no new privileges, and mounts images nosuid, so sudo in the image cannot work; leave privileges at least (install what the agent needs into the image), or use --backend docker or --backend podman")
	case !pr.NoNewPrivileges || pr.Capabilities == plan.CapabilitiesImage:
		r.notes = append(r.notes, "privileges image: you run launch as root, so the agent keeps root's capabilities in the container (no --no-privs)")
	}
	if len(pr.Add) > 0 {
		a = append(a, "--add-caps", strings.Join(pr.Add, ","))
		if p.Caller.UID != 0 {
			r.notes = append(r.notes, fmt.Sprintf("capabilities %s: apptainer grants them to an unprivileged user inside its user namespace, or where an administrator allowed them (apptainer capability add)", strings.Join(pr.Add, ",")))
		}
	}
	l := p.Limits
	if c.NoLimits != "" {
		if l.Asked() {
			return nil, refuse("limits %s: apptainer cannot apply resource limits here (%s); under Slurm ask the scheduler for them instead (srun or sbatch --mem, --cpus-per-task), or use --backend docker or --backend podman", l, c.NoLimits)
		}
		if l.PIDs > 0 {
			r.notes = append(r.notes, fmt.Sprintf("pids: launch's default limit of %d processes is not applied: %s (under Slurm the job's own limits apply)", l.PIDs, c.NoLimits))
		}
		return a, nil
	}
	if l.Memory > 0 {
		// In bytes: --memory and --memory-swap (memory and swap together,
		// as in OCI) read plain numbers on every version.
		m := strconv.FormatInt(l.Memory, 10)
		a = append(a, "--memory", m, "--memory-swap", m)
	}
	if l.MilliCPUs > 0 {
		a = append(a, "--cpus", plan.FormatCPUs(l.MilliCPUs))
	}
	if l.PIDs > 0 {
		a = append(a, "--pids-limit", strconv.FormatInt(l.PIDs, 10))
	}
	return a, nil
}

// needsScratch reports whether a run creates the per-run scratch directory.
func (r Rendered) needsScratch() bool { return len(r.masks) > 0 || r.tmpdirVar != "" }

func words(ws []string) []arg {
	out := make([]arg, len(ws))
	for i, w := range ws {
		out[i] = arg{word: w}
	}
	return out
}

// renderEnv puts every Plan variable in the runtime's environment under the
// flavour's prefix, and lists the host variables to remove.
func (r *Rendered) renderEnv(p plan.Plan, c Config) error {
	prefix := c.Flavour.EnvPrefix()
	set := map[string]bool{}
	add := func(v envVar) {
		r.env = append(r.env, v)
		set[v.name] = true
	}
	if len(p.PathPrepend) > 0 {
		// The runtime puts PREPEND_PATH in front of the PATH the image's
		// own environment scripts set (99-runtimevars.sh runs after
		// 90-environment.sh), which launch cannot read without the image.
		// A valid Plan never has a PATH in Env beside PathPrepend.
		add(envVar{name: prefix + "PREPEND_PATH", value: strings.Join(uniqKeepOrder(p.PathPrepend), ":")})
	}
	for _, e := range p.Env {
		if e.Name == "HOME" {
			// The runtime sets HOME from --home and refuses
			// APPTAINERENV_HOME.
			if e.Value != p.User.Home {
				return refuse("env HOME=%q: the singularity backend sets HOME to the user's home %q; drop HOME from --env", e.Value, p.User.Home)
			}
			continue
		}
		if why, bad := reservedEnv[e.Name]; bad {
			return refuse("env %s: not supported by the singularity backend (%s); rename the variable or use --backend docker or --backend podman", e.Name, why)
		}
		v := envVar{name: prefix + e.Name, value: e.Value, fromHost: e.FromHost}
		if e.FromHost {
			v.host = e.Name
		}
		add(v)
	}
	if p.GPUs.Any() {
		devices := "all"
		if !p.GPUs.All {
			devices = strings.Join(p.GPUs.Devices, ",")
		}
		switch {
		case c.NvCCLI:
			// nvidia-container-cli reads NVIDIA_VISIBLE_DEVICES from the
			// runtime's environment; under --contain it binds no GPU without
			// it. It does not reach the container.
			add(envVar{name: "NVIDIA_VISIBLE_DEVICES", value: devices})
		case !p.GPUs.All:
			// Legacy --nv binds every /dev/nvidia* node; CUDA then shows
			// only the devices listed here.
			if _, ok := p.Lookup("CUDA_VISIBLE_DEVICES"); ok {
				return refuse("gpus %q: the singularity backend selects GPUs with CUDA_VISIBLE_DEVICES, which the plan already sets; drop one of --gpus and --env CUDA_VISIBLE_DEVICES", devices)
			}
			add(envVar{name: prefix + "CUDA_VISIBLE_DEVICES", value: devices})
		}
	}
	sort.Slice(r.env, func(i, j int) bool { return r.env[i].name < r.env[j].name })
	for _, n := range c.Clear {
		if !set[n] {
			r.unset = append(r.unset, n)
		}
	}
	sort.Strings(r.unset)
	r.unset = uniq(r.unset)
	return nil
}

// uniqKeepOrder is s without repeats, first occurrences kept in order.
func uniqKeepOrder(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func uniq(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// renderImage decides what exec runs: a local SIF or sandbox as it is, or a
// remote reference through the cache.
func (r *Rendered) renderImage(p plan.Plan, c Config) error {
	ref := p.Image.SIF
	if ref == "" {
		return plan.Errorf(plan.ErrInvalid, "image: the plan has no SIF image (only %q for docker and podman); pass --sif-path or --image oras://REF", p.Image.OCI)
	}
	scheme, _, remote := strings.Cut(ref, "://")
	if !remote {
		r.image = ref
		if p.Pull == plan.PullAlways {
			r.notes = append(r.notes, fmt.Sprintf("pull always: %q is a local image; nothing to pull", ref))
		}
		return nil
	}
	if scheme != "oras" && scheme != "docker" {
		return refuse("image %q: scheme %q not supported by the singularity backend; use oras://, docker://, a .sif file or a sandbox directory (apptainer pull other references yourself)", ref, scheme+"://")
	}
	if c.CacheDir == "" || !strings.HasPrefix(c.CacheDir, "/") {
		return plan.Errorf(plan.ErrInvalid, "image %q: no absolute cache directory to pull into (Config.CacheDir %q)", ref, c.CacheDir)
	}
	link, _ := CacheLink(c.CacheDir, ref) // oras:// or docker://, checked above
	pl := &pull{
		ref:   ref,
		link:  link,
		store: path.Join(path.Clean(c.CacheDir), "sha256"),
	}
	switch p.Pull {
	case plan.PullAlways:
		pl.always = true
	case plan.PullNever:
		pl.never = true
		pl.advice = "pass --pull missing to fetch it (never is the default for an image that is not launch's own)"
	}
	pl.args = []string{"pull", "--force"}
	if plat := p.Image.Platform; !plat.IsZero() && scheme == "docker" {
		pl.args = append(pl.args, "--arch", plat.Arch)
		if plat.Variant != "" {
			pl.args = append(pl.args, "--arch-variant", plat.Variant)
		}
	}
	r.pull = pl
	r.image = pl.link
	return nil
}

// CacheLink is the cache link under cacheDir that a pull of ref (oras://
// or docker://) goes through, as Render names it; ok is false for a local
// image or another scheme, which are not pulled.
func CacheLink(cacheDir, ref string) (link string, ok bool) {
	scheme, rest, remote := strings.Cut(ref, "://")
	if !remote || (scheme != "oras" && scheme != "docker") {
		return "", false
	}
	return path.Join(path.Clean(cacheDir), cacheKey(scheme, rest)+".sif"), true
}

var component = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`) })

// cacheKey names the cache link of a reference after the reference itself
// (oras/ghcr.io/org/repo/tag), so that a user can find it; a reference whose
// parts are not plain names is keyed by its hash instead, so that no
// reference can name a path outside the cache.
func cacheKey(scheme, rest string) string {
	name, digest, hasDigest := strings.Cut(rest, "@")
	tag := "latest"
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	if hasDigest {
		tag = strings.ReplaceAll(digest, ":", "-")
	}
	parts := append([]string{scheme}, strings.Split(name, "/")...)
	parts = append(parts, tag)
	for _, p := range parts {
		if !component().MatchString(p) {
			sum := sha256.Sum256([]byte(scheme + "://" + rest))
			return path.Join(scheme, "by-ref", hex.EncodeToString(sum[:12]))
		}
	}
	return path.Join(parts...)
}

func (r *Rendered) renderNotes(p plan.Plan, c Config) {
	name := p.User.Name
	if name == "" {
		name = "the image user"
	}
	flavour := c.Flavour
	if flavour == "" {
		flavour = FlavourApptainer
	}
	r.notes = append(r.notes, fmt.Sprintf("user: %s runs the agent as the calling user, with your own uid and gid, not as %s (%d:%d); HOME is %s",
		flavour, name, p.User.UID, p.User.GID, p.User.Home))
	if len(p.Labels) > 0 {
		r.notes = append(r.notes, "labels: not applied (apptainer containers carry no labels)")
	}
	if p.GPUs.Any() && !p.GPUs.All && !c.NvCCLI {
		r.notes = append(r.notes, fmt.Sprintf("gpus: --nv binds every GPU; CUDA_VISIBLE_DEVICES=%s hides the others from CUDA (set nvccli for device-level selection)", strings.Join(p.GPUs.Devices, ",")))
	}
}

// Notes are remarks for stderr: what the run does differently from the Plan
// and why. They never hold a secret value.
func (r Rendered) Notes() []string { return append([]string(nil), r.notes...) }

// CommandNotes are remarks about the printed snippet only; a real run does
// not print them. The snippet does what Exec does, so there are none.
func (r Rendered) CommandNotes() []string { return nil }

// Image is the image exec runs: the Plan's local path, or, for a remote
// reference, its link in the cache.
func (r Rendered) Image() string { return r.image }
