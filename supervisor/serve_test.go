package supervisor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sess "github.com/launchcli/launch/session"
)

func itoa(n int) string { return strconv.Itoa(n) }

// newSession writes the state file of a created session whose socket is
// in sockDir, as launch --detach does before it starts the supervisor.
func newSession(t *testing.T, sockDir string) (dir string, st sess.State) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "sessions")
	st = sess.State{Info: sess.Info{Name: "launch-x", ID: "launch-x", Status: sess.Created, UID: os.Getuid()},
		Socket: filepath.Join(sockDir, "launch-x.sock"), Log: filepath.Join(dir, "launch-x.log")}
	if err := sess.WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	return dir, st
}

func state(t *testing.T, dir string) sess.State {
	t.Helper()
	all, err := sess.ReadStates(dir)
	if err != nil || len(all) != 1 {
		t.Fatalf("state files: %v %v", all, err)
	}
	return all[0]
}

// syncBuffer is a bytes.Buffer safe for the attach goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeAndAttach runs a session under Serve, in a real pseudo-terminal:
// launch attach's client types into it and sees what it prints, a resize
// reaches its terminal, the log keeps the output, and the state file ends
// with the session's exit code.
func TestServeAndAttach(t *testing.T) {
	dir, st := newSession(t, filepath.Join(t.TempDir(), "sock"))
	script := `stty -echo; read line; printf '\033[1;31mcolour\033[0m\n'; echo "got:$line"; stty size; read line; exit 3`
	served := make(chan error, 1)
	go func() { served <- Serve(dir, st.Name, []string{"/bin/sh", "-c", script}) }()
	for deadline := time.Now().Add(10 * time.Second); state(t, dir).Status == sess.Created; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session did not start within 10 s")
		}
	}
	c := Client(state(t, dir))
	inR, inW := io.Pipe()
	var out syncBuffer
	att, err := c.Attach(context.Background(), inR, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resize(context.Background(), 123, 45); err != nil {
		t.Fatal(err)
	}
	// The resize frame goes before the typed line on one connection, so
	// stty size, which runs after the read, sees it.
	io.WriteString(inW, "hello\n")
	waitFor(t, &out, "got:hello")
	waitFor(t, &out, "45 123")
	io.WriteString(inW, "bye\n")
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	<-att.Done
	end := state(t, dir)
	if end.Status != sess.Exited || end.ExitCode == nil || *end.ExitCode != 3 {
		t.Errorf("state after the session: %+v", end)
	}
	if b, _ := os.ReadFile(st.Log); !strings.Contains(string(b), "got:hello") || !strings.Contains(string(b), "colour") || strings.Contains(string(b), "\x1b") {
		t.Errorf("log %q: want the session's output without escape sequences", b)
	}
	if !strings.Contains(out.String(), "\x1b[1;31mcolour") {
		t.Errorf("the attached terminal did not get the colours: %q", out.String())
	}
	if _, err := os.Lstat(st.Socket); !os.IsNotExist(err) {
		t.Errorf("socket %s left after the session: %v", st.Socket, err)
	}
}

func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the session's output within 10 s: %q", want, out.String())
		}
	}
}

// TestServeRefusesSharedSocketDir: a supervisor whose socket directory
// others can use runs nothing and says why in the session's log.
func TestServeRefusesSharedSocketDir(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "launch-shared")
	mkdir(t, shared, 0o777)
	dir, st := newSession(t, shared)
	marker := filepath.Join(t.TempDir(), "ran")
	err := Serve(dir, st.Name, []string{"/bin/sh", "-c", "touch " + marker})
	if !errors.Is(err, ErrNotPrivate) {
		t.Fatalf("Serve with a shared socket directory: %v; want ErrNotPrivate", err)
	}
	if _, serr := os.Stat(marker); serr == nil {
		t.Error("the session ran")
	}
	if _, serr := os.Lstat(st.Socket); serr == nil {
		t.Error("the socket was made")
	}
	if b, _ := os.ReadFile(st.Log); !strings.Contains(string(b), err.Error()) {
		t.Errorf("log %q lacks %q", b, err)
	}
}

// TestAttachRefusesSharedSocketDir: launch attach does not connect to a
// socket in a directory others can use, where it may be someone else's.
func TestAttachRefusesSharedSocketDir(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "launch-shared")
	mkdir(t, shared, 0o777)
	_, st := newSession(t, shared)
	ln, err := net.Listen("unix", st.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			close(accepted)
		}
	}()
	_, err = Client(st).Attach(context.Background(), strings.NewReader("secret\n"), io.Discard, nil)
	if !errors.Is(err, ErrNotPrivate) {
		t.Fatalf("Attach: %v; want ErrNotPrivate", err)
	}
	ln.Close()
	select {
	case <-accepted:
		t.Error("launch attach connected to the socket")
	default:
	}
}

// TestWatchProtocol: the watcher reads the runtime processes launch names
// and whether launch ended normally.
func TestWatchProtocol(t *testing.T) {
	pids, done := ReadWatch(strings.NewReader("pid 12\npid x\npid 0\npid 34\ndone\npid 56\n"))
	if !done || len(pids) != 2 || pids[0] != 12 || pids[1] != 34 {
		t.Errorf("launch ended normally: %v %v", pids, done)
	}
	if pids, done = ReadWatch(strings.NewReader("pid 12\n")); done || len(pids) != 1 {
		t.Errorf("pipe broken: %v %v", pids, done)
	}
}
