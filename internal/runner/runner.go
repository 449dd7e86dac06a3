// Package runner carries out the session of one created container, the part
// of a run that the Docker and Podman executors share: the terminal (raw
// mode, initial size, every resize), stdin, stdout and stderr, the exit
// code, cancellation (a signal, with the container's exit code) and removal
// on every path. Each backend supplies only its engine calls, through
// Container; the order of those calls and what they mean are decided here,
// once.
//
// This package imports the standard library, internal/iostreams and
// golang.org/x/term; never a backend (internal/archtest checks it).
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/launchcli/launch/internal/iostreams"
)

// CleanupTimeout bounds each call made after the run is over or cancelled
// (stop, remove, the last wait), which must not be cut short by the
// cancelled context.
const CleanupTimeout = 60 * time.Second

// Exit is how a container ended: its exit code, or why it is not known.
type Exit struct {
	Code int
	Err  error
}

// Attachment is a container's streams, connected.
type Attachment struct {
	// Done receives, once, the error that ended the container's output:
	// nil when it simply ended (the container closed it or exited).
	Done <-chan error
	// Close releases the connection; nil when there is nothing to release.
	Close func()
}

// Container is one created container as the runner drives it. A backend
// implements it over its engine's calls; the runner calls, in this order:
// Attach, Wait, Start, Resize (with a terminal), then Stop when the run is
// cancelled, and Remove on every path.
type Container interface {
	// Name names the container in messages.
	Name() string
	// Attach connects in to the container's stdin (its end closes the
	// container's stdin) and its output to out and errw (apart, unless the
	// container has a terminal), and returns once connected.
	Attach(ctx context.Context, in io.Reader, out, errw io.Writer) (Attachment, error)
	// Wait registers for the container's exit and reports it on the
	// channel, once; it is called before Start, so that a quick exit is
	// not missed. Cancelling ctx abandons the wait.
	Wait(ctx context.Context) <-chan Exit
	// Start starts the container.
	Start(ctx context.Context) error
	// Resize sets the size of the container's terminal, in characters.
	Resize(ctx context.Context, width, height uint) error
	// Stop stops the container as the engine stops it (SIGTERM, then
	// SIGKILL after the container's stop timeout).
	Stop(ctx context.Context) error
	// Remove removes the container, forcefully, and everything the engine
	// made for it. Its error says how to remove it by hand.
	Remove(ctx context.Context) error
	// EngineError adds what was being done (what) to an error of the
	// engine and, for a lost connection, which engine and what to do.
	EngineError(what string, err error) error
}

// Run runs the created container c with the streams s and returns its exit
// code. tty reports whether the container has a terminal; when it does and
// s.In is a terminal, the terminal is put in raw mode for the run and its
// size, and every change of it, passed on. When ctx is cancelled c is
// stopped, and Run returns the container's exit code with an error wrapping
// ctx's cause (see Interrupted). c is removed on every path, after a
// cancellation too.
func Run(ctx context.Context, c Container, s iostreams.Streams, tty bool) (int, error) {
	if s.Out == nil {
		s.Out = io.Discard
	}
	if s.Err == nil {
		s.Err = io.Discard
	}
	code, err := run(ctx, c, s, tty)
	rctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()
	if rmErr := c.Remove(rctx); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	return code, err
}

func run(ctx context.Context, c Container, s iostreams.Streams, tty bool) (int, error) {
	// Engine calls get a context that a cancellation does not cut short:
	// a cancelled run stops the container and still reads its exit code.
	bg := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		return -1, Interrupted(ctx, "before container "+c.Name()+" started")
	}
	term, hasTTY := s.Terminal()
	hasTTY = hasTTY && tty
	if hasTTY {
		// Raw before the attach: stdin is read from then on, and a read
		// begun in cooked mode would wait for a whole line.
		restore, err := rawMode(term)
		if err != nil {
			return -1, err
		}
		defer restore()
	}
	att, err := c.Attach(bg, s.In, s.Out, s.Err)
	if err != nil {
		return -1, c.EngineError("attach to container "+c.Name(), err)
	}
	if att.Close != nil {
		defer att.Close()
	}

	waitCtx, stopWaiting := context.WithCancel(bg)
	defer stopWaiting()
	exits := c.Wait(waitCtx)

	if err := c.Start(bg); err != nil {
		return -1, c.EngineError("start container "+c.Name(), err)
	}
	if hasTTY {
		resize := func() {
			if w, h, ok := Size(term); ok {
				_ = c.Resize(bg, w, h)
			}
		}
		resize()
		stop := onResize(resize)
		defer stop()
	}

	var cancelled bool
	select {
	case err = <-att.Done:
	case <-ctx.Done():
		cancelled = true
		sctx, cancel := context.WithTimeout(bg, CleanupTimeout)
		_ = c.Stop(sctx)
		cancel()
		select {
		case err = <-att.Done:
		case <-time.After(CleanupTimeout):
		}
	}
	if err != nil && !cancelled {
		return -1, c.EngineError("read the output of container "+c.Name(), err)
	}

	code, werr := waitExit(exits)
	if cancelled {
		return code, Interrupted(ctx, "container "+c.Name()+" stopped")
	}
	if werr != nil {
		return -1, c.EngineError("wait for container "+c.Name(), werr)
	}
	return code, nil
}

// waitExit reads the exit status from a wait registered before the start.
func waitExit(exits <-chan Exit) (int, error) {
	select {
	case x := <-exits:
		return x.Code, x.Err
	case <-time.After(CleanupTimeout):
		return -1, errors.New("no exit status within a minute of the output's end")
	}
}

// rawMode puts the terminal f in raw mode and returns what restores it.
func rawMode(f *os.File) (restore func(), err error) {
	old, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("put the terminal in raw mode: %w", err)
	}
	return func() { _ = term.Restore(int(f.Fd()), old) }, nil
}

// Size is the size of the terminal f, in characters; ok is false when it
// cannot be read.
func Size(f *os.File) (width, height uint, ok bool) {
	w, h, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 || h <= 0 {
		return 0, 0, false
	}
	return uint(w), uint(h), true
}

// Interrupted is the error of a run that ctx cancelled while it was at what
// ("pulling IMAGE", "container NAME stopped"): it wraps ctx's cause (for a
// signal, the signal), which decides launch's exit code.
func Interrupted(ctx context.Context, what string) error {
	return fmt.Errorf("interrupted (%s): %w", what, context.Cause(ctx))
}

// Running is a container that is already running, as Reattach drives it:
// the part of Container that attaching needs.
type Running interface {
	Name() string
	Attach(ctx context.Context, in io.Reader, out, errw io.Writer) (Attachment, error)
	Resize(ctx context.Context, width, height uint) error
	EngineError(what string, err error) error
}

// Reattach connects s to the running container c (`launch attach`): with
// a terminal on s.In and tty set, the terminal is put in raw mode and its
// size, and every change of it, passed on. It returns when the container's
// output ends (the container exited, or the engine detached), or when the
// detach key sequence keys is typed on s.In: launch watches for it itself,
// since not every engine does (Podman 4.3's service passes the keys on).
// Cancelling ctx only detaches too: the container is neither stopped nor
// removed, whatever ends the attach.
func Reattach(ctx context.Context, c Running, s iostreams.Streams, tty bool, keys []byte) error {
	if s.Out == nil {
		s.Out = io.Discard
	}
	if s.Err == nil {
		s.Err = io.Discard
	}
	bg := context.WithoutCancel(ctx)
	term, hasTTY := s.Terminal()
	hasTTY = hasTTY && tty
	if hasTTY {
		restore, err := rawMode(term)
		if err != nil {
			return err
		}
		defer restore()
	}
	detached := make(chan struct{})
	var in io.Reader
	if s.In != nil {
		in = &detachReader{r: s.In, keys: keys, detached: detached}
	}
	att, err := c.Attach(bg, in, s.Out, s.Err)
	if err != nil {
		return c.EngineError("attach to container "+c.Name(), err)
	}
	if att.Close != nil {
		defer att.Close()
	}
	if hasTTY {
		resize := func() {
			if w, h, ok := Size(term); ok {
				// A size one row off first: a program redraws its screen
				// only when the size changes, and the attach shows nothing
				// of what was on it before.
				if h > 1 {
					_ = c.Resize(bg, w, h-1)
				}
				_ = c.Resize(bg, w, h)
			}
		}
		resize()
		stop := onResize(resize)
		defer stop()
	}
	select {
	case err = <-att.Done:
	case <-detached:
		return nil
	case <-ctx.Done():
		return nil
	}
	if err != nil {
		return c.EngineError("read the output of container "+c.Name(), err)
	}
	return nil
}

// detachReader passes r on, except the detach key sequence keys: when it
// has read all of it, it closes detached and reads nothing more. A part of
// the sequence followed by another key is passed on as it was typed.
type detachReader struct {
	r        io.Reader
	keys     []byte
	matched  int    // bytes of keys read and held back
	pending  []byte // read and passed, not yet returned
	detached chan struct{}
	done     bool
}

func (d *detachReader) Read(p []byte) (int, error) {
	if len(d.keys) == 0 {
		return d.r.Read(p)
	}
	for len(d.pending) == 0 {
		if d.done {
			return 0, io.EOF
		}
		buf := make([]byte, max(len(p), 64))
		n, err := d.r.Read(buf)
		d.scan(buf[:n])
		if err != nil && len(d.pending) == 0 {
			return 0, err
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// scan moves the bytes b to pending, holding back a start of the sequence:
// the longest end of what was held with the byte read that starts it (with
// keys ctrl-p,ctrl-p,ctrl-q, typing ^P^P^P^Q passes one ^P and detaches).
func (d *detachReader) scan(b []byte) {
	for _, c := range b {
		if d.done {
			return
		}
		held := append(d.keys[:d.matched:d.matched], c)
		for len(held) > 0 && !bytes.HasPrefix(d.keys, held) {
			// Not the sequence after all: what was held back goes on.
			d.pending = append(d.pending, held[0])
			held = held[1:]
		}
		d.matched = len(held)
		if d.matched == len(d.keys) {
			d.done = true
			close(d.detached)
		}
	}
}
