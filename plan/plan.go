// Package plan holds the Plan: a complete, resolved, runtime-neutral
// description of one launch. Flags, config files and host facts (cwd, home,
// environment) are resolved into a Plan once, by cmd/launch; every backend
// renders the same Plan.
//
// A Plan is a value: data only, no clients, no I/O. This package imports only
// the standard library (TestPlanIsALeaf enforces it), so that any backend and
// any tool can depend on it without pulling in an SDK.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Plan is a complete, resolved description of one launch.
type Plan struct {
	// Agent is the catalogue name of the agent ("codex", "claude", "pi",
	// "shell", or a user-defined one). Used for labels and the container name.
	Agent string `json:"agent"`
	// Image says what to run, per kind of backend.
	Image Image `json:"image"`
	// Argv is the command run in the container, argv[0] first. Never empty.
	Argv []string `json:"argv"`
	// Workdir is the absolute path, inside the container, the command starts
	// in. It is the workspace's container path.
	Workdir string `json:"workdir"`
	// Workspace is the absolute host path of the workspace. Informational
	// (labels, container name): the workspace mount itself is in Mounts.
	Workspace string `json:"workspace"`
	// Exposes lists, sorted, the host paths of secret stores (~/.ssh,
	// ~/.aws, ...) and the home directory that the workspace mount makes
	// visible because the user allowed it explicitly. Informational: the
	// plan preview names them; empty for an ordinary workspace.
	Exposes []string `json:"exposes,omitempty"`
	// User is the image's user: the name, ids and home the agent has inside
	// the container when the backend can map the caller to it (rootless
	// Podman's keep-id; Apptainer runs as the caller under this name).
	User User `json:"user"`
	// Caller is who runs launch on the host. Whatever the backend, what the
	// agent writes in the workspace belongs to the caller: a backend that
	// cannot map the caller to User (Docker, rootful Podman) runs the agent
	// as Caller instead, with a private home at User.Home.
	Caller Caller `json:"caller"`
	// Mounts are applied in order; a later mount shadows an earlier one at or
	// below its target (this is how --ro and --mask sit on the workspace).
	Mounts []Mount `json:"mounts"`
	// Env is the complete environment of the command: nothing else from the
	// host is passed. Sorted by name, names unique. PATH is set here only
	// when the user set it; otherwise the command gets the image's own PATH
	// with PathPrepend in front.
	Env []EnvVar `json:"env"`
	// PathPrepend lists container directories put, in this order, in front
	// of the image's own PATH (from the image's config for Docker and
	// Podman, from the SIF's environment for Apptainer). Where a backend
	// cannot read the image's PATH it uses FallbackPath and says so.
	PathPrepend []string `json:"path_prepend,omitempty"`
	// Network is the network policy.
	Network Network `json:"network"`
	// Publish lists the container's TCP ports served on the host, in the
	// order asked; empty for none. Validate requires NetworkOpen for any.
	Publish []Port `json:"publish,omitempty"`
	// Runtime is the OCI runtime flavour; empty means RuntimeRunc.
	Runtime Runtime `json:"runtime,omitempty"`
	// Privileges says what the agent may hold or gain: by default
	// (DefaultPrivileges) no capabilities and no new privileges. A backend
	// that cannot render a part of it refuses the Plan.
	Privileges Privileges `json:"privileges"`
	// Limits bound the container's memory, CPU and processes; the zero
	// value is no limit. A backend that cannot apply a limit refuses the
	// Plan, except the default pids limit (Limits.PIDsDefault), which it
	// leaves out with a note.
	Limits Limits `json:"limits"`
	// TTY requests a pseudo-terminal for the command. Stdin is always kept
	// open; TTY only changes whether the streams go through a terminal.
	TTY bool `json:"tty"`
	// Labels are attached to the container where the backend supports labels.
	Labels map[string]string `json:"labels,omitempty"`
	// GPUs selects the GPUs the command sees; the zero value means none.
	GPUs GPUs `json:"gpus"`
	// Pull says when the image is fetched; empty means PullMissing.
	Pull PullPolicy `json:"pull,omitempty"`
	// Prepare lists host paths that a real run creates before the container
	// starts (credential directories the agent writes to, ~/.claude.json). A
	// dry run creates nothing: its printed snippet creates them itself.
	Prepare []HostPath `json:"prepare,omitempty"`
	// Protected lists workspace paths, relative and slash-separated
	// (".git/hooks"), that run code on the host later and that the agent must
	// not change: those that exist are read-only inside (mounts of origin
	// OriginProtect); a real run fingerprints all of them before the session
	// and moves aside any that changed after it. Backends render only the
	// mounts.
	Protected []string `json:"protected,omitempty"`
	// ProtectedGitDirs lists git directories outside the workspace (host
	// paths, absolute and clean) that the agent may write: a worktree's,
	// with git_dir_writable. All but the data git writes is read-only
	// inside, and a real run fingerprints them as it does the workspace's
	// .git.
	ProtectedGitDirs []string `json:"protected_git_dirs,omitempty"`
	// Watched are agent settings files that stay writable but whose keys
	// name commands the agent's native runs on the host start: a real
	// attached run fingerprints those keys before the session and puts
	// back any the session changed.
	Watched []WatchedFile `json:"watched,omitempty"`
	// Prompt describes the system prompt the agent is given; nil when none.
	// Informational (the plan preview): the delivery itself is a read-only
	// mount of origin OriginPrompt and the agent's own arguments in Argv.
	Prompt *Prompt `json:"prompt,omitempty"`
	// Skills lists the skills mounted for the agent, in the order asked.
	// Informational: each is a read-only mount of origin OriginSkill.
	Skills []Skill `json:"skills,omitempty"`
	// Isolation, when set, gives the agent a copy of the workspace instead
	// of the workspace itself: the mounts that would bind workspace paths
	// bind the same paths of the copy. The caller makes the copy before the
	// session and brings the result back after it; backends render only the
	// mounts.
	Isolation *Isolation `json:"isolation,omitempty"`
	// SSH describes the SSH access the agent is given; nil when none.
	// Informational: the delivery is mounts of origin OriginSSH (and
	// SSH_AUTH_SOCK in Env with a forwarded agent).
	SSH *SSH `json:"ssh,omitempty"`
}

// SSH is the SSH access of a launch.
type SSH struct {
	// Hosts are the host names or aliases the agent may reach over SSH.
	Hosts []string `json:"hosts"`
	// Agent is set when the caller's SSH agent is forwarded instead of
	// mounting identity files.
	Agent bool `json:"agent,omitempty"`
	// Config is the host file of the generated ssh config.
	Config string `json:"config"`
}

// Isolation is an isolated session: the copy, and where its result goes.
type Isolation struct {
	// Session names the session: the agent, the time and launch's pid
	// ("claude-20261201-154233-4242").
	Session string `json:"session"`
	// Source is the host workspace, never written; Copy the session's
	// copy of it, which the agent works on.
	Source string `json:"source"`
	Copy   string `json:"copy"`
	// Git is set when Source is a git repository: the result comes back
	// into it as the branch Branch. Otherwise the copy is moved to Result.
	Git    bool   `json:"git"`
	Branch string `json:"branch,omitempty"`
	// Worktree is set when Source is a git worktree or submodule (its .git
	// a file): the copy's .git is then a clone of it, on the same HEAD.
	Worktree bool   `json:"worktree,omitempty"`
	Result   string `json:"result,omitempty"`
	// Bytes is the size of the workspace; MaxBytes the limit it was
	// checked against (0: none).
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
	// Resume is set when Copy exists from an interrupted session and is
	// used as it is.
	Resume bool `json:"resume,omitempty"`
}

// WatchedFile is a JSON file of Plan.Watched and its key patterns
// (dot-separated, "*" for any key).
type WatchedFile struct {
	Path string   `json:"path"`
	Keys []string `json:"keys"`
}

// Prompt is the system prompt of a launch.
type Prompt struct {
	// Host is the session's private copy of the prompt on the host (0600),
	// written by a real run (Plan.Prepare) and mounted read-only at Target.
	Host string `json:"host"`
	// Target is where the agent reads it in the container.
	Target string `json:"target"`
	// Size is its length in bytes; FirstLine its first non-empty line,
	// shortened, for the preview.
	Size      int    `json:"size"`
	FirstLine string `json:"first_line"`
	// From says where the text came from: a file, or a config key.
	From string `json:"from"`
}

// Skill is one skill given to the agent.
type Skill struct {
	Name string `json:"name"`
	// Source is the skill's host directory; Target where the agent finds
	// it in the container.
	Source string `json:"source"`
	Target string `json:"target"`
}

// Image names the image for each kind of backend. A backend uses only its
// own field; Validate requires at least one of OCI and SIF.
type Image struct {
	// OCI is an OCI image reference for Docker and Podman
	// ("ghcr.io/nichd-bspc/llm:codex-latest").
	OCI string `json:"oci,omitempty"`
	// SIF is what Singularity/Apptainer runs: a local .sif file, a sandbox
	// directory, or an oras:// or docker:// reference.
	SIF string `json:"sif,omitempty"`
	// Platform selects the image's platform ("linux/arm64" in JSON); the
	// zero value means the engine's default.
	Platform Platform `json:"platform,omitzero"`
	// Default is true when the image is the catalogue default rather than one
	// the user named; only a default image is pulled without being asked to.
	Default bool `json:"default"`
}

// User is the identity of the command inside the container.
type User struct {
	// UID and GID are numeric ids inside the container.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// Name is the user name inside the image ("devuser"); may be empty.
	Name string `json:"name,omitempty"`
	// Home is the absolute home directory inside the container. It starts
	// empty and writable, apart from what Mounts put under it.
	Home string `json:"home"`
}

// Caller is the host identity that runs launch.
type Caller struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// FallbackPath is the PATH a backend uses in place of the image's own when
// it cannot read the image (a dry run without it): the default PATH of
// Debian and Ubuntu images.
const FallbackPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// MountKind says what a Mount puts at its target.
type MountKind string

const (
	// MountBind binds the host path Source at Target.
	MountBind MountKind = "bind"
	// MountMask hides Target behind an empty, read-only directory (or an
	// empty file when File is set). It has no Source.
	MountMask MountKind = "mask"
)

// Mount is one entry of Plan.Mounts.
type Mount struct {
	Kind MountKind `json:"kind"`
	// Source is the absolute host path of a bind mount; empty for a mask.
	Source string `json:"source,omitempty"`
	// Target is the absolute, clean path inside the container.
	Target string `json:"target"`
	// ReadOnly makes the mount read-only. Masks are always read-only.
	ReadOnly bool `json:"readonly"`
	// File is set when the mount is of a single file rather than a directory:
	// a masked file is hidden behind an empty file.
	File bool `json:"file,omitempty"`
	// Origin says why the mount exists, for --verbose and the confirmation:
	// one of the Origin* constants.
	Origin string `json:"origin"`
}

// Origins of mounts.
const (
	OriginWorkspace  = "workspace"
	OriginCredential = "credential"
	// OriginAgentSettings is an agent's own settings that its native runs
	// on the host read as commands (hooks, notify, extensions): read-only
	// over the credential directory (the catalogue's settings).
	OriginAgentSettings = "agent-settings"
	OriginUser          = "mount" // --mount, LLM_DEVCONTAINER_MOUNTS, config
	OriginReadOnly      = "ro"    // --ro
	OriginMask          = "mask"  // --mask
	OriginCerts         = "certs"
	OriginConda         = "conda"
	OriginProtect       = "protect" // a protected workspace path, read-only
	OriginGit           = "git"     // a worktree's git directory, outside the workspace
	OriginPrompt        = "prompt"  // the session's system prompt, read-only
	OriginSkill         = "skill"   // a skill, read-only
	OriginSSH           = "ssh"     // the agent's ssh config, known_hosts, keys or agent socket
)

// EnvVar is one variable of the command's environment.
type EnvVar struct {
	Name string `json:"name"`
	// Value is the variable's value. When FromHost is set it is the host's
	// value of the variable of the same name, read when the Plan was made; it
	// is then never printed: renderers pass it by name (docker --env NAME,
	// APPTAINERENV_NAME="$NAME") and the JSON form leaves it out.
	Value string `json:"value,omitempty"`
	// FromHost marks a value inherited from the host environment by name.
	FromHost bool `json:"from_host,omitempty"`
}

// MarshalJSON leaves an inherited value out, so that printing a Plan (--json)
// never shows a secret.
func (e EnvVar) MarshalJSON() ([]byte, error) {
	type plain EnvVar
	if e.FromHost {
		e.Value = ""
	}
	return json.Marshal(plain(e))
}

// Runtime is the OCI runtime flavour.
type Runtime string

const (
	// RuntimeRunc is the engine's default runtime.
	RuntimeRunc Runtime = "runc"
	// RuntimeRunsc is gVisor: a user-space kernel between the agent and the host.
	RuntimeRunsc Runtime = "runsc"
)

// PullPolicy says when an image is fetched.
type PullPolicy string

const (
	// PullMissing fetches an image that is not present locally.
	PullMissing PullPolicy = "missing"
	// PullAlways fetches the image before every run.
	PullAlways PullPolicy = "always"
	// PullNever never fetches; a missing image is an error.
	PullNever PullPolicy = "never"
)

// GPUs selects GPUs; the zero value means no GPU.
type GPUs struct {
	// All passes every GPU of the host.
	All bool `json:"all,omitempty"`
	// Devices lists device ids or UUIDs ("0", "GPU-3f…") when All is unset.
	Devices []string `json:"devices,omitempty"`
}

// Any reports whether any GPU is requested.
func (g GPUs) Any() bool { return g.All || len(g.Devices) > 0 }

// HostPath is a path on the host that a real run creates if it is missing.
type HostPath struct {
	// Path is absolute.
	Path string `json:"path"`
	// Dir is set for a directory; otherwise a file with Content is written.
	Dir bool `json:"dir,omitempty"`
	// Content is the content of a new file (ignored for a directory).
	Content string `json:"content,omitempty"`
	// Placeholder marks a path made only so that a read-only mount covers
	// it (an agent setting that did not exist): a real attached run
	// removes it after the session if it is still as made.
	Placeholder bool `json:"placeholder,omitempty"`
}

// Lookup returns the variable called name and whether it is set.
func (p *Plan) Lookup(name string) (EnvVar, bool) {
	i := sort.Search(len(p.Env), func(i int) bool { return p.Env[i].Name >= name })
	if i < len(p.Env) && p.Env[i].Name == name {
		return p.Env[i], true
	}
	return EnvVar{}, false
}

// EnvNames returns the names of the command's environment, sorted.
func (p *Plan) EnvNames() []string {
	names := make([]string, len(p.Env))
	for i, e := range p.Env {
		names[i] = e.Name
	}
	return names
}

// Hash is a short, stable digest of the Plan's JSON form (which holds no
// inherited values), used to label a container with the plan that made it.
func (p *Plan) Hash() string {
	b, err := json.Marshal(p)
	if err != nil {
		// A Plan holds only strings, numbers, bools, slices and maps of
		// strings: encoding cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// SortEnv sorts env by name. Later entries win over earlier ones of the same
// name, so callers can append overrides and sort once.
func SortEnv(env []EnvVar) []EnvVar {
	byName := make(map[string]EnvVar, len(env))
	for _, e := range env {
		byName[e.Name] = e
	}
	out := make([]EnvVar, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Decode reads one Plan in its JSON form, rejecting unknown fields, and
// validates it.
func Decode(r io.Reader) (Plan, error) {
	var p Plan
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Plan{}, fmt.Errorf("decode plan: %w", err)
	}
	return p, p.Validate()
}

// EnvWithPath is Env with PATH set from PathPrepend in front of imagePath,
// the image's own PATH ("" when it cannot be read: FallbackPath is used).
// Without PathPrepend it is Env unchanged, and the image's PATH applies as
// it is.
func (p *Plan) EnvWithPath(imagePath string) []EnvVar {
	if len(p.PathPrepend) == 0 {
		return p.Env
	}
	if imagePath == "" {
		imagePath = FallbackPath
	}
	seen := map[string]bool{}
	var dirs []string
	for _, d := range append(append([]string(nil), p.PathPrepend...), strings.Split(imagePath, ":")...) {
		if d != "" && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return SortEnv(append(append([]EnvVar(nil), p.Env...), EnvVar{Name: "PATH", Value: strings.Join(dirs, ":")}))
}
