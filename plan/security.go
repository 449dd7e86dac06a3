package plan

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Privileges says what the agent may hold or gain inside the container. The
// default (DefaultPrivileges) is least privilege: no capabilities and no way
// to gain any (a setuid binary, `sudo`, runs with the caller's own rights).
// The zero value, with Capabilities empty, means the default too
// (Effective), so that a Plan that says nothing gets least privilege.
type Privileges struct {
	// NoNewPrivileges sets Linux's no_new_privs on the agent: no process it
	// starts can gain privileges through a setuid or setgid binary or file
	// capabilities. On by default; off only with PrivilegesImage.
	NoNewPrivileges bool `json:"no_new_privileges"`
	// Capabilities is the capability set the agent starts from:
	// CapabilitiesNone (the default; the empty value means the same) or
	// CapabilitiesImage, the engine's default set.
	Capabilities CapabilitySet `json:"capabilities"`
	// Add lists capabilities kept on top of that set, by their canonical
	// names ("CAP_NET_BIND_SERVICE"), sorted and unique.
	Add []string `json:"add,omitempty"`
}

// CapabilitySet is the capability set the agent starts from.
type CapabilitySet string

const (
	// CapabilitiesNone drops every capability (the bounding set too), so
	// that even root in the container holds none but Privileges.Add.
	CapabilitiesNone CapabilitySet = "none"
	// CapabilitiesImage keeps the engine's default set (Docker's and
	// Podman's 11 to 14 capabilities; all of them for root under
	// Apptainer): the image runs as it was built to, `sudo` included.
	CapabilitiesImage CapabilitySet = "image"
)

// PrivilegeMode is the --privileges setting: least (the default) or image.
type PrivilegeMode string

const (
	// PrivilegesLeast is no new privileges and no capabilities but the ones
	// added back by name.
	PrivilegesLeast PrivilegeMode = "least"
	// PrivilegesImage runs the image as it intends: the engine's default
	// capabilities, and setuid binaries (sudo) work.
	PrivilegesImage PrivilegeMode = "image"
)

// ParsePrivilegeMode parses least or image.
func ParsePrivilegeMode(s string) (PrivilegeMode, error) {
	switch m := PrivilegeMode(strings.ToLower(s)); m {
	case PrivilegesLeast, PrivilegesImage:
		return m, nil
	}
	return "", Errorf(ErrInvalid, "privileges %q: want least (no capabilities, no setuid; the default) or image (the engine's defaults, so that sudo works)", s)
}

// DefaultPrivileges is least privilege with the capabilities add kept.
func DefaultPrivileges(add ...string) Privileges {
	return Privileges{NoNewPrivileges: true, Capabilities: CapabilitiesNone, Add: add}
}

// PrivilegesOf is the Privileges of mode m with the capabilities add kept.
func PrivilegesOf(m PrivilegeMode, add []string) Privileges {
	if m == PrivilegesImage {
		return Privileges{Capabilities: CapabilitiesImage, Add: add}
	}
	return DefaultPrivileges(add...)
}

// Effective is p with the zero value's meaning spelled out: empty
// Capabilities is DefaultPrivileges (with p.Add). Renderers use it.
func (p Privileges) Effective() Privileges {
	if p.Capabilities == "" {
		return DefaultPrivileges(p.Add...)
	}
	return p
}

// Least reports whether p is the least-privilege set: no new privileges and
// no capabilities beyond Add.
func (p Privileges) Least() bool {
	e := p.Effective()
	return e.NoNewPrivileges && e.Capabilities != CapabilitiesImage
}

// String is how the plan preview shows p.
func (p Privileges) String() string {
	p = p.Effective()
	var parts []string
	if p.Capabilities == CapabilitiesImage {
		parts = append(parts, "the engine's default capabilities")
	} else {
		parts = append(parts, "no capabilities")
	}
	if len(p.Add) > 0 {
		parts[0] += " + " + strings.Join(p.Add, ",")
	}
	if p.NoNewPrivileges {
		parts = append(parts, "no new privileges (setuid, sudo do not raise)")
	} else {
		parts = append(parts, "setuid and sudo work")
	}
	return strings.Join(parts, "; ")
}

// capabilities are the Linux capabilities by number (capability(7), Linux
// 6.x): the names Privileges.Add accepts.
var capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// ParseCapability returns the canonical name of a capability given as
// NET_BIND_SERVICE, net_bind_service or CAP_NET_BIND_SERVICE.
func ParseCapability(s string) (string, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "CAP_") {
		name = "CAP_" + name
	}
	for _, c := range capabilities {
		if c == name {
			return name, nil
		}
	}
	if name == "CAP_ALL" {
		return "", Errorf(ErrInvalid, "capability %q: to keep the engine's default capabilities use --privileges image; launch adds capabilities back one by one", s)
	}
	return "", Errorf(ErrInvalid, "capability %q: not a Linux capability; want a name such as NET_BIND_SERVICE or CAP_CHOWN (see capabilities(7))", s)
}

// Limits bound the resources of the container. A zero field means no limit.
type Limits struct {
	// Memory is the most memory, in bytes, the container may use; swap is
	// not added on top. A process that needs more is killed (exit 137).
	Memory int64 `json:"memory,omitempty"`
	// MilliCPUs is the CPU time the container may use, in thousandths of a
	// CPU (1500 is one and a half CPUs), enforced as a CFS quota.
	MilliCPUs int64 `json:"milli_cpus,omitempty"`
	// PIDs is the most processes and threads the container may hold at
	// once; a fork bomb stops there.
	PIDs int64 `json:"pids,omitempty"`
	// PIDsDefault is set when PIDs is launch's default (DefaultPIDs) rather
	// than a limit someone asked for: a backend that cannot apply limits
	// leaves it out with a note instead of refusing the launch.
	PIDsDefault bool `json:"pids_default,omitempty"`
}

// DefaultPIDs is the process limit a launch gets unless told otherwise:
// far above what a build or a language server needs, far below what would
// exhaust a host's pid space (Podman's own default is 2048).
const DefaultPIDs = 4096

// Any reports whether any limit is set.
func (l Limits) Any() bool { return l.Memory > 0 || l.MilliCPUs > 0 || l.PIDs > 0 }

// Asked reports whether a limit other than the default pids limit is set.
func (l Limits) Asked() bool {
	return l.Memory > 0 || l.MilliCPUs > 0 || (l.PIDs > 0 && !l.PIDsDefault)
}

// String is how the plan preview shows l.
func (l Limits) String() string {
	var parts []string
	if l.Memory > 0 {
		parts = append(parts, "memory "+FormatBytes(l.Memory))
	}
	if l.MilliCPUs > 0 {
		parts = append(parts, "cpus "+FormatCPUs(l.MilliCPUs))
	}
	if l.PIDs > 0 {
		p := "pids " + strconv.FormatInt(l.PIDs, 10)
		if l.PIDsDefault {
			p += " (default)"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

var units = []struct {
	suffix string
	size   int64
}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}}

// ParseMemory parses a size as Docker's --memory takes it: a number of
// bytes, or one with the suffix b, k, m or g (powers of 1024; kb, mb, gb,
// KiB, MiB, GiB too). The smallest is 6m, the least any engine accepts.
func ParseMemory(s string) (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, Errorf(ErrInvalid, "memory %q: %s; want a size such as 512m or 4g (k, m, g are powers of 1024)", s, why)
	}
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.size
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || t == "" || strings.ContainsAny(t, "eE+-") || math.IsNaN(f) {
		return bad("not a size")
	}
	b := f * float64(mult)
	if b > math.MaxInt64/2 {
		return bad("too large")
	}
	n := int64(b)
	if n < 6<<20 {
		return bad("below 6m, the least the engines accept")
	}
	return n, nil
}

// FormatBytes writes n as ParseMemory reads it, exactly: 512m, 4g, or a
// number of bytes.
func FormatBytes(n int64) string {
	for _, u := range units {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// ParseCPUs parses a number of CPUs, as Docker's --cpus takes it: 2, 0.5,
// 1.25 (to a thousandth of a CPU).
func ParseCPUs(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || strings.ContainsAny(s, "eExX") || math.IsNaN(f) || math.IsInf(f, 0) || f > 1<<20 {
		return 0, Errorf(ErrInvalid, "cpus %q: want a number of CPUs such as 2 or 0.5", s)
	}
	m := int64(math.Round(f * 1000))
	if m < 10 {
		return 0, Errorf(ErrInvalid, "cpus %q: want at least 0.01 CPU", s)
	}
	return m, nil
}

// FormatCPUs writes thousandths of a CPU as a decimal number: 1500 is 1.5.
func FormatCPUs(milli int64) string {
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
}

// ParsePIDs parses a process limit: a whole number from 16 up, or 0 or
// "none" for no limit at all.
func ParsePIDs(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "none" || t == "0" || t == "unlimited" {
		return 0, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 16 {
		return 0, Errorf(ErrInvalid, "pids %q: want a whole number of processes of at least 16, or none (or 0) for no limit", s)
	}
	return n, nil
}

// validateSecurity checks Privileges and Limits.
func (p *Plan) validateSecurity(bad func(string, ...any)) {
	switch p.Privileges.Capabilities {
	case "", CapabilitiesNone, CapabilitiesImage:
	default:
		bad("privileges capabilities %q: want none or image", p.Privileges.Capabilities)
	}
	if !sort.StringsAreSorted(p.Privileges.Add) {
		bad("privileges add %q: want the names sorted", p.Privileges.Add)
	}
	for i, c := range p.Privileges.Add {
		if canon, err := ParseCapability(c); err != nil || canon != c {
			bad("privileges add %q: want a capability's canonical name (CAP_...)", c)
		}
		if i > 0 && p.Privileges.Add[i-1] == c {
			bad("privileges add %q: listed twice", c)
		}
	}
	l := p.Limits
	if l.Memory < 0 || (l.Memory > 0 && l.Memory < 6<<20) {
		bad("limits memory %d: want 0 (none) or at least 6 MiB", l.Memory)
	}
	if l.MilliCPUs < 0 || (l.MilliCPUs > 0 && l.MilliCPUs < 10) {
		bad("limits milli_cpus %d: want 0 (none) or at least 10", l.MilliCPUs)
	}
	if l.PIDs < 0 || (l.PIDs > 0 && l.PIDs < 16) {
		bad("limits pids %d: want 0 (none) or at least 16", l.PIDs)
	}
	if l.PIDsDefault && l.PIDs == 0 {
		bad("limits pids_default: set without a pids limit")
	}
}

// CanonicalCapabilities parses names and returns them canonical, sorted and
// unique.
func CanonicalCapabilities(names []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		c, err := ParseCapability(n)
		if err != nil {
			return nil, err
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

// CapabilityNames is every capability name ParseCapability accepts, in the
// kernel's order.
func CapabilityNames() []string { return append([]string(nil), capabilities...) }

// RunAs is who the agent runs as where the engine cannot map the caller to
// the image user (Docker on an engine that shares the host's ids, rootful
// Podman), decided once for every such backend (Plan.Unmapped).
type RunAs struct {
	// UID and GID are the agent's ids: the caller's, root as 0:0.
	UID, GID int
	// ImageUser: the caller is the image user; nothing changes.
	ImageUser bool
	// ImageHome: root with the image's capabilities keeps the image's home
	// (root can write it).
	ImageHome bool
	// HomeMount is the target of a mount that holds User.Home; then that
	// mount is the home. Otherwise, and without ImageHome, the agent gets a
	// private, empty home at User.Home that it owns.
	HomeMount string
}

// Unmapped says who the agent runs as where the engine cannot map the
// caller to the image user, so that what it writes in the workspace belongs
// to the caller: the image user when the caller is that user; else the
// caller (root as 0:0), keeping the image's home only as root with the
// image's capabilities (root without capabilities cannot write a home the
// image user owns), with a private home otherwise.
func (p *Plan) Unmapped() RunAs {
	u, cl := p.User, p.Caller
	if u.UID == cl.UID && u.GID == cl.GID {
		return RunAs{UID: u.UID, GID: u.GID, ImageUser: true}
	}
	r := RunAs{UID: cl.UID, GID: cl.GID}
	if cl.UID == 0 {
		r.GID = 0 // root runs as 0:0, whatever its group
		r.ImageHome = p.Privileges.Effective().Capabilities == CapabilitiesImage
	}
	for _, m := range p.Mounts {
		if m.Target == u.Home || strings.HasPrefix(u.Home, strings.TrimSuffix(m.Target, "/")+"/") {
			r.HomeMount = m.Target
			break
		}
	}
	return r
}
