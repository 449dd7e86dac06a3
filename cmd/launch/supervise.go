package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/runner"
	"github.com/launchcli/launch/plan"
	sess "github.com/launchcli/launch/session"
	"github.com/launchcli/launch/supervisor"
)

// Detached sessions on Apptainer, which has no daemon to keep them: a
// supervisor, the hidden "launch _session", runs "launch --yes ARGS" (the
// same launch, attached) in a pseudo-terminal and serves launch attach on a
// unix socket (package supervisor). Here: when one starts, and the session
// commands (ps, attach, logs, stop) on its state files.

// launchSupervised starts the supervisor of a detached Apptainer session
// and prints the session's name once it runs.
func launchSupervised(s iostreams.Streams, h *Host, p plan.Plan, app *cli.Command) (string, error) {
	dir := sess.StateDir(stateDir(h))
	existing, _ := sess.ReadStates(dir)
	name := ""
	for i := 1; name == ""; i++ {
		n := naming.Numbered(naming.ContainerName(p), i)
		if len(sess.Find(stateInfos(existing), n)) == 0 {
			name = n
		}
	}
	st := sess.State{
		Info: sess.Info{Name: name, ID: name, Agent: p.Agent, Backend: string(backendSingularity), Workspace: p.Workspace,
			Started: time.Now().UTC().Truncate(time.Second), Status: sess.Created, Network: p.Network.String(), Ports: portList(p.Publish), Detached: true, UID: h.UID, PID: h.PID},
		Log: filepath.Join(dir, name+".log"),
	}
	sockDir, err := supervisor.SocketDir(h.Getenv("XDG_RUNTIME_DIR"), h.Getenv("TMPDIR"), h.UID)
	if err != nil {
		return "", err
	}
	st.Socket = filepath.Join(sockDir, name+".sock")
	if err := sess.WriteState(dir, st); err != nil {
		return "", err
	}
	args := withoutFlags(h.Args, app, map[string]bool{"detach": true, "d": true, "yes": true, "y": true})
	cmd := exec.Command(h.Executable, append([]string{"_session", "--name", name, "--"}, args...)...)
	cmd.Dir = h.Cwd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		sess.RemoveState(dir, name) //nolint:errcheck // nothing was started
		return "", fmt.Errorf("start the session's supervisor: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() //nolint:errcheck // it outlives launch
	// The supervisor says the session runs in its state file, once its
	// socket listens and the session has started.
	started := func() bool {
		all, _ := sess.ReadStates(dir)
		for _, cur := range all {
			if cur.Name == name && cur.Status != sess.Created {
				return true
			}
		}
		return false
	}
	// A session that never started is recorded as ended (ps -a shows it
	// with its log, launch stop removes both), and its socket goes.
	failed := func(format string) (string, error) {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // gone already, or going
		<-exited
		code := -1
		st.Status, st.ExitCode = sess.Exited, &code
		os.Remove(st.Socket)
		os.Remove(sockDir) // only when empty: a private directory, or an unused shared one
		return "", errors.Join(fmt.Errorf(format, st.Log), sess.WriteState(dir, st))
	}
	timeout := time.After(15 * time.Second)
	for !started() {
		select {
		case <-exited:
			if !started() {
				return failed("the session's supervisor stopped before the session started; see %s")
			}
		case <-timeout:
			return failed("the session's supervisor did not start within 15 s; see %s")
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Fprintln(s.Out, name)
	return name, nil
}

func stateInfos(list []sess.State) []sess.Info {
	out := make([]sess.Info, len(list))
	for i, s := range list {
		out[i] = s.Info
	}
	return out
}

// superviseCommand is the hidden "launch _session --name NAME -- ARGS".
func superviseCommand(h *Host) *cli.Command {
	var name string
	return &cli.Command{
		Name:   "_session",
		Hidden: true,
		Usage:  "internal: keep a detached Apptainer session",
		Flags:  []cli.Flag{&cli.StringFlag{Name: "name", Destination: &name}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return supervise(h, name, cmd.Args().Slice())
		},
	}
}

// supervise runs the session name as its supervisor: the same launch,
// attached, with ARGS.
func supervise(h *Host, name string, args []string) error {
	return supervisor.Serve(sess.StateDir(stateDir(h)), name, append([]string{h.Executable, "--yes"}, args...))
}

// supervisedBackend is the session backend of supervised (Apptainer)
// sessions: their state files.
func supervisedBackend(h *Host) sessionBackend {
	dir := sess.StateDir(stateDir(h))
	find := func(name string) (sess.State, bool) {
		all, _ := sess.ReadStates(dir)
		for _, s := range all {
			if s.Name == name {
				return s, true
			}
		}
		return sess.State{}, false
	}
	stop := func(ctx context.Context, i sess.Info) error {
		st, ok := find(i.Name)
		// A supervisor killed with SIGKILL leaves the launch it ran, and
		// the agent, running: a dead session is ended through its launch
		// too (one that is still a launch: pids are reused).
		if ok && (alive(st.Supervisor) || launchAlive(st.Child)) {
			supervisor.End(st, stopTimeout*time.Second)
		}
		if alive(st.Supervisor) {
			return fmt.Errorf("session %s: its supervisor (pid %d) is still there; end it with kill -9 %d", i.Name, st.Supervisor, st.Supervisor)
		}
		return sess.RemoveState(dir, i.Name)
	}
	return sessionBackend{
		name: backendSingularity,
		list: func(ctx context.Context, all bool) ([]sess.Info, error) {
			states, err := sess.ReadStates(dir)
			var out []sess.Info
			for _, s := range states {
				if s.UID != h.UID {
					continue
				}
				if s.Status == sess.Running && !alive(s.Supervisor) {
					s.Status = "dead" // its supervisor was killed
				}
				if all || !s.Status.Ended() {
					out = append(out, s.Info)
				}
			}
			return out, err
		},
		stop:   stop,
		remove: stop,
		logs: func(ctx context.Context, i sess.Info, follow bool, out, _ io.Writer) error {
			st, _ := find(i.Name)
			return supervisor.CopyLog(ctx, st.Log, follow, func() bool { s, ok := find(i.Name); return ok && s.Status == sess.Running && alive(s.Supervisor) }, out)
		},
		attach: func(ctx context.Context, i sess.Info, s iostreams.Streams, keys string) (bool, int, error) {
			st, _ := find(i.Name)
			if st.Status != sess.Running || !alive(st.Supervisor) {
				return true, exitOf(st), nil
			}
			kb, err := sess.DetachKeyBytes(keys)
			if err != nil {
				return false, 0, err
			}
			if err := runner.Reattach(ctx, supervisor.Client(st), s, true, kb); err != nil {
				return false, 0, err
			}
			time.Sleep(100 * time.Millisecond)
			if st, _ = find(i.Name); st.Status == sess.Running && alive(st.Supervisor) {
				return false, 0, nil
			}
			return true, exitOf(st), nil
		},
		close: func() {},
	}
}

func exitOf(st sess.State) int {
	if st.ExitCode == nil {
		return -1
	}
	return *st.ExitCode
}

// alive reports whether process pid exists.
func alive(pid int) bool { return supervisor.Alive(pid) }

// supervisedLauncher is a detached Apptainer launch: Run starts the
// supervisor, which runs the launch itself.
type supervisedLauncher struct {
	h   *Host
	p   plan.Plan
	app *cli.Command
}

func (l supervisedLauncher) Snippet() string        { return "" }
func (l supervisedLauncher) Notes() []string        { return nil }
func (l supervisedLauncher) CommandNotes() []string { return nil }
func (l supervisedLauncher) Run(_ context.Context, s iostreams.Streams) (int, error) {
	_, err := launchSupervised(s, l.h, l.p, l.app)
	return 0, err
}
