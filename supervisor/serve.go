package supervisor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/creack/pty"

	sess "github.com/launchcli/launch/session"
)

// Frames from launch attach to the supervisor: a type byte, a 4-byte
// big-endian length, the payload.
const (
	frameData   = 0 // keys typed
	frameResize = 1 // width, height: 2 bytes each
)

// Serve is the supervisor of session name, whose state file is in dir: it
// runs argv in a pseudo-terminal of its own (in a new session, the
// terminal its controlling one), appends what it prints to the session's
// log and to every attached client, passes what clients send to the
// terminal, and keeps the state file up to date (running, then exited
// with the exit code). It returns once argv has ended and its terminal has
// no user left.
//
// The attach socket is made before argv starts, in a directory that must
// be private (PrivateDir): when it cannot be, nothing runs. An error that
// stops Serve is also written to the log, which launch --detach names when
// no session comes up (the supervisor's own stderr goes nowhere).
func Serve(dir, name string, argv []string) error {
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
	if len(argv) == 0 {
		return fmt.Errorf("session %s: no command", name)
	}
	logf, err := os.OpenFile(st.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fail := func(err error) error {
		fmt.Fprintf(logf, "launch: the session's supervisor: %v\n", err)
		return err
	}
	uid := os.Getuid()
	if err := PrivateDir(filepath.Dir(st.Socket), uid); err != nil {
		return fail(err)
	}
	os.Remove(st.Socket)
	ln, err := net.Listen("unix", st.Socket)
	if err != nil {
		return fail(err)
	}
	defer removeSocket(st.Socket, uid)
	defer ln.Close()
	master, tty, err := pty.Open()
	if err != nil {
		return fail(fmt.Errorf("open a pseudo-terminal: %w", err))
	}
	defer master.Close()
	pty.Setsize(tty, &pty.Winsize{Cols: 80, Rows: 24}) //nolint:errcheck // a size the agent may change
	child := exec.Command(argv[0], argv[1:]...)
	child.Stdin, child.Stdout, child.Stderr = tty, tty, tty
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	err = child.Start()
	tty.Close()
	if err != nil {
		return fail(err)
	}
	st.Supervisor, st.Child, st.Status = os.Getpid(), child.Process.Pid, sess.Running
	sess.WriteState(dir, st) //nolint:errcheck // ps then shows it created
	var clients sync.Map
	go serveAttach(ln, master, &clients)
	// The log without colours and cursor moves; attached clients get
	// every byte.
	plain := &plainWriter{w: logf}
	buf := make([]byte, 32*1024)
	for {
		n, err := master.Read(buf)
		if n > 0 {
			plain.Write(buf[:n]) //nolint:errcheck // the log is best effort
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
						ws := &pty.Winsize{Cols: binary.BigEndian.Uint16(payload), Rows: binary.BigEndian.Uint16(payload[2:])}
						pty.Setsize(master, ws) //nolint:errcheck // the session may have ended
					}
				}
			}
		}()
	}
}
