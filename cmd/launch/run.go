package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/backend/docker"
	"github.com/launchcli/launch/creds"
	"github.com/launchcli/launch/guard"
	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
	sess "github.com/launchcli/launch/session"
)

// launcher is a Plan rendered by one backend: what --dry-run prints, and
// the real run.
type launcher interface {
	// Snippet is the shell text that --dry-run prints.
	Snippet() string
	// Notes are remarks for stderr, true of a real run and of the printed
	// command alike.
	Notes() []string
	// CommandNotes are remarks about the printed command only, which a
	// dry run prints and a real run does not.
	CommandNotes() []string
	// Run carries out the rendered launch and returns the agent's exit code.
	Run(ctx context.Context, s iostreams.Streams) (int, error)
}

// render hands the Plan to the chosen backend's renderer.
func render(backend backendName, p plan.Plan, o *options, h *Host) (launcher, error) {
	switch backend {
	case backendDocker:
		return renderDocker(p, o, h)
	case backendPodman:
		return renderPodman(p, o, h)
	case backendSingularity:
		return renderSingularity(p, o, h)
	}
	panic("unknown backend " + string(backend)) // backendName parses only these
}

// chooseBackend applies the default when no layer named a backend: Podman on
// macOS (Podman Desktop), else Singularity/Apptainer when on PATH (HPC),
// else Docker when its engine is configured (the docker backend's own
// rule) and this user may use it, else Podman when on PATH, else a Docker
// that refuses this user (its error says why), else Singularity, whose
// error then says how to get it. note, when set, says why the choice is
// not the one the user may expect (a Docker engine skipped).
func chooseBackend(o *options, h *Host) (b backendName, note string) {
	if o.Backend != "" {
		return o.Backend, ""
	}
	if h.GOOS == "darwin" {
		return backendPodman, ""
	}
	for _, bin := range []string{"apptainer", "singularity"} {
		if _, err := h.LookPath(bin); err == nil {
			return backendSingularity, ""
		}
	}
	dh := dockerHost(h)
	dockerOK := docker.Configured(dh)
	var denied *docker.UnreachableError
	if dockerOK && errors.As(docker.Usable(dh), &denied) {
		dockerOK = false
	}
	if dockerOK {
		return backendDocker, ""
	}
	if _, err := h.LookPath("podman"); err == nil {
		if denied != nil {
			note = fmt.Sprintf("backend podman: the docker socket %s refuses you (permission denied), so launch uses podman; to use docker, join the docker group (`sudo usermod -aG docker $USER`, then log out and in), or choose podman outright (--backend podman, or backend = \"podman\" in your config)", strings.Join(denied.Denied, ", "))
		}
		return backendPodman, note
	}
	if denied != nil {
		return backendDocker, ""
	}
	return backendSingularity, ""
}

// launch is the action behind the CLI: flags → options → Plan → backend →
// print or run. --json and --dry-run stop after the backend has rendered
// the Plan, so they check everything a real run checks before it starts.
func launch(ctx context.Context, s iostreams.Streams, h *Host, f *flagState, cmd *cli.Command) error {
	o, err := buildOptions(h, f, cmd)
	if err != nil {
		return err
	}
	if f.login != nil {
		b, _ := chooseBackend(o, h) // the note is printed where the launch chooses again, below
		if err := loginOptions(o, h, *f.login, b); err != nil {
			return err
		}
	}
	if a, ok := o.Agents[o.Agent]; ok && a.Shell && len(o.Args) == 1 && (o.Args[0] == "-h" || o.Args[0] == "--help") {
		_, err := fmt.Fprint(s.Out, shellHelp)
		return err
	}
	res, err := resolve(o, h)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(s.Err, "launch: warning: %s\n", w)
	}
	if o.Verbose {
		for _, i := range res.Info {
			fmt.Fprintf(s.Err, "launch: %s\n", i)
		}
	}
	p := res.Plan
	backend, note := chooseBackend(o, h)
	if note != "" {
		fmt.Fprintf(s.Err, "launch: %s\n", note)
	}
	if err := realRunChecks(o, p, backend); err != nil {
		return err
	}
	l, err := render(backend, p, o, h)
	if err != nil {
		return err
	}
	if o.SlurmOn {
		return launchSlurm(ctx, s, o, h, p, backend, cmd)
	}
	if o.JSON {
		return printJSON(s.Out, backend, p, nil)
	}
	// Notes explain the rendered launch: a dry run always shows them, a
	// real run only with --verbose, except warnings. Notes about the
	// printed command only are the dry run's (printDryRun).
	for _, n := range append(l.Notes(), networkNotes(backend, p)...) {
		if o.DryRun || o.Verbose || strings.HasPrefix(n, "warning: ") {
			fmt.Fprintf(s.Err, "launch: %s\n", n)
		}
	}
	if o.DryRun {
		return printDryRun(s, o, p, backend, l)
	}
	if o.Detach && backend == backendSingularity {
		l = supervisedLauncher{h: h, p: p, app: cmd.Root()}
	}
	return runLaunch(ctx, s, o, h, p, backend, l)
}

// printDryRun is the dry run: the notes a real run would keep to itself,
// then the commands on stdout.
func printDryRun(s iostreams.Streams, o *options, p plan.Plan, backend backendName, l launcher) error {
	for _, n := range l.CommandNotes() {
		fmt.Fprintf(s.Err, "launch: %s\n", n)
	}
	if out := outsideWorkspace(p); len(out) > 0 {
		fmt.Fprintf(s.Err, "launch: outside the workspace, the agent sees: %s\n", strings.Join(out, ", "))
	}
	if iso := p.Isolation; iso != nil {
		back := "the branch " + iso.Branch + " of " + iso.Source
		if !iso.Git {
			back = "the new directory " + iso.Result
		}
		fmt.Fprintf(s.Err, "launch: isolated: the agent works on a copy of the workspace at %s; afterwards what it left comes back as %s (the lines after the command)\n", iso.Copy, back)
	}
	if p.Prompt != nil {
		fmt.Fprintf(s.Err, "launch: prompt: %d bytes from %s, first line %q\n", p.Prompt.Size, p.Prompt.From, p.Prompt.FirstLine)
	}
	if p.SSH != nil {
		fmt.Fprintf(s.Err, "launch: ssh: the agent may reach %s; its ~/.ssh holds only their config and known_hosts (written to %s)\n", strings.Join(p.SSH.Hosts, ", "), filepath.Dir(p.SSH.Config))
	}
	for _, sk := range p.Skills {
		fmt.Fprintf(s.Err, "launch: skill %s: %s, read-only at %s\n", sk.Name, sk.Source, sk.Target)
	}
	if len(p.Protected) > 0 {
		fmt.Fprintf(s.Err, "launch: protected workspace paths (read-only inside where they exist): %s; a real run also moves aside any that the session creates or changes\n", strings.Join(p.Protected, " "))
	}
	if o.Detach && backend == backendSingularity {
		fmt.Fprintf(s.Err, "launch: --detach: a real run keeps the session under launch's own supervisor (a pseudo-terminal, a log and an attach socket; see docs/sessions.md), which runs this command\n")
	}
	if backend != backendSingularity {
		// What only the moment of a real run can add.
		fmt.Fprintf(s.Err, "launch: a real run also labels the container %s and %s (its launcher's pid and start time)\n", naming.LabelPID, naming.LabelStarted)
	}
	fmt.Fprintf(s.Err, "launch: dry run: %s with %s; nothing was run or created\n", p.Agent, backend)
	snippet := strings.TrimRight(withProxy(l.Snippet(), p.Network), "\n")
	if p.Isolation != nil {
		before, after := isolateLines(p.Isolation)
		snippet = strings.Join(append(append(before, snippet), after...), "\n")
	}
	_, err := io.WriteString(s.Out, snippet+"\n")
	return err
}

// shellHelp is "launch shell -h": bash -c has no help of its own.
const shellHelp = `launch shell runs bash in the container:
   launch shell                      an interactive bash
   launch shell 'SCRIPT'             bash -c SCRIPT (one argument)
   launch shell CMD ARGS...          bash -c with CMD ARGS quoted word by word
   launch shell -- CMD ARGS...       the same; one "--" after the agent is dropped
launch's own flags go before "shell" (launch -h lists them).
`

// printJSON prints what --json shows: the backend and the Plan.
func printJSON(w io.Writer, backend backendName, p plan.Plan, srun []string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Backend backendName `json:"backend"`
		Plan    *plan.Plan  `json:"plan"`
		Slurm   []string    `json:"slurm,omitempty"`
	}{backend, &p, srun})
}

// runLaunch asks, prepares the host and runs.
func runLaunch(ctx context.Context, s iostreams.Streams, o *options, h *Host, p plan.Plan, backend backendName, l launcher) error {
	warnExpiring(s.Err, p, time.Now())
	if err := askToLaunch(ctx, s, o, p, backend); err != nil {
		return err
	}
	last, release, err := placeholderLock(h)
	if err != nil {
		return err
	}
	defer release()
	made, err := prepare(p.Prepare)
	if err != nil {
		if last() {
			removePlaceholders(made) // those made before the failure
		}
		return err
	}
	if o.Detach {
		// realRunChecks refused a host proxy and --isolate here.
		return runDetached(ctx, s, h, p, backend, l)
	}
	defer func() {
		if last() {
			removePlaceholders(made)
		}
	}()
	wsDir, iso := p.Workspace, p.Isolation
	var rec sessionRecord
	if iso != nil {
		if rec, err = isolateStart(ctx, iso); err != nil {
			return err
		}
		wsDir = iso.Copy
	}
	protected := p.Protected
	if iso != nil {
		// The return checks the copy's git directory itself, runs no git
		// with it and refuses one that points elsewhere (isolate_git.go);
		// the copy's .git never becomes the user's.
		protected = slices.DeleteFunc(slices.Clone(protected), func(r string) bool { return r == guard.GitDir })
	}
	snap, err := takeProtected(wsDir, protected, p.ProtectedGitDirs)
	if err != nil {
		if iso != nil {
			err = keptError(iso, err)
		}
		return err
	}
	watch := creds.TakeWatch(p.Watched)
	code, err := runWatched(ctx, s, h, o, p, backend, l)
	if gerr := checkProtected(s.Err, snap); err == nil {
		err = gerr
	}
	if werr := restoreWatched(s.Err, watch); err == nil {
		err = werr
	}
	if iso != nil {
		if err != nil {
			err = keptError(iso, err)
		} else {
			err = isolateFinish(ctx, s.Err, iso, rec)
		}
	}
	if err != nil {
		return err
	}
	if code == 137 {
		fmt.Fprintf(s.Err, "launch: %s\n", killedNote(p.Limits))
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// runWatched runs l under a watcher that ends the session if launch dies
// without a chance to (watch_cmd.go).
func runWatched(ctx context.Context, s iostreams.Streams, h *Host, o *options, p plan.Plan, backend backendName, l launcher) (int, error) {
	pid := h.PID
	if backend == backendSingularity {
		pid = 0 // no containers: the runtime processes are tracked
	}
	w := startWatch(h, pid)
	defer w.Done()
	if sl, ok := l.(singularityLauncher); ok {
		sl.started = w.Track
		l = sl
	}
	return runWithPolicy(ctx, s, o, p, l)
}

// runDetached starts a detached session; the backend prints its name on
// stdout, and stderr says how to reach it. On Docker and Podman the
// protected paths are fingerprinted first and the fingerprint kept for the
// session commands to check once the session has ended (detach_guard.go);
// a supervised session's launch checks them itself.
func runDetached(ctx context.Context, s iostreams.Streams, h *Host, p plan.Plan, backend backendName, l launcher) error {
	_, supervised := l.(supervisedLauncher)
	rec := guardRecord{Backend: backend, Workspace: p.Workspace, Started: time.Now()}
	if !supervised && len(p.Protected) > 0 {
		snap, err := takeProtected(p.Workspace, p.Protected, p.ProtectedGitDirs)
		if err != nil {
			return err
		}
		rec.Snapshot = snap
	}
	var name strings.Builder
	if _, err := l.Run(ctx, iostreams.Streams{In: s.In, Out: io.MultiWriter(s.Out, &name), Err: s.Err}); err != nil {
		return err
	}
	n := strings.TrimSpace(name.String())
	fmt.Fprintf(s.Err, "launch: %s runs detached as %s: launch attach %s (detach again with %s), launch logs %s, launch stop %s\n", p.Agent, n, n, sess.DefaultDetachKeys, n, n)
	if rec.Snapshot != nil {
		rec.Name = n
		if err := saveGuard(h, rec); err != nil {
			fmt.Fprintf(s.Err, "launch: warning: %v: launch cannot check the session's protected paths (%s) after it; look at them before you run anything in the workspace\n", err, strings.Join(p.Protected, " "))
		}
	}
	return nil
}

// runWithPolicy runs l, with the host proxy of an allowlist around it.
func runWithPolicy(ctx context.Context, s iostreams.Streams, o *options, p plan.Plan, l launcher) (int, error) {
	if p.Network.Proxy == nil {
		return l.Run(ctx, s)
	}
	var verbose io.Writer
	if o.Verbose {
		verbose = s.Err
	}
	// A real run only: the upstream proxy is the one of this process.
	hp, err := startProxy(p.Network, os.Getenv, verbose)
	if err != nil {
		return 0, err
	}
	code, err := l.Run(ctx, s)
	if perr := hp.stop(); err == nil && perr != nil {
		err = fmt.Errorf("network proxy: %w", perr)
	}
	return code, err
}

// restoreWatched puts back the agent settings keys that the session
// changed (Plan.Watched) and says so.
func restoreWatched(w io.Writer, watch creds.Watch) error {
	put, err := watch.Restore(time.Now())
	if len(put) > 0 {
		fmt.Fprintf(w, "launch: warning: the session changed agent settings that your own agent runs as commands on the host; they were put back as they were:\n")
		for _, r := range put {
			fmt.Fprintf(w, "launch:   %s: %s (the session's version of the file: %s)\n", r.File, r.Key, r.Saved)
		}
		fmt.Fprintf(w, "launch: see docs/security.md, Agent settings\n")
	}
	return err
}

// takeProtected fingerprints the protected paths before a session, and
// the git directories outside the workspace that it may write.
func takeProtected(workspace string, protected, gitDirs []string) (guard.Snapshot, error) {
	snap, err := guard.Take(workspace, protected)
	for _, d := range gitDirs {
		if err != nil {
			break
		}
		var more guard.Snapshot
		more, err = guard.TakeGitDir(d)
		snap = append(snap, more...)
	}
	if err != nil {
		return snap, fmt.Errorf("%w; launch checks the protected paths before and after a session (see docs/security.md)", err)
	}
	return snap, nil
}

// checkProtected compares the protected paths with their state before the
// session, moves aside any that changed, and says so.
func checkProtected(w io.Writer, snap guard.Snapshot) error {
	return checkProtectedOf(w, "the session", snap)
}

// checkProtectedOf is checkProtected for the session what names.
func checkProtectedOf(w io.Writer, what string, snap guard.Snapshot) error {
	changes, err := snap.Changed()
	if len(changes) == 0 {
		return err
	}
	changes, uerr := guard.Undo(changes, time.Now())
	fmt.Fprintf(w, "launch: warning: %s changed protected workspace paths, which run code on the host later; they were moved aside so that nothing runs them:\n", what)
	ws := snap[0].Root // Take's entries come first; a git directory outside has its own root
	for _, c := range changes {
		how := "created"
		if c.Existed {
			how = "changed"
		}
		name := c.Rel
		if c.Root != ws {
			name = c.Path
		}
		switch {
		case c.MovedTo != "":
			fmt.Fprintf(w, "launch:   %s (%s) -> %s\n", name, how, c.MovedTo)
		case c.Existed:
			fmt.Fprintf(w, "launch:   %s (removed or moved away by the session)\n", name)
		}
	}
	fmt.Fprintf(w, "launch: read them before you move any back; see docs/security.md, protected paths\n")
	return errors.Join(err, uerr)
}

// askToLaunch asks for confirmation unless --yes; a "no" is exit 1.
func askToLaunch(ctx context.Context, s iostreams.Streams, o *options, p plan.Plan, backend backendName) error {
	if o.Yes {
		return nil
	}
	ok, err := confirm(ctx, s, p, backend)
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintln(s.Err, "launch: not launched")
		return exitError{1}
	}
	return nil
}

// prepare creates the missing host paths of a real run: credential
// directories (0700) and files (0600) that the agent writes to.
func prepare(hp []plan.HostPath) (placeholders []plan.HostPath, err error) {
	for _, x := range hp {
		_, missing := os.Lstat(x.Path)
		if x.Dir {
			if err := os.MkdirAll(x.Path, 0o700); err != nil {
				return placeholders, fmt.Errorf("create credential directory %q: %w", x.Path, err)
			}
			if missing != nil && x.Placeholder {
				placeholders = append(placeholders, x)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(x.Path), 0o700); err != nil {
			return placeholders, fmt.Errorf("create credential directory %q: %w", filepath.Dir(x.Path), err)
		}
		f, err := os.OpenFile(x.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue // created meanwhile: keep it
		}
		if err != nil {
			return placeholders, fmt.Errorf("create credential file %q: %w", x.Path, err)
		}
		_, werr := f.WriteString(x.Content)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(x.Path)
			return placeholders, fmt.Errorf("write credential file %q: %w", x.Path, werr)
		}
		if x.Placeholder {
			placeholders = append(placeholders, x)
		}
	}
	return placeholders, nil
}

// placeholderLock is held (shared) by every launch from before it prepares
// the agent settings' placeholders until its session ends. Only the last
// launch out removes the placeholders it made: another launch in the same
// home (a batch, a second terminal) may still have them mounted, and a
// read-only mount whose source is gone fails to start. A placeholder that
// a launch found made by another stays until a later last launch made it.
func placeholderLock(h *Host) (last func() bool, release func(), err error) {
	dir := stateDir(h)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("agent settings: create %q for the placeholders' lock: %w", dir, err)
	}
	last, release, err = sess.Shared(filepath.Join(dir, "placeholders.lock"))
	if err != nil {
		return nil, nil, fmt.Errorf("agent settings: lock %q: %w", filepath.Join(dir, "placeholders.lock"), err)
	}
	return last, release, nil
}

// removePlaceholders removes the agent settings that prepare made only for
// the read-only mount over them, each if it is still as made (a file with
// its content, an empty directory): your host is left as it was, and
// launch refresh --full copies no empty settings of launch's.
func removePlaceholders(made []plan.HostPath) {
	for _, x := range made {
		if x.Dir {
			os.Remove(x.Path) // only when empty
			continue
		}
		if b, err := os.ReadFile(x.Path); err == nil && string(b) == x.Content {
			os.Remove(x.Path)
		}
	}
}

// summary is the resolved plan as a person reads it before a launch.
func summary(p plan.Plan, backend backendName) string {
	var b strings.Builder
	img := p.Image.OCI
	if backend == backendSingularity {
		img = p.Image.SIF
	}
	fmt.Fprintf(&b, "  agent:    %s (%s)\n", p.Agent, shell.Join(p.Argv))
	fmt.Fprintf(&b, "  image:    %s\n", img)
	fmt.Fprintf(&b, "  backend:  %s\n", backend)
	rt := p.Runtime
	if rt == "" {
		rt = plan.RuntimeRunc
	}
	fmt.Fprintf(&b, "  runtime:  %s\n", rt)
	fmt.Fprintf(&b, "  network:  %s\n", p.Network)
	if len(p.Publish) > 0 {
		fmt.Fprintf(&b, "  publish:  %s\n", strings.Join(portList(p.Publish), " "))
	}
	fmt.Fprintf(&b, "  privileges: %s\n", p.Privileges)
	fmt.Fprintf(&b, "  limits:   %s\n", p.Limits)
	if len(p.Exposes) > 0 {
		fmt.Fprintf(&b, "  exposes:  %s (--allow-secrets)\n", strings.Join(p.Exposes, " "))
	}
	if p.GPUs.Any() {
		g := "all"
		if !p.GPUs.All {
			g = strings.Join(p.GPUs.Devices, ",")
		}
		fmt.Fprintf(&b, "  gpus:     %s\n", g)
	}
	contextSummary(&b, p)
	fmt.Fprintf(&b, "  mounts:\n")
	for _, m := range p.Mounts {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		src := m.Source
		if m.Kind == plan.MountMask {
			src, mode = "(empty)", "masked"
		}
		fmt.Fprintf(&b, "    %-6s %s -> %s  [%s]\n", mode, src, m.Target, m.Origin)
	}
	if out := outsideWorkspace(p); len(out) > 0 {
		fmt.Fprintf(&b, "  outside the workspace, the agent sees: %s\n", strings.Join(out, ", "))
	}
	if len(p.Protected) > 0 {
		fmt.Fprintf(&b, "  protected: %s\n", strings.Join(p.Protected, " "))
	}
	var consts, inherited []string
	for _, e := range p.Env {
		if e.FromHost {
			inherited = append(inherited, e.Name)
		} else {
			consts = append(consts, e.Name)
		}
	}
	fmt.Fprintf(&b, "  env:      %s\n", strings.Join(consts, " "))
	if len(inherited) > 0 {
		fmt.Fprintf(&b, "  from host: %s\n", strings.Join(inherited, " "))
	}
	return b.String()
}

// outsideWorkspace lists the host paths outside the workspace that the
// agent sees, each marked read-only or WRITABLE.
func outsideWorkspace(p plan.Plan) []string {
	var ws string
	for _, m := range p.Mounts {
		if m.Origin == plan.OriginWorkspace {
			ws = m.Source
		}
	}
	var out []string
	for _, m := range p.Mounts {
		if m.Kind != plan.MountBind || (ws != "" && mounts.Within(m.Source, ws)) {
			continue
		}
		mode := "WRITABLE"
		if m.ReadOnly {
			mode = "read-only"
		}
		out = append(out, fmt.Sprintf("%s (%s)", m.Source, mode))
	}
	return out
}

// confirm shows the plan and asks when stdin is a terminal; without a
// terminal there is nobody to ask, and the launch goes ahead. A signal while
// it waits (ctx) ends the wait.
func confirm(ctx context.Context, s iostreams.Streams, p plan.Plan, backend backendName) (bool, error) {
	in, ok := s.Terminal()
	if !ok {
		return true, nil
	}
	fmt.Fprintf(s.Err, "launch plan:\n%s", summary(p, backend))
	fmt.Fprint(s.Err, "launch this agent? [y/N] ")
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(in).ReadString('\n')
		got <- answer{line, err}
	}()
	var a answer
	select {
	case a = <-got:
	case <-ctx.Done():
		fmt.Fprintln(s.Err)
		return false, context.Cause(ctx)
	}
	if a.err != nil && !errors.Is(a.err, io.EOF) {
		return false, a.err
	}
	switch strings.ToLower(strings.TrimSpace(a.line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// dockerHost is the host as the docker backend reads it.
func dockerHost(h *Host) docker.Host {
	return docker.Host{
		Getenv:    h.Getenv,
		Home:      h.Home,
		ConfigDir: docker.ConfigDir(h.Getenv, h.Home),
		GOOS:      h.GOOS,
		Exists:    func(p string) bool { _, err := h.Stat(p); return err == nil },
		Access:    h.SocketAccess,
	}
}

// killedNote explains exit status 137: the agent was killed with SIGKILL,
// most often by the kernel for going past its memory limit.
func killedNote(l plan.Limits) string {
	if l.Memory > 0 {
		return fmt.Sprintf("the agent was killed (exit 137, SIGKILL): it most likely went past its memory limit of %s (--memory; the kernel kills the container's largest process there); raise the limit or make the work smaller", plan.FormatBytes(l.Memory))
	}
	return "the agent was killed (exit 137, SIGKILL): by the kernel when memory ran out, or by someone on the host"
}

// contextSummary is what the agent is given besides its mounts, as the
// plan preview shows it: the isolation, the prompt, the skills, SSH.
func contextSummary(b *strings.Builder, p plan.Plan) {
	if p.Prompt != nil {
		fmt.Fprintf(b, "  prompt:   %d bytes from %s: %q\n", p.Prompt.Size, p.Prompt.From, p.Prompt.FirstLine)
	}
	if iso := p.Isolation; iso != nil {
		back := "as the git branch " + iso.Branch
		if !iso.Git {
			back = "as the directory " + iso.Result
		}
		fmt.Fprintf(b, "  isolated: the agent works on a copy (%s) at %s; it comes back %s\n", plan.FormatBytes(iso.Bytes), iso.Copy, back)
	}
	if len(p.Skills) > 0 {
		var names []string
		for _, s := range p.Skills {
			names = append(names, fmt.Sprintf("%s (%s)", s.Name, s.Source))
		}
		fmt.Fprintf(b, "  skills:   %s\n", strings.Join(names, ", "))
	}
	if p.SSH != nil {
		how := "their keys read-only"
		if p.SSH.Agent {
			how = "your SSH agent forwarded"
		}
		fmt.Fprintf(b, "  ssh:      %s (%s)\n", strings.Join(p.SSH.Hosts, " "), how)
	}
}
