package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/runner"
	"github.com/launchcli/launch/plan"
	sess "github.com/launchcli/launch/session"
)

// Detached sessions on Apptainer, which has no daemon to keep them: a
// supervisor, the hidden "launch _session", runs "launch --yes ARGS" (the
// same launch, attached) in a pseudo-terminal of its own, in a session of
// its own (a logout's SIGHUP does not reach it), writes everything the
// agent prints to NAME.log and serves launch attach on a unix socket. Its
// state file (session.State) is what launch ps reads.

// Frames from launch attach to the supervisor: a type byte, a 4-byte
// length, the payload.
const (
	frameData   = 0 // keys typed
	frameResize = 1 // width, height: 2 bytes each
)

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
			Started: time.Now().UTC().Truncate(time.Second), Status: sess.Created, Network: p.Network.String(), Detached: true, UID: h.UID, PID: h.PID},
		Socket: socketPath(h, name),
		Log:    filepath.Join(dir, name+".log"),
	}
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
	go cmd.Wait() //nolint:errcheck // it outlives launch
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(st.Socket); err == nil {
			fmt.Fprintln(s.Out, name)
			return name, nil
		}
	}
	return "", fmt.Errorf("the session's supervisor did not start within 15 s; see %s", st.Log)
}

func stateInfos(list []sess.State) []sess.Info {
	out := make([]sess.Info, len(list))
	for i, s := range list {
		out[i] = s.Info
	}
	return out
}

// socketPath is where the session's socket goes: the user's runtime
// directory, else a private directory under /tmp.
func socketPath(h *Host, name string) string {
	dir := h.Getenv("XDG_RUNTIME_DIR")
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(os.TempDir(), "launch-"+strconv.Itoa(h.UID))
	} else {
		dir = filepath.Join(dir, "launch")
	}
	return filepath.Join(dir, name+".sock")
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

// supervise runs the session and keeps its state file up to date.
func supervise(h *Host, name string, args []string) error {
	dir := sess.StateDir(stateDir(h))
	all, err := sess.ReadStates(dir)
	if err != nil {
		return err
	}
	var st sess.State
	for _, s := range all {
		if s.Name == name {
			st = s
		}
	}
	if st.Name == "" {
		return fmt.Errorf("session %s: no state file", name)
	}
	logf, err := os.OpenFile(st.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	// The supervisor's own stderr goes nowhere: what stops it goes to the
	// log, which launch --detach names when no session comes up. (A child
	// already started gets SIGHUP when the supervisor's end of its
	// terminal closes.)
	fail := func(err error) error {
		fmt.Fprintf(logf, "launch: the session's supervisor: %v\n", err)
		return err
	}
	master, slave, err := openPTY()
	if err != nil {
		return fail(err)
	}
	child := exec.Command(h.Executable, append([]string{"--yes"}, args...)...)
	child.Stdin, child.Stdout, child.Stderr = slave, slave, slave
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := child.Start(); err != nil {
		return fail(err)
	}
	slave.Close()
	if err := os.MkdirAll(filepath.Dir(st.Socket), 0o700); err != nil {
		return fail(err)
	}
	os.Remove(st.Socket)
	ln, err := net.Listen("unix", st.Socket)
	if err != nil {
		return fail(err)
	}
	st.Supervisor, st.Child, st.Status = os.Getpid(), child.Process.Pid, sess.Running
	sess.WriteState(dir, st) //nolint:errcheck // ps then shows it created
	var clients sync.Map
	go serveAttach(ln, master, &clients)
	buf := make([]byte, 32*1024)
	for {
		n, err := master.Read(buf)
		if n > 0 {
			logf.Write(buf[:n]) //nolint:errcheck // the log is best effort
			clients.Range(func(k, _ any) bool {
				if _, werr := k.(net.Conn).Write(buf[:n]); werr != nil {
					k.(net.Conn).Close()
					clients.Delete(k)
				}
				return true
			})
		}
		if err != nil {
			break // EIO: the child and all its terminal's users are gone
		}
	}
	code := -1
	if werr := child.Wait(); werr == nil {
		code = 0
	} else if ee := (*exec.ExitError)(nil); errors.As(werr, &ee) {
		code = ee.ExitCode()
	}
	ln.Close()
	os.Remove(st.Socket)
	clients.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	st.Status, st.ExitCode = sess.Exited, &code
	return sess.WriteState(dir, st)
}

// serveAttach passes what each attached client sends to the terminal.
func serveAttach(ln net.Listener, master *os.File, clients *sync.Map) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		clients.Store(c, true)
		go func() {
			defer func() { clients.Delete(c); c.Close() }()
			var hdr [5]byte
			for {
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				payload := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
				if _, err := io.ReadFull(c, payload); err != nil {
					return
				}
				switch hdr[0] {
				case frameData:
					master.Write(payload) //nolint:errcheck // the session may have ended
				case frameResize:
					if len(payload) == 4 {
						ws := &unix.Winsize{Col: binary.BigEndian.Uint16(payload), Row: binary.BigEndian.Uint16(payload[2:])}
						unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws) //nolint:errcheck
					}
				}
			}
		}()
	}
}

// openPTY opens a pseudo-terminal pair.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open a pseudo-terminal: %w", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock the pseudo-terminal: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("name the pseudo-terminal: %w", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: 80, Row: 24}) //nolint:errcheck
	return master, slave, nil
}

// supervised is a running supervised session as runner.Reattach drives it.
type supervised struct {
	st   sess.State
	conn net.Conn
	mu   sync.Mutex
}

var _ runner.Running = (*supervised)(nil)

func (c *supervised) Name() string { return c.st.Name }

func (c *supervised) frame(kind byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	hdr := [5]byte{kind}
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := c.conn.Write(hdr[:]); err != nil {
		return err
	}
	_, err := c.conn.Write(payload)
	return err
}

func (c *supervised) Attach(ctx context.Context, in io.Reader, out, _ io.Writer) (runner.Attachment, error) {
	conn, err := net.Dial("unix", c.st.Socket)
	if err != nil {
		return runner.Attachment{}, err
	}
	c.conn = conn
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, conn)
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		done <- err
	}()
	if in != nil {
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := in.Read(buf)
				if n > 0 && c.frame(frameData, buf[:n]) != nil {
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	return runner.Attachment{Done: done, Close: func() { conn.Close() }}, nil
}

func (c *supervised) Resize(_ context.Context, width, height uint) error {
	var p [4]byte
	binary.BigEndian.PutUint16(p[:], uint16(width))
	binary.BigEndian.PutUint16(p[2:], uint16(height))
	return c.frame(frameResize, p[:])
}

func (c *supervised) EngineError(what string, err error) error {
	return fmt.Errorf("%s: %w (the session's socket %s)", what, err, c.st.Socket)
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
			endSupervised(st)
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
			return copyLog(ctx, st.Log, follow, func() bool { s, ok := find(i.Name); return ok && s.Status == sess.Running && alive(s.Supervisor) }, out)
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
			if err := runner.Reattach(ctx, &supervised{st: st}, s, true, kb); err != nil {
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

// endSupervised ends a supervised session: SIGTERM to the launch it runs,
// which passes it on to the runtime. Apptainer does not always pass it on
// to an agent that has a terminal (a shell blocked in read, seen with
// 1.4.3), so after the stop timeout the launch gets SIGKILL: its watcher
// then ends the runtime (SIGTERM, SIGKILL), which endSupervised waits for.
// The supervisor exits once its terminal has no user left.
func endSupervised(st sess.State) {
	syscall.Kill(st.Child, syscall.SIGTERM) //nolint:errcheck // it may have ended
	wait := func(pid int, d time.Duration) {
		for deadline := time.Now().Add(d); alive(pid) && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait(st.Child, stopTimeout*time.Second)
	if alive(st.Child) {
		syscall.Kill(st.Child, syscall.SIGKILL) //nolint:errcheck
	}
	// The runtime is in the launch's process group (the launch leads a
	// session of its own): wait for the watcher to have ended it, so that
	// nothing names the session's scratch directory any more (launch gc
	// looks next), and kill what is left after that.
	group := func() bool { return st.Child > 0 && syscall.Kill(-st.Child, 0) == nil }
	for deadline := time.Now().Add(3 * stopTimeout * time.Second); group() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if group() {
		syscall.Kill(-st.Child, syscall.SIGKILL) //nolint:errcheck
	}
	wait(st.Supervisor, 3*stopTimeout*time.Second)
	if alive(st.Supervisor) {
		syscall.Kill(st.Supervisor, syscall.SIGKILL) //nolint:errcheck
		wait(st.Supervisor, time.Second)
	}
}

func exitOf(st sess.State) int {
	if st.ExitCode == nil {
		return -1
	}
	return *st.ExitCode
}

// alive reports whether process pid exists.
func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// copyLog copies the log to out and, with follow, what is added to it
// while running says the session runs.
func copyLog(ctx context.Context, path string, follow bool, running func() bool, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("the session's log: %w", err)
	}
	defer f.Close()
	for {
		if _, err := io.Copy(out, f); err != nil {
			return err
		}
		if !follow || !running() || ctx.Err() != nil {
			_, err := io.Copy(out, f)
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

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
