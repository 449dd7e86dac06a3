package singularity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/launchcli/launch/internal/iostreams"
)

// runner is what FindRuntime and Exec need from the host: finding and
// starting processes. Host is the real one; tests use a stub.
type runner interface {
	// LookPath finds a command as exec.LookPath does.
	LookPath(file string) (string, error)
	// Output runs argv to completion and returns its standard output.
	Output(ctx context.Context, argv []string) ([]byte, error)
	// Environ is the environment the runtime starts from (os.Environ()).
	Environ() []string
	// Run runs p to completion and returns its exit status (128+N when
	// killed by signal N). The error is non-nil only when p could not be
	// run or waited for.
	Run(ctx context.Context, p proc) (int, error)
}

// proc is one child process.
type proc struct {
	Argv    []string
	Env     []string
	Streams iostreams.Streams
}

// Exec carries r out: it pulls the image into the cache when r says so,
// inspects the image (not a SIF, wrong architecture: error), creates the
// empty mask sources in a fresh scratch directory, and runs the runtime as a
// child with the streams passed through. It returns the runtime's exit status, which is the agent's. The
// scratch directory and a partial pull are removed on every path. The
// Plan's host paths (Plan.Prepare) are not Exec's: cmd/launch creates them
// before it calls Exec, as the snippet does before the runtime.
//
// Signals: SIGTERM and SIGHUP sent to launch are passed on to the runtime.
// SIGINT and SIGQUIT are passed on too unless s.In is a terminal: then the
// terminal has already sent them to the runtime, which shares launch's
// process group, and a second copy would reach the agent twice. Cancelling
// ctx (plainly, or by its deadline) sends SIGTERM to the runtime, and Exec
// still waits for it to exit; a ctx cancelled by a signal
// (signal.NotifyContext) is left to the forwarding above.
func (r Rendered) Exec(ctx context.Context, e runner, s iostreams.Streams) (code int, err error) {
	if r.pull != nil {
		if err := r.fetch(ctx, e, s); err != nil {
			return -1, err
		}
	}
	info, err := Inspect(r.image)
	if err != nil {
		return -1, err
	}
	if err := checkArch(info, r.platform); err != nil {
		return -1, err
	}
	if r.onImage != nil {
		r.onImage(info)
	}
	image := r.image
	if r.sandbox != nil && info.Kind == KindSIF {
		if image, err = r.sandbox.ensure(ctx, e, r.binary, r.image, s); err != nil {
			return -1, err
		}
	}
	dir := ""
	if r.needsScratch() {
		parent := r.scratch
		if parent == "" {
			parent = os.TempDir()
		}
		if strings.ContainsAny(parent, ",:\n") {
			return -1, fmt.Errorf("scratch directory %q: contains ',', ':' or a newline, which a bind cannot take; set TMPDIR to a plain path", parent)
		}
		dir, err = os.MkdirTemp(parent, "launch.")
		if err != nil {
			return -1, fmt.Errorf("scratch directory: %w", err)
		}
		defer func() {
			if rmErr := removeAll(dir); rmErr != nil && err == nil {
				err = fmt.Errorf("remove scratch directory: %w", rmErr)
			}
		}()
		if err := makeMasks(dir, r.masks); err != nil {
			return -1, err
		}
	}
	env := r.environ(e.Environ())
	if r.tmpdirVar != "" {
		env = append(env, r.tmpdirVar+"="+dir)
	}
	argv := r.argv(dir)
	argv[1+r.imageAt] = image
	return e.Run(ctx, proc{Argv: argv, Env: env, Streams: s})
}

// settleTime is how long after its start the runtime may lose a signal.
const settleTime = time.Second

// removeAll removes dir even where the runtime left directories without
// write permission (an unsquashed image interrupted half-way).
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error { //nolint:errcheck // best effort; RemoveAll reports
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

func makeMasks(dir string, masks []mask) error {
	for _, m := range masks {
		p := filepath.Join(dir, m.name)
		var err error
		if m.file {
			err = os.WriteFile(p, nil, 0o600)
		} else {
			err = os.Mkdir(p, 0o700)
		}
		if err != nil {
			return fmt.Errorf("mask source: %w", err)
		}
	}
	return nil
}

// argv is the runtime's argv with mask sources under dir.
func (r Rendered) argv(dir string) []string {
	out := make([]string, 0, len(r.args)+1)
	out = append(out, r.binary)
	for _, a := range r.args {
		if a.scratch {
			out = append(out, dir+"/"+a.word)
		} else {
			out = append(out, a.word)
		}
	}
	return out
}

// environ is base without the cleared names and without the names r sets,
// followed by r's variables in order.
func (r Rendered) environ(base []string) []string {
	drop := map[string]bool{}
	for _, n := range r.unset {
		drop[n] = true
	}
	for _, v := range r.env {
		drop[v.name] = true
	}
	if r.tmpdirVar != "" {
		drop[r.tmpdirVar] = true
	}
	out := make([]string, 0, len(base)+len(r.env))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			out = append(out, kv)
		}
	}
	for _, v := range r.env {
		out = append(out, v.name+"="+v.value)
	}
	return out
}

func (p *pull) missing() string {
	return fmt.Sprintf("image %q: not in the cache (%s); %s", p.ref, p.link, p.advice)
}

// fetch pulls the image into the cache as the snippet does: into a
// temporary file next to the store, then under its sha256, then the link.
func (r Rendered) fetch(ctx context.Context, e runner, s iostreams.Streams) error {
	p := r.pull
	_, err := os.Stat(p.link)
	switch {
	case err == nil && !p.always:
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("image cache: %w", err)
	case err != nil && p.never:
		return errors.New(p.missing())
	}
	for _, d := range []string{p.store, filepath.Dir(p.link)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("image cache: %w", err)
		}
	}
	f, err := os.CreateTemp(p.store, ".pull.")
	if err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	part := f.Name()
	f.Close()
	defer os.Remove(part) // gone already after a successful rename
	argv := append([]string{r.binary}, p.args...)
	argv = append(argv, part, p.ref)
	// The pull's own output (progress) goes to stderr, so that the agent's
	// stdout stays the agent's.
	code, err := e.Run(ctx, proc{Argv: argv, Env: e.Environ(), Streams: iostreams.Streams{In: s.In, Out: s.Err, Err: s.Err}})
	if err != nil {
		return fmt.Errorf("pull %q: %w", p.ref, err)
	}
	if code != 0 {
		return fmt.Errorf("pull %q: %s exited with status %d (see its message above); check the reference and your network or proxy", p.ref, r.binary, code)
	}
	sum, err := fileSHA256(part)
	if err != nil {
		return fmt.Errorf("pull %q: %w", p.ref, err)
	}
	final := filepath.Join(p.store, sum+".sif")
	if err := os.Rename(part, final); err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	// Replace the link in one step: a concurrent run sees the old image or
	// the new one, never no image.
	tmp := p.link + ".new." + sum[:12]
	os.Remove(tmp)
	if err := os.Symlink(final, tmp); err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	if err := os.Rename(tmp, p.link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image cache: %w", err)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Host is the real host: PATH lookups, the process environment, child
// processes with signals passed on. The zero value is ready to use.
type Host struct {
	// Started, when set, is told the pid of each runtime process Run
	// starts, so that cmd/launch's watcher can end it if launch dies
	// without a chance to (docs/sessions.md, orphans).
	Started func(pid int)
}

var _ runner = Host{}

// LookPath is exec.LookPath.
func (Host) LookPath(file string) (string, error) { return exec.LookPath(file) }

// Output runs argv and returns its standard output.
func (Host) Output(ctx context.Context, argv []string) ([]byte, error) {
	return exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
}

// Environ is os.Environ.
func (Host) Environ() []string { return os.Environ() }

// FUSEUsable reports whether this process can open /dev/fuse, which the
// runtime needs to mount a SIF file without privileges (squashfuse). When it
// cannot, set Config.Unsquash.
func (Host) FUSEUsable() bool {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// NeedsUserNS reports whether the runtime must be told --userns
// (Config.UserNS): as root without CAP_SYS_RESOURCE, which most CI and
// nested containers drop, Apptainer's privileged start fails ("Requesting
// capability set ... while permitted capability set is ..."). An ordinary
// user never needs it: an unprivileged install uses a user namespace anyway.
func (Host) NeedsUserNS() bool {
	if os.Geteuid() != 0 {
		return false
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	return !hasCap(string(b), capSysResource)
}

const capSysResource = 24

// hasCap reads the CapEff line of /proc/self/status.
func hasCap(status string, bit uint) bool {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<bit) != 0
		}
	}
	return false
}

// forwarded says whether a signal launch received is passed on to the
// runtime: all of them, except the terminal's own SIGINT and SIGQUIT when
// stdin is a terminal, which the child (in launch's process group) already
// got from the terminal.
func forwarded(sig os.Signal, tty bool) bool {
	return !tty || (sig != syscall.SIGINT && sig != syscall.SIGQUIT)
}

// Run starts p with its streams passed through (a terminal stays the
// child's terminal), forwards signals as Exec documents, and waits.
func (h Host) Run(ctx context.Context, p proc) (int, error) {
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.Env = p.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.Streams.In, p.Streams.Out, p.Streams.Err
	_, tty := p.Streams.Terminal()

	// Catch the signals before the child exists, so that none kills
	// launch and leaves the scratch directory behind.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	// A signal that came before the handler above was installed cancelled
	// ctx and nothing else: do not start an agent nobody wants any more.
	// One that comes from here on waits in sigs and is passed on below.
	if ctx.Err() != nil {
		return -1, fmt.Errorf("interrupted before %s started: %w", p.Argv[0], context.Cause(ctx))
	}
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("start %s: %w", p.Argv[0], err)
	}
	if h.Started != nil {
		h.Started(cmd.Process.Pid)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		ctxDone := ctx.Done()
		// A signal that reaches the runtime while it sets itself up can be
		// lost (seen with Apptainer 1.4.3: a SIGINT in its first 50 ms, and
		// the agent ran on). Signals passed on in that window are sent once
		// more when it is over.
		started := time.Now()
		settled := time.After(settleTime)
		var early []os.Signal
		for {
			select {
			case sig := <-sigs:
				if forwarded(sig, tty) {
					cmd.Process.Signal(sig) //nolint:errcheck // the child may have exited
					if time.Since(started) < settleTime {
						early = append(early, sig)
					}
				}
			case <-settled:
				for _, sig := range early {
					cmd.Process.Signal(sig) //nolint:errcheck
				}
				early = nil
			case <-ctxDone:
				ctxDone = nil
				// signal.NotifyContext (cmd/launch's main) cancels ctx on
				// SIGINT too; that signal reached this process and the case
				// above has dealt with it as documented. Turning it into a
				// SIGTERM would end an agent whose Ctrl-C only interrupts
				// its current step. Only a plain cancel or a deadline stops
				// the runtime.
				if c := context.Cause(ctx); c == context.Canceled || c == context.DeadlineExceeded {
					cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	if err == nil {
		return 0, nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return -1, fmt.Errorf("wait for %s: %w", p.Argv[0], err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return exit.ExitCode(), nil
}

// CgroupLimits says why the runtime at binary (an absolute path) cannot
// apply resource limits (--memory, --cpus, --pids-limit) for this process,
// or "" when it can. Apptainer 1.4 applies them through cgroups: for an
// unprivileged user only on a cgroup v2 host with systemd delegating them;
// for root with its systemd cgroup manager ("systemd cgroups = yes", the
// default in apptainer.conf) only where systemd runs, or else through
// cgroupfs, on cgroup v1 or v2 (checked on apptainer 1.4.3 on a cgroup v1
// host without systemd: with the default config every limit fails with
// "cannot use systemd cgroups manager"; as root with "systemd cgroups = no"
// they apply, with --userns too; as uid 1001 they fail with "not configured
// for cgroups v2 in unified mode").
func (Host) CgroupLimits(binary string) string {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	v2 := err == nil
	_, err = os.Stat("/run/systemd/system")
	systemd := err == nil
	if os.Geteuid() != 0 {
		switch {
		case !v2:
			return "this host has cgroup v1, and apptainer applies limits for an unprivileged user only with cgroup v2"
		case !systemd:
			return "systemd is not running, and apptainer needs it to delegate cgroups to an unprivileged user"
		}
		return ""
	}
	if systemdCgroups(binary) && !systemd {
		return "apptainer.conf says \"systemd cgroups = yes\" and systemd is not running"
	}
	return ""
}

// systemdCgroups reads "systemd cgroups" from the configuration file of the
// runtime at binary (PREFIX/bin/apptainer reads
// PREFIX/etc/apptainer/apptainer.conf; /usr/bin's reads /etc's). Unreadable
// or unset, it is the default, yes.
func systemdCgroups(binary string) bool {
	if real, err := filepath.EvalSymlinks(binary); err == nil {
		binary = real
	}
	name := flavourOf(binary)
	prefix := filepath.Dir(filepath.Dir(binary))
	etc := filepath.Join(prefix, "etc")
	if prefix == "/usr" {
		etc = "/etc"
	}
	b, err := os.ReadFile(filepath.Join(etc, string(name), string(name)+".conf"))
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.Join(strings.Fields(k), " ") == "systemd cgroups" {
			return strings.TrimSpace(v) != "no"
		}
	}
	return true
}
