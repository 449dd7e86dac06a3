package supervisor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/launchcli/launch/internal/runner"
	sess "github.com/launchcli/launch/session"
)

// Session is a running supervised session as runner.Reattach drives it:
// launch attach's end of the socket.
type Session struct {
	st   sess.State
	conn net.Conn
	mu   sync.Mutex
}

var _ runner.Running = (*Session)(nil)

// Client is the session st, not yet attached.
func Client(st sess.State) *Session { return &Session{st: st} }

// Name is the session's name.
func (c *Session) Name() string { return c.st.Name }

func (c *Session) frame(kind byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return net.ErrClosed
	}
	hdr := [5]byte{kind}
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := c.conn.Write(hdr[:]); err != nil {
		return err
	}
	_, err := c.conn.Write(payload)
	return err
}

// Attach connects to the session's socket, copies what the session prints
// to out and what in gives to the session. The socket's directory must be
// private (PrivateDir): in one that others can write, the socket may not
// be the supervisor's, and what you type would go to whoever made it.
func (c *Session) Attach(ctx context.Context, in io.Reader, out, _ io.Writer) (runner.Attachment, error) {
	if err := checkPrivate(filepath.Dir(c.st.Socket), os.Getuid()); err != nil {
		return runner.Attachment{}, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.st.Socket)
	if err != nil {
		return runner.Attachment{}, err
	}
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
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

// Resize passes the terminal's new size to the session.
func (c *Session) Resize(_ context.Context, width, height uint) error {
	var p [4]byte
	binary.BigEndian.PutUint16(p[:], uint16(width))
	binary.BigEndian.PutUint16(p[2:], uint16(height))
	return c.frame(frameResize, p[:])
}

// EngineError names the session's socket in err.
func (c *Session) EngineError(what string, err error) error {
	return fmt.Errorf("%s: %w (the session's socket %s)", what, err, c.st.Socket)
}
