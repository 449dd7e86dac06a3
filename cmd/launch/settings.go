package main

import (
	"encoding"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// Settings is everything a launch can be told, declared once. Config files
// decode into it (the toml tags are the keys), each flag in settingFlags
// names a key, and so does each variable in settingEnv. A typed field parses
// its text with one function (UnmarshalText) whichever layer gave it, so a
// value is checked the same way from a flag, a file or the environment.
//
// Layers apply lowest first (mergeFrom): the built-in catalogue, the user
// config, the project config, the environment, the flags. A later scalar
// replaces an earlier one; a list accumulates.
type Settings struct {
	Backend        backendName    `toml:"backend"`
	Image          imageRef       `toml:"image"`
	Tag            imageTag       `toml:"tag"`
	Arch           archSetting    `toml:"arch"`
	SIFPath        string         `toml:"sif_path"`
	WorkspaceMount containerPath  `toml:"workspace_mount"`
	PathPrepend    []string       `toml:"path_prepend"`
	CondaEnv       string         `toml:"conda_env"`
	Certs          string         `toml:"certs"`
	Env            []envSpec      `toml:"env"`
	Mounts         []mountSpec    `toml:"mounts"`
	GlobalReadOnly bool           `toml:"global_read_only"`
	GitDirWritable bool           `toml:"git_dir_writable"`
	Isolate        bool           `toml:"isolate"`
	IsolateMax     byteSize       `toml:"isolate_max"`
	RO             []string       `toml:"ro"`
	Mask           []string       `toml:"mask"`
	Protect        []string       `toml:"protect"`
	Unprotect      []string       `toml:"unprotect"`
	Network        networkSetting `toml:"network"`
	NetworkVia     networkVia     `toml:"network_via"`
	Publish        []portSetting  `toml:"publish"`
	Runtime        runtimeSetting `toml:"runtime"`
	GPUs           gpuSetting     `toml:"gpus"`
	Pull           pullSetting    `toml:"pull"`
	Privileges     privilegeMode  `toml:"privileges"`
	CapAdd         []capability   `toml:"cap_add"`
	Memory         memorySetting  `toml:"memory"`
	CPUs           cpusSetting    `toml:"cpus"`
	PIDs           pidsSetting    `toml:"pids"`
	AllowSecrets   bool           `toml:"allow_secrets"`
	Yes            bool           `toml:"yes"`
	SingularityBin string         `toml:"singularity_bin"`
	NvCCLI         bool           `toml:"singularity_nvccli"`
	SandboxMax     byteSize       `toml:"sandbox_cache_max"`
	PodmanRootful  *bool          `toml:"podman_rootful"`
	PodmanURL      string         `toml:"podman_url"`

	// Only config files set these; mergeFrom leaves them to catalogue and
	// imageDefaultsOf, which merge them key by key.
	ImageDefaults imageDefaults          `toml:"image_defaults"`
	Slurm         slurmConfig            `toml:"slurm"`
	AgentTables   map[string]agentConfig `toml:"agents"`
}

// fileOnly are the keys that no flag or variable sets.
var fileOnly = map[string]bool{"image_defaults": true, "agents": true, "slurm": true}

// origin says where a value came from, in the user's words: "--backend",
// "/home/ana/proj/.launch.toml: line 3: backend", "LAUNCH_BACKEND".
type origin struct {
	flag    string // flag name without dashes
	env     string // variable name
	file    string // config file
	line    int
	key     string
	project bool // the workspace's .launch.toml
}

func (o origin) String() string {
	switch {
	case o.flag != "":
		return "--" + o.flag
	case o.env != "":
		return o.env
	case o.line > 0:
		return fmt.Sprintf("%s: line %d: %s", o.file, o.line, o.key)
	case o.file != "":
		return o.file + ": " + o.key
	}
	return o.key
}

// origins records, per key, where each value came from: one entry for a
// scalar (the layer that won), one per item for a list.
type origins map[string][]origin

// of is the origin of a scalar key, or of item i of a list key.
func (s origins) of(key string, i int) origin {
	os := s[key]
	if i < len(os) {
		return os[i]
	}
	if len(os) > 0 {
		return os[len(os)-1]
	}
	return origin{key: key}
}

// errAt is a usage error about the value key (item i) had, naming where it
// came from.
func (s origins) errAt(key string, i int, err error) error {
	return usagef("%s: %w", s.of(key, i), err)
}

// fieldByKey maps toml keys to Settings field indexes.
var fieldByKey = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[Settings]()
	for i := range t.NumField() {
		m[strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]] = i
	}
	return m
})

// mergeFrom applies the keys of layer that defined reports, recording their
// origins.
func (s *Settings) mergeFrom(layer *Settings, defined func(key string) (origin, bool), from origins) {
	dst, src := reflect.ValueOf(s).Elem(), reflect.ValueOf(layer).Elem()
	for key, i := range fieldByKey() {
		if fileOnly[key] {
			continue
		}
		o, ok := defined(key)
		if !ok {
			continue
		}
		f, v := dst.Field(i), src.Field(i)
		if f.Kind() == reflect.Slice {
			f.Set(reflect.AppendSlice(f, v))
			for range v.Len() {
				from[key] = append(from[key], o)
			}
			continue
		}
		f.Set(v)
		from[key] = []origin{o}
	}
}

// setText sets key from text as a config file would: a typed field parses
// it, a list appends it, a bool takes true/false/1/0.
func (s *Settings) setText(key, text string) error {
	f := reflect.ValueOf(s).Elem().Field(fieldByKey()[key])
	if f.Kind() == reflect.Slice {
		item := reflect.New(f.Type().Elem())
		if err := fromText(item, text); err != nil {
			return err
		}
		f.Set(reflect.Append(f, item.Elem()))
		return nil
	}
	return fromText(f.Addr(), text)
}

func fromText(ptr reflect.Value, text string) error {
	if u, ok := ptr.Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(text))
	}
	switch v := ptr.Interface().(type) {
	case *string:
		*v = text
	case *bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%q: want true or false", text)
		}
		*v = b
	case **bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%q: want true or false", text)
		}
		*v = &b
	default:
		panic(fmt.Sprintf("setting of type %T has no text form", v))
	}
	return nil
}

// Typed settings. Each parses its text in UnmarshalText, the one place its
// rule lives; the error names the value and what is wanted.

// byteSize is a size in bytes written as 500M, 20G or 1T (K, M, G, T are
// powers of 1024); 0 means no limit.
type byteSize int64

func (b *byteSize) UnmarshalText(t []byte) error {
	s := strings.TrimSpace(string(t))
	mult := int64(1)
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMGT", s[n-1]&^0x20); i >= 0 {
			mult, s = int64(1)<<(10*(i+1)), s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return fmt.Errorf("%q: want a size such as 20G (K, M, G, T), or 0 for no limit", t)
	}
	*b = byteSize(v * mult)
	return nil
}

// backendName is docker, podman or singularity; "" lets launch choose.
type backendName string

// Backend names.
const (
	backendDocker      backendName = "docker"
	backendPodman      backendName = "podman"
	backendSingularity backendName = "singularity"
)

func (b *backendName) UnmarshalText(t []byte) error {
	switch v := backendName(strings.ToLower(string(t))); v {
	case backendDocker, backendPodman, backendSingularity:
		*b = v
	case "apptainer":
		*b = backendSingularity
	default:
		return fmt.Errorf("%q: want docker, podman or singularity (apptainer)", t)
	}
	return nil
}

// imageRef is an OCI image reference.
type imageRef string

func (r *imageRef) UnmarshalText(t []byte) error {
	if len(t) == 0 || strings.ContainsAny(string(t), " \t\n") {
		return fmt.Errorf("%q: an image reference is not empty and has no blanks", t)
	}
	// The engines' own grammar: a reference they would refuse is a usage
	// error here, not an engine failure after the launch began.
	if _, err := reference.ParseNormalizedNamed(string(t)); err != nil {
		return fmt.Errorf("%q: %v; give [REGISTRY/]NAME[:TAG][@DIGEST], the name in lowercase, as docker pull takes it", t, err)
	}
	*r = imageRef(t)
	return nil
}

// hasTag reports whether the reference names a tag or digest.
func (r imageRef) hasTag() bool {
	s := string(r)
	if strings.Contains(s, "@") {
		return true
	}
	return strings.Contains(s[strings.LastIndex(s, "/")+1:], ":")
}

// imageTag is a tag alone.
type imageTag string

var tagRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`) })

func (g *imageTag) UnmarshalText(t []byte) error {
	if !tagRE().Match(t) {
		return fmt.Errorf("%q: a tag is letters, digits, '_', '.' and '-' (no '/', ':', '@' or blanks)", t)
	}
	*g = imageTag(t)
	return nil
}

// archSetting is an image architecture: amd64, arm64, ... (or linux/ARCH).
type archSetting struct{ plan.Platform }

func (a *archSetting) UnmarshalText(t []byte) error { return a.Platform.UnmarshalText(t) }

// containerPath is an absolute path inside the container other than /.
type containerPath string

func (c *containerPath) UnmarshalText(t []byte) error {
	s := string(t)
	if !path.IsAbs(s) {
		return fmt.Errorf("%q: must be an absolute container path", s)
	}
	if path.Clean(s) == "/" {
		return fmt.Errorf("%q: cannot mount the workspace over /", s)
	}
	*c = containerPath(path.Clean(s))
	return nil
}

// envSpec is NAME=VALUE (a constant) or NAME (the host's value, by name).
type envSpec struct {
	Name, Value string
	HasValue    bool
}

func (e *envSpec) UnmarshalText(t []byte) error {
	name, value, has := strings.Cut(string(t), "=")
	if !plan.ValidEnvName(name) {
		return fmt.Errorf("%q: want NAME=VALUE, or NAME to pass the host's value; NAME is letters, digits and _", t)
	}
	if strings.ContainsRune(value, 0) {
		return fmt.Errorf("%q: the value holds a NUL byte", name)
	}
	*e = envSpec{Name: name, Value: value, HasValue: has}
	return nil
}

// mountSpec is HOST[:CTR[:ro]].
type mountSpec struct{ mounts.Spec }

func (m *mountSpec) UnmarshalText(t []byte) error {
	sp, err := mounts.ParseSpec(string(t))
	if err != nil {
		return err
	}
	m.Spec = sp
	return nil
}

// networkSetting is none, open or allow=HOST[:PORT],...; unset is open.
// An allowlist may name agents (allow=@codex,github.com): refs holds them
// until the catalogue is known (expand).
type networkSetting struct {
	plan.Network
	refs []string
	set  bool
}

func (n *networkSetting) UnmarshalText(t []byte) error {
	v, err := parseNetworkSetting(string(t))
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// value is the policy, open when nothing set one.
func (n networkSetting) value() plan.Network {
	if !n.set {
		v, _ := plan.ParseNetwork("open")
		return v
	}
	return n.Network
}

// networkVia says how an allowlist is enforced: "socket" (launch's proxy on
// the host, a Unix socket shared with the container; Linux), "sidecar" (the
// proxy in a container of its own, on an internal network with the agent;
// Docker), or "" for the host's default (socket on Linux, sidecar on
// macOS).
type networkVia string

const (
	viaSocket  networkVia = "socket"
	viaSidecar networkVia = "sidecar"
)

func (v *networkVia) UnmarshalText(t []byte) error {
	switch s := networkVia(t); s {
	case viaSocket, viaSidecar:
		*v = s
		return nil
	}
	return plan.Errorf(plan.ErrInvalid, "network_via %q: want socket or sidecar", string(t))
}

// runtimeSetting is runc or runsc; "" is the engine's default.
type runtimeSetting plan.Runtime

func (r *runtimeSetting) UnmarshalText(t []byte) error {
	v, err := plan.ParseRuntime(string(t))
	*r = runtimeSetting(v)
	return err
}

// pullSetting is missing, always or never; "" lets the image decide.
type pullSetting plan.PullPolicy

func (p *pullSetting) UnmarshalText(t []byte) error {
	v, err := plan.ParsePull(string(t))
	*p = pullSetting(v)
	return err
}

// gpuSetting is none, all, auto, or a list of device ids: integers or GPU
// UUIDs (GPU-..., MIG-...), each once.
type gpuSetting struct {
	auto bool
	plan.GPUs
}

var gpuUUID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(GPU|MIG)-[0-9A-Fa-f-]+(/[0-9]+/[0-9]+)?$`) })

func (g *gpuSetting) UnmarshalText(t []byte) error {
	s := string(t)
	switch s {
	case "", "none":
		*g = gpuSetting{}
		return nil
	case "all":
		*g = gpuSetting{GPUs: plan.GPUs{All: true}}
		return nil
	case "auto":
		*g = gpuSetting{auto: true}
		return nil
	}
	var devs []string
	seen := map[string]bool{}
	for _, d := range strings.Split(s, ",") {
		d = strings.TrimSpace(d)
		n, err := strconv.Atoi(d)
		switch {
		case err == nil && n >= 0 && strconv.Itoa(n) == d:
		case gpuUUID().MatchString(d):
		default:
			return fmt.Errorf("%q: device %q: want none, all, auto, or device ids such as 0,1 (non-negative integers or GPU UUIDs)", s, d)
		}
		if seen[d] {
			return fmt.Errorf("%q: device %q is listed twice", s, d)
		}
		seen[d] = true
		devs = append(devs, d)
	}
	*g = gpuSetting{GPUs: plan.GPUs{Devices: devs}}
	return nil
}

// privilegeMode is least or image; "" is least.
type privilegeMode plan.PrivilegeMode

func (m *privilegeMode) UnmarshalText(t []byte) error {
	v, err := plan.ParsePrivilegeMode(string(t))
	*m = privilegeMode(v)
	return err
}

// portSetting is one published port, [IP:]HOSTPORT:CTRPORT (plan.ParsePort).
type portSetting plan.Port

func (x *portSetting) UnmarshalText(t []byte) error {
	v, err := plan.ParsePort(string(t))
	*x = portSetting(v)
	return err
}

// capability is a Linux capability name, kept canonical (CAP_...).
type capability string

func (c *capability) UnmarshalText(t []byte) error {
	v, err := plan.ParseCapability(string(t))
	*c = capability(v)
	return err
}

// limitSetting is one resource limit: set says a layer gave it (none gives
// 0, no limit, and removes a lower layer's or the default).
type limitSetting struct {
	v   int64
	set bool
}

// fromTOML reads a limit given as a TOML number (pids = 512, cpus = 1.5)
// through its text form, so that one parser applies.
func fromTOML(data any, u encoding.TextUnmarshaler) error {
	switch v := data.(type) {
	case string:
		return u.UnmarshalText([]byte(v))
	case int64:
		return u.UnmarshalText([]byte(strconv.FormatInt(v, 10)))
	case float64:
		return u.UnmarshalText([]byte(strconv.FormatFloat(v, 'f', -1, 64)))
	}
	return fmt.Errorf("%v: want a number or a string", data)
}

// memorySetting is a size (512m, 4g) or none.
type memorySetting struct{ limitSetting }

func (m *memorySetting) UnmarshalText(t []byte) error {
	if strings.EqualFold(string(t), "none") {
		*m = memorySetting{limitSetting{0, true}}
		return nil
	}
	v, err := plan.ParseMemory(string(t))
	*m = memorySetting{limitSetting{v, err == nil}}
	return err
}

func (m *memorySetting) UnmarshalTOML(data any) error { return fromTOML(data, m) }

// cpusSetting is a number of CPUs (2, 0.5) or none.
type cpusSetting struct{ limitSetting }

func (c *cpusSetting) UnmarshalText(t []byte) error {
	if strings.EqualFold(string(t), "none") {
		*c = cpusSetting{limitSetting{0, true}}
		return nil
	}
	v, err := plan.ParseCPUs(string(t))
	*c = cpusSetting{limitSetting{v, err == nil}}
	return err
}

func (c *cpusSetting) UnmarshalTOML(data any) error { return fromTOML(data, c) }

// pidsSetting is a process limit or none; unset is plan.DefaultPIDs.
type pidsSetting struct{ limitSetting }

func (p *pidsSetting) UnmarshalText(t []byte) error {
	v, err := plan.ParsePIDs(string(t))
	*p = pidsSetting{limitSetting{v, err == nil}}
	return err
}

func (p *pidsSetting) UnmarshalTOML(data any) error { return fromTOML(data, p) }
