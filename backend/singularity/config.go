package singularity

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/launchcli/launch/plan"
)

// Flavour is the family of the runtime binary. It decides the prefix of the
// variables that reach the container: Apptainer reads APPTAINERENV_NAME,
// SingularityCE and Singularity 3.x read SINGULARITYENV_NAME.
type Flavour string

const (
	// FlavourApptainer is Apptainer (apptainer.org), the Linux Foundation
	// successor of Singularity. Its package also installs a `singularity`
	// command, which reports itself as apptainer.
	FlavourApptainer Flavour = "apptainer"
	// FlavourSingularity is SingularityCE (Sylabs) or Singularity 3.x.
	FlavourSingularity Flavour = "singularity"
)

// EnvPrefix returns the prefix that makes a variable of the runtime's
// environment a variable of the container's: "APPTAINERENV_" or
// "SINGULARITYENV_". The empty Flavour counts as FlavourApptainer.
func (f Flavour) EnvPrefix() string {
	if f == FlavourSingularity {
		return "SINGULARITYENV_"
	}
	return "APPTAINERENV_"
}

// Config holds what only this backend needs. cmd/launch fills it from flags,
// config files and host facts (FindRuntime, ClearNames); Render reads it and
// does no I/O of its own.
type Config struct {
	// Binary is the runtime command that Exec runs and Snippet prints: a name
	// looked up on PATH ("apptainer") or an absolute path (Runtime.Path).
	// Empty means the Flavour's own name.
	Binary string
	// Flavour decides the environment prefix; empty means FlavourApptainer.
	Flavour Flavour
	// Clear lists the names of host variables removed from the runtime's
	// environment, so that the container's environment is exactly the
	// Plan's. cmd/launch fills it with ClearNames(os.Environ()); names the
	// rendered command sets itself are kept. Order does not matter.
	Clear []string
	// NvCCLI adds --nvccli to --nv: GPUs are set up by nvidia-container-cli,
	// which can hand over single devices (NVIDIA_VISIBLE_DEVICES) instead of
	// binding every /dev/nvidia* node.
	NvCCLI bool
	// UserNS adds --userns: run in an unprivileged user namespace even where
	// a setuid starter is installed. Root needs it where it lacks
	// CAP_SYS_RESOURCE (inside most CI containers).
	UserNS bool
	// Unsquash adds --unsquash: a SIF file is extracted to a temporary
	// sandbox (under APPTAINER_TMPDIR) instead of being mounted. Apptainer
	// does this by itself when neither a setuid mount nor squashfuse over
	// /dev/fuse is possible; the flag makes it explicit (slower start, no
	// FUSE needed).
	Unsquash bool
	// SandboxDir, with Unsquash, keeps unpacked SIFs: a SIF is unpacked
	// once into SandboxDir/<its sha256> and that directory runs, instead of
	// unpacking on every launch (see sandbox.go). Absolute; empty means
	// --unsquash on every launch.
	SandboxDir string
	// SandboxMax bounds SandboxDir's size in bytes: an unpack that would
	// pass it is refused. 0 means no limit.
	SandboxMax int64
	// CacheDir is the absolute directory pulled images are kept in,
	// normally $XDG_CACHE_HOME/launch/sif. Required only for oras:// and
	// docker:// images.
	CacheDir string
	// ScratchDir is the absolute parent of the directory that a run creates
	// for the empty sources of masks, and removes afterwards. Empty means
	// $TMPDIR, or /tmp when that is unset, read when the command runs.
	ScratchDir string
	// NoLimits says why the runtime cannot apply resource limits here
	// (Host.CgroupLimits); empty when it can. Render then refuses limits a
	// user asked for and leaves the default pids limit out with a note.
	NoLimits string
	// OnImage, when set, is called by Exec with what it read from the image
	// (architecture, labels) before the runtime starts; cmd/launch prints it
	// with --verbose. It is not called by Render or Snippet.
	OnImage func(ImageInfo)
}

func (c Config) binary() string {
	if c.Binary != "" {
		return c.Binary
	}
	if c.Flavour == "" {
		return string(FlavourApptainer)
	}
	return string(c.Flavour)
}

// passedThrough are the variables Apptainer 1.4 copies from the host into
// the container even under --cleanenv (internal/pkg/util/env/create.go,
// alwaysPassKeys). SingularityCE passes the same set.
var passedThrough = []string{
	"TERM",
	"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
	"no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "ftp_proxy", "FTP_PROXY",
}

// kept are runtime settings that say where the runtime keeps its own files,
// not what the container sees; they survive ClearNames.
var kept = map[string]bool{
	"CACHEDIR":  true, // pulled layers, the oras cache
	"TMPDIR":    true, // where --unsquash extracts a SIF (node-local scratch on HPC)
	"CONFIGDIR": true, // remote endpoints, keyrings
}

// ClearNames returns, sorted, the names in environ (os.Environ() form,
// NAME=value) that must not reach the runtime's exec: the variables Apptainer
// passes into the container even under --cleanenv (TERM and the *_proxy
// family), every APPTAINERENV_* and SINGULARITYENV_* (they would add
// container variables the Plan does not have), and every APPTAINER_* and
// SINGULARITY_* setting (APPTAINER_BIND, APPTAINER_NV, ... are flags in
// disguise) except CACHEDIR, TMPDIR and CONFIGDIR. Only names are returned.
func ClearNames(environ []string) []string {
	pass := map[string]bool{}
	for _, n := range passedThrough {
		pass[n] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if name == "" || seen[name] {
			continue
		}
		if pass[name] || clearedSetting(name) {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func clearedSetting(name string) bool {
	for _, p := range []string{"APPTAINERENV_", "SINGULARITYENV_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, p := range []string{"APPTAINER_", "SINGULARITY_"} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			return !kept[rest]
		}
	}
	return false
}

// Runtime is the runtime binary FindRuntime found.
type Runtime struct {
	// Path is the absolute path of the binary.
	Path string
	// Flavour is Apptainer when the binary, its symbolic links resolved, is
	// called apptainer (Apptainer's package installs `singularity` as a link
	// to it), else Singularity; ReadVersion corrects it from the binary's own
	// words.
	Flavour Flavour
	// Version is the version number the binary reports ("1.4.3"); empty
	// until ReadVersion is called.
	Version string
}

// ErrNoRuntime is wrapped by FindRuntime's error when no runtime binary can
// be found.
var ErrNoRuntime = errors.New("no apptainer or singularity on PATH; on an HPC cluster: module load apptainer, on a compute node (sinteractive)")

// FindRuntime finds the runtime binary. name is the value of
// --singularity-bin (or the config's): empty tries apptainer, then
// singularity; a name is looked up on PATH; a path containing a slash is used
// as it is. It does not run the binary: `apptainer --version` costs 25 ms, a
// sixth of a whole container start, so only ReadVersion does that.
// lookPath is exec.LookPath, or a test's stand-in.
func FindRuntime(lookPath func(string) (string, error), name string) (Runtime, error) {
	candidates := []string{name}
	if name == "" {
		candidates = []string{"apptainer", "singularity"}
	}
	for _, c := range candidates {
		p, err := lookPath(c)
		if err == nil {
			return Runtime{Path: p, Flavour: flavourOf(p)}, nil
		}
		if name != "" {
			return Runtime{}, notFound(name)
		}
	}
	return Runtime{}, ErrNoRuntime
}

// flavourOf names the flavour after the binary's real name.
func flavourOf(path string) Flavour {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	if strings.Contains(filepath.Base(path), "apptainer") {
		return FlavourApptainer
	}
	return FlavourSingularity
}

// ReadVersion runs the binary with --version and returns r with Version set and
// Flavour taken from the output ("apptainer version 1.4.3",
// "singularity-ce version 4.1.0").
func (r Runtime) ReadVersion(ctx context.Context, e runner) (Runtime, error) {
	out, err := e.Output(ctx, []string{r.Path, "--version"})
	if err != nil {
		return r, fmt.Errorf("%s --version: %w", r.Path, err)
	}
	f, v, err := parseVersion(string(out))
	if err != nil {
		return r, fmt.Errorf("%s --version: %w", r.Path, err)
	}
	r.Flavour, r.Version = f, v
	return r, nil
}

// notFound wraps ErrNoRuntime with a message about the binary the user
// named, without repeating ErrNoRuntime's own text.
func notFound(name string) error {
	if strings.Contains(name, "/") {
		return plan.Errorf(ErrNoRuntime, "runtime %q: no such executable; check --singularity-bin (a name on PATH or an absolute path)", name)
	}
	return plan.Errorf(ErrNoRuntime, "runtime %q: not found on PATH; check --singularity-bin, or on an HPC cluster: module load apptainer, on a compute node (sinteractive)", name)
}

// parseVersion reads "apptainer version 1.4.3", "singularity-ce version
// 4.1.0" or "singularity version 3.8.7".
func parseVersion(out string) (Flavour, string, error) {
	fields := strings.Fields(out)
	if len(fields) < 3 || fields[1] != "version" {
		return "", "", fmt.Errorf("unexpected output %q; want \"apptainer version X\" or \"singularity version X\"", strings.TrimSpace(out))
	}
	switch {
	case strings.HasPrefix(fields[0], "apptainer"):
		return FlavourApptainer, fields[2], nil
	case strings.HasPrefix(fields[0], "singularity"):
		return FlavourSingularity, fields[2], nil
	}
	return "", "", fmt.Errorf("unknown runtime %q; want apptainer or singularity", fields[0])
}
