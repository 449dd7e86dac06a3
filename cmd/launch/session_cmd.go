package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/backend/docker"
	"github.com/launchcli/launch/backend/podman"
	"github.com/launchcli/launch/internal/iostreams"
	sess "github.com/launchcli/launch/session"
)

// The session commands: launch ps, attach, stop and logs act on the
// sessions launch started, on every backend that answers here.

// sessionBackend is one reachable backend's session calls. The image
// calls (launch gc --images) are nil for a backend without an image store
// of its own.
type sessionBackend struct {
	name   backendName
	list   func(ctx context.Context, all bool) ([]sess.Info, error)
	stop   func(ctx context.Context, s sess.Info) error
	remove func(ctx context.Context, s sess.Info) error
	logs   func(ctx context.Context, s sess.Info, follow bool, out, errw io.Writer) error
	attach func(ctx context.Context, s sess.Info, st iostreams.Streams, keys string) (bool, int, error)
	close  func()

	// endpoint names the engine as Info.Endpoint and sess.Pulled do.
	endpoint string
	// imageOf is the ID, size and names of the image ref names ("" when
	// none).
	imageOf func(ctx context.Context, ref string) (string, int64, []string, error)
	// imagesInUse are the IDs of the images any container uses.
	imagesInUse func(ctx context.Context) (map[string]bool, error)
	// removeImage removes the reference ref (the image with its last one).
	removeImage func(ctx context.Context, ref string) error
	// sidecars lists proxy sidecars and their volumes that no session
	// names (launch gc), and removeSidecar removes one; nil where the
	// backend has none.
	sidecars      func(ctx context.Context) ([]sess.Info, error)
	removeSidecar func(ctx context.Context, s sess.Info) error
	// sizes are the containers' writable-layer sizes by ID (launch gc);
	// nil where the backend reports none.
	sizes func(ctx context.Context) (map[string]int64, error)
}

// engineCalls are an engine backend's session functions over its
// connection type C (docker.SessionEngine, *podman.Conn); bind makes them
// a sessionBackend for one connection.
type engineCalls[C any] struct {
	list         func(context.Context, C, int, bool) ([]sess.Info, error)
	stop, remove func(context.Context, C, sess.Info) error
	logs         func(context.Context, C, sess.Info, bool, io.Writer, io.Writer) error
	attach       func(context.Context, C, sess.Info, iostreams.Streams, string) (bool, int, error)
	imageOf      func(context.Context, C, string) (string, int64, []string, error)
	imagesInUse  func(context.Context, C) (map[string]bool, error)
	removeImage  func(context.Context, C, string) error
	sidecars     func(context.Context, C, int) ([]sess.Info, error)
	removeSide   func(context.Context, C, sess.Info) error
	sizes        func(context.Context, C, int) (map[string]int64, error)
}

func (k engineCalls[C]) bind(name backendName, c C, uid int, endpoint string, close func()) sessionBackend {
	return sessionBackend{
		name:   name,
		list:   func(ctx context.Context, all bool) ([]sess.Info, error) { return k.list(ctx, c, uid, all) },
		stop:   func(ctx context.Context, s sess.Info) error { return k.stop(ctx, c, s) },
		remove: func(ctx context.Context, s sess.Info) error { return k.remove(ctx, c, s) },
		logs: func(ctx context.Context, s sess.Info, f bool, o, e io.Writer) error {
			return k.logs(ctx, c, s, f, o, e)
		},
		attach: func(ctx context.Context, s sess.Info, st iostreams.Streams, keys string) (bool, int, error) {
			return k.attach(ctx, c, s, st, keys)
		},
		close:    close,
		endpoint: endpoint,
		imageOf: func(ctx context.Context, ref string) (string, int64, []string, error) {
			return k.imageOf(ctx, c, ref)
		},
		imagesInUse:   func(ctx context.Context) (map[string]bool, error) { return k.imagesInUse(ctx, c) },
		removeImage:   func(ctx context.Context, ref string) error { return k.removeImage(ctx, c, ref) },
		sidecars:      func(ctx context.Context) ([]sess.Info, error) { return k.sidecars(ctx, c, uid) },
		removeSidecar: func(ctx context.Context, s sess.Info) error { return k.removeSide(ctx, c, s) },
		sizes:         func(ctx context.Context) (map[string]int64, error) { return k.sizes(ctx, c, uid) },
	}
}

var (
	dockerCalls = engineCalls[docker.SessionEngine]{
		list: docker.Sessions, stop: docker.Stop, remove: docker.Remove, logs: docker.Logs, attach: docker.Attach,
		imageOf: docker.ImageOf, imagesInUse: docker.ImagesInUse, removeImage: docker.RemoveImage,
		sidecars: docker.Sidecars, removeSide: docker.RemoveSidecar, sizes: docker.ContainerSizes,
	}
	podmanCalls = engineCalls[*podman.Conn]{
		list: podman.Sessions, stop: podman.Stop, remove: podman.Remove, logs: podman.Logs, attach: podman.Attach,
		imageOf: podman.ImageOf, imagesInUse: podman.ImagesInUse, removeImage: podman.RemoveImage,
		sidecars: podman.Sidecars, removeSide: podman.RemoveSidecar, sizes: podman.ContainerSizes,
	}
)

// sessionBackends connects to each backend with sessions (Docker, Podman)
// that answers here; one that does not is left out, and its error
// returned for withSessions to name.
func sessionBackends(ctx context.Context, h *Host) ([]sessionBackend, []error) {
	var out []sessionBackend
	var errs []error
	if dh := dockerHost(h); docker.Configured(dh) {
		if c, err := docker.Connect(ctx, dh); err == nil {
			out = append(out, dockerCalls.bind(backendDocker, c, h.UID, c.DaemonHost(), func() { c.Close() }))
		} else {
			errs = append(errs, err)
		}
	}
	if _, err := h.LookPath("podman"); err == nil || h.Getenv("CONTAINER_HOST") != "" {
		if c, err := podman.Connect(ctx, podmanHost(h)); err == nil {
			out = append(out, podmanCalls.bind(backendPodman, c, h.UID, c.Endpoint(), func() { c.Close() }))
		} else {
			errs = append(errs, err)
		}
	}
	out = append(out, supervisedBackend(h))
	if sb, ok := slurmBackend(h); ok {
		out = append(out, sb)
	}
	return out, errs
}

// found is a session and the backend that runs it.
type found struct {
	sess.Info
	b *sessionBackend
}

// allSessions lists the caller's sessions on every reachable backend.
func allSessions(ctx context.Context, bs []sessionBackend, all bool) ([]found, error) {
	var out []found
	var errs []error
	for i := range bs {
		list, err := bs[i].list(ctx, all)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range list {
			out = append(out, found{s, &bs[i]})
		}
	}
	return out, errors.Join(errs...)
}

// withSessions connects, runs f and disconnects. A backend that did not
// answer is left out, and named when f finds no session of the name: the
// session may be there.
func withSessions(ctx context.Context, h *Host, f func(bs []sessionBackend) error) error {
	bs, unreached := sessionBackends(ctx, h)
	defer func() {
		for _, b := range bs {
			b.close()
		}
	}()
	err := f(bs)
	if errors.Is(err, errNoSession) && len(unreached) > 0 {
		err = fmt.Errorf("%w; not looked at, since it did not answer: %w", err, errors.Join(unreached...))
	}
	return err
}

// errNoSession marks findSession's "no such session"; it prints nothing.
var errNoSession = errors.New("")

// findSession finds the session NAME (or an ID prefix) among the caller's,
// ended ones included; none or several is an error that says what to do.
func findSession(ctx context.Context, bs []sessionBackend, name string) (found, error) {
	list, err := allSessions(ctx, bs, true)
	var infos []sess.Info
	for _, f := range list {
		infos = append(infos, f.Info)
	}
	match := sess.Find(infos, name)
	switch {
	case len(match) == 1:
		for _, f := range list {
			if f.ID == match[0].ID && f.Backend == match[0].Backend {
				return f, nil
			}
		}
	case len(match) > 1 && match[0].Name == name:
		var which []string
		for _, m := range match {
			which = append(which, fmt.Sprintf("%s (ID %s)", m.Backend, m.ID[:min(12, len(m.ID))]))
		}
		return found{}, usagef("session %q: %d sessions have that name, on %s; choose one with --backend %s (after the command: launch attach|logs|stop --backend %s %s), or give its ID",
			name, len(match), strings.Join(which, " and "), match[0].Backend, match[0].Backend, name)
	case len(match) > 1:
		return found{}, usagef("session %q: %d sessions match; give more of the ID or the name (launch ps -a)", name, len(match))
	}
	if err != nil {
		return found{}, fmt.Errorf("session %q: not found, and a backend did not answer: %w", name, err)
	}
	return found{}, usagef("session %q: no such session of yours (launch ps -a lists them)%w", name, errNoSession)
}

// psCommand is "launch ps".
func psCommand(s iostreams.Streams, h *Host) *cli.Command {
	var all, asJSON bool
	return &cli.Command{
		Name:      "ps",
		Usage:     "list your sessions on every backend that answers here",
		UsageText: "launch ps [-a] [--json]",
		Description: `Lists the sessions launch started for you (attached and detached) on Docker
and Podman: name, agent, backend, status, when it started, network policy
and workspace. Another user's sessions on a shared engine are not shown.
-a includes sessions that ended and were not removed yet (a detached one
stays until launch stop or launch gc removes it). A detached session found
ended has its protected paths checked (reported on stderr), as launch
stop, attach and gc do.

Examples:
   launch ps
   launch ps -a --json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Destination: &all, Usage: "include sessions that ended"},
			&cli.BoolFlag{Name: "json", Destination: &asJSON, Usage: "print the list as JSON"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return withSessions(ctx, h, func(bs []sessionBackend) error {
				list, err := allSessions(ctx, bs, all)
				infos := []sess.Info{}
				for _, f := range list {
					infos = append(infos, f.Info)
				}
				sess.Sort(infos)
				if asJSON {
					if werr := writeJSON(s.Out, infos); werr != nil {
						return werr
					}
				} else {
					printSessions(s.Out, h.Home, infos, time.Now())
				}
				return errors.Join(err, checkEndedGuards(ctx, s.Err, h, bs))
			})
		},
	}
}

// printSessions writes the table of launch ps.
func printSessions(w io.Writer, home string, list []sess.Info, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tAGENT\tBACKEND\tSTATUS\tSTARTED\tNETWORK\tWORKSPACE")
	for _, i := range list {
		status := string(i.Status)
		if i.ExitCode != nil {
			status = fmt.Sprintf("%s (%d)", status, *i.ExitCode)
		}
		if !i.Detached && !i.Status.Ended() {
			status += ", attached"
		}
		started := "-"
		if !i.Started.IsZero() {
			started = now.Sub(i.Started).Round(time.Second).String() + " ago"
		}
		network := i.Network
		if len(i.Ports) > 0 {
			// The published ports, as -p took them: what to open.
			network += ", ports " + strings.Join(i.Ports, " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, i.Agent, i.Backend, status, started, network, tilde(home, i.Workspace))
	}
	tw.Flush()
}

// stopCommand is "launch stop".
func stopCommand(s iostreams.Streams, h *Host) *cli.Command {
	var all bool
	var backend string
	return &cli.Command{
		Name:      "stop",
		Usage:     "end sessions (SIGTERM to the agent, SIGKILL 3 s later) and remove them",
		UsageText: "launch stop NAME...\nlaunch stop --all",
		Description: `Ends each named session: the agent gets SIGTERM (through the container's
init), then SIGKILL if it is still there after the stop timeout (3 s). The
container is then removed, with its output: read it first with launch logs.
An ended session is only removed. --all ends and removes every session of
yours that launch ps -a lists. The protected paths (.envrc, .git,
...) of a detached session that ended are then checked as after an
attached run: what changed is moved aside and reported.

Examples:
   launch stop launch-codex-myproject
   launch stop --all`,
		ShellComplete: completeSessions(h, true),
		Flags:         []cli.Flag{&cli.BoolFlag{Name: "all", Destination: &all, Usage: "every session of yours, ended ones included"}, backendFlag(&backend)},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			names := cmd.Args().Slice()
			if all == (len(names) > 0) {
				return usagef("launch stop: name the sessions (launch ps lists them) or give --all, not both")
			}
			return withSessions(ctx, h, func(every []sessionBackend) error {
				bs, err := onBackend(cmd, every, backend)
				if err != nil {
					return err
				}
				targets, err := stopTargets(ctx, bs, names, all)
				for _, t := range targets {
					if serr := t.b.stop(context.WithoutCancel(ctx), t.Info); serr != nil {
						err = errors.Join(err, serr)
						continue
					}
					fmt.Fprintln(s.Out, t.Name)
				}
				return errors.Join(err, checkEndedGuards(context.WithoutCancel(ctx), s.Err, h, every))
			})
		},
	}
}

// stopTargets are the sessions launch stop acts on.
func stopTargets(ctx context.Context, bs []sessionBackend, names []string, all bool) ([]found, error) {
	if all {
		return allSessions(ctx, bs, true)
	}
	var out []found
	for _, n := range names {
		f, err := findSession(ctx, bs, n)
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
	return out, nil
}

// logsCommand is "launch logs".
func logsCommand(s iostreams.Streams, h *Host) *cli.Command {
	var follow bool
	var backend string
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a session's output",
		UsageText: "launch logs [-f] NAME",
		Description: `Prints what the session wrote so far (stdout and stderr apart, or the
terminal's output as the agent drew it); -f keeps printing until the
session ends or you press Ctrl-C. An ended session's output stays
readable until launch stop or launch gc removes it.`,
		ShellComplete: completeSessions(h, true),
		Flags:         []cli.Flag{&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Destination: &follow, Usage: "keep printing until the session ends"}, backendFlag(&backend)},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("launch logs: name one session (launch ps -a lists them)")
			}
			return withSessions(ctx, h, func(every []sessionBackend) error {
				bs, err := onBackend(cmd, every, backend)
				if err != nil {
					return err
				}
				f, err := findSession(ctx, bs, cmd.Args().First())
				if err != nil {
					return err
				}
				return f.b.logs(ctx, f.Info, follow, s.Out, s.Err)
			})
		},
	}
}

// attachCommand is "launch attach".
func attachCommand(s iostreams.Streams, h *Host) *cli.Command {
	keys := sess.DefaultDetachKeys
	var backend string
	return &cli.Command{
		Name:      "attach",
		Usage:     "connect your terminal to a running session; detach again with ctrl-p ctrl-q",
		UsageText: "launch attach [--detach-keys KEYS] NAME",
		Description: `Connects this terminal to the session (raw mode, its size and every
resize) as if it had been started here. The detach keys (ctrl-p ctrl-q by
default, as Docker's) leave it running; so do a closed terminal and a
signal to launch attach. A session started without a terminal has none
to share: your terminal stays line by line, the detach keys do not
detach, and ctrl-c does (the session runs on). When the session ends,
launch attach exits with the agent's exit code. --backend chooses between
a Docker and a Podman session of the same name.

Examples:
   launch --detach codex       # prints the session's name
   launch attach launch-codex-myproject
   launch attach --detach-keys ctrl-x,x launch-codex-myproject`,
		ShellComplete: completeSessions(h, false),
		Flags: []cli.Flag{&cli.StringFlag{Name: "detach-keys", Destination: &keys, Value: sess.DefaultDetachKeys,
			Usage: "the key sequence that detaches: comma-separated, each a character or ctrl-X (Podman: empty turns detaching off)"}, backendFlag(&backend)},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("launch attach: name one session (launch ps lists them)")
			}
			if err := sess.CheckDetachKeys(keys); err != nil {
				return usagef("--detach-keys: %w", err)
			}
			return withSessions(ctx, h, func(every []sessionBackend) error {
				bs, err := onBackend(cmd, every, backend)
				if err != nil {
					return err
				}
				return attachTo(ctx, s, h, bs, cmd.Args().First(), keys)
			})
		},
	}
}

// attachTo attaches to the session name and says how it ended; an ended
// detached session's protected paths are checked then.
func attachTo(ctx context.Context, s iostreams.Streams, h *Host, bs []sessionBackend, name, keys string) error {
	f, err := findSession(ctx, bs, name)
	if err != nil {
		return err
	}
	ended, code, err := f.b.attach(ctx, f.Info, s, keys)
	if err != nil {
		return err
	}
	if !ended {
		fmt.Fprintf(s.Err, "\r\nlaunch: detached from %s; it runs on (launch attach %s, launch stop %s)\n", f.Name, f.Name, f.Name)
		return nil
	}
	if f.Detached {
		fmt.Fprintf(s.Err, "launch: %s has ended (exit %d); launch logs %s shows its output, launch stop %s removes it\n", f.Name, code, f.Name, f.Name)
		if gerr := checkEndedGuards(context.WithoutCancel(ctx), s.Err, h, bs); gerr != nil {
			return gerr
		}
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// backendFlag is --backend of launch stop, logs and attach: look only at
// one backend's sessions, for a name that two share (Docker and Podman
// name a workspace's session alike). launch --backend B before the
// subcommand does the same.
func backendFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "backend", Destination: dest,
		Usage: "look only at this backend's sessions (docker, podman, singularity, slurm): for a name that sessions on two backends share"}
}

// onBackend keeps the backends named by --backend (or launch --backend
// before the subcommand); all of them when it is not given.
func onBackend(cmd *cli.Command, bs []sessionBackend, name string) ([]sessionBackend, error) {
	if name == "" {
		name = rootText(cmd, "backend")
	}
	if name == "" || name == "auto" {
		return bs, nil
	}
	var out []sessionBackend
	var names []string
	for _, b := range bs {
		names = append(names, string(b.name))
		if string(b.name) == name {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, usagef("--backend %q: no such backend answers here; want one of %s", name, strings.Join(names, ", "))
	}
	return out, nil
}
