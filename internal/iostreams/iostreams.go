// Package iostreams carries the standard streams of one launch, so that
// commands and backends can be run by tests on buffers and by main on the
// terminal. It imports only the standard library and golang.org/x/term.
package iostreams

import (
	"io"
	"os"

	"golang.org/x/term"
)

// Streams are the standard streams of one launch.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// System returns the process's own streams.
func System() Streams { return Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr} }

// Terminal returns the file behind In and true when In is a terminal.
func (s Streams) Terminal() (*os.File, bool) {
	f, ok := s.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, false
	}
	return f, true
}

// ErrTerminal reports whether Err is a terminal (a progress line is drawn
// there only).
func (s Streams) ErrTerminal() bool {
	f, ok := s.Err.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// OutTerminal reports whether Out is a terminal.
func (s Streams) OutTerminal() bool {
	f, ok := s.Out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
