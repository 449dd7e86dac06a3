package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
)

// No orphans: an attached session must not run on when launch dies without
// a chance to stop it (SIGKILL, out of memory). Before a real run, launch
// starts a watcher, "launch _watch", in a session of its own (a closed
// terminal or Ctrl-C does not reach it). The watcher holds the read end of
// a pipe whose write end only launch holds: when launch ends, however it
// ends, the kernel closes the write end. A launch that ended normally has
// written "done" first, and the watcher exits. Otherwise the watcher ends
// the session: on Docker and Podman it stops (SIGTERM through the
// container's init, SIGKILL after the stop timeout) and removes every
// attached container whose labels name launch's pid and the caller's uid;
// on Apptainer it sends SIGTERM to each runtime process launch told it
// about ("pid N" lines), which passes it to the container's init, and
// SIGKILL to those still there after the stop timeout. Detached sessions
// carry no such link and are never touched.

// watchDone is the line launch writes to the watcher when it ends normally.
const watchDone = "done"

// watchCommand is the hidden "launch _watch --pid PID".
func watchCommand(s iostreams.Streams, h *Host) *cli.Command {
	var pid int
	return &cli.Command{
		Name:   "_watch",
		Usage:  "internal: end the attached session of launch PID when its pipe on stdin breaks",
		Hidden: true,
		Flags:  []cli.Flag{&cli.IntFlag{Name: "pid", Destination: &pid}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			var runtimes []int
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				line := sc.Text()
				if line == watchDone {
					return nil
				}
				if n, err := strconv.Atoi(strings.TrimPrefix(line, "pid ")); err == nil && n > 0 {
					runtimes = append(runtimes, n)
				}
			}
			endRuntimes(runtimes)
			if pid <= 0 {
				return nil
			}
			// launch is gone, and its context with it: bound the clean-up.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			return stopAttached(cctx, s, h, pid)
		},
	}
}

// endRuntimes sends SIGTERM to each runtime process, and SIGKILL to those
// still there after the stop timeout.
func endRuntimes(pids []int) {
	if len(pids) == 0 {
		return
	}
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGTERM) //nolint:errcheck // it may have ended
	}
	deadline := time.Now().Add(stopTimeout * time.Second)
	for _, p := range pids {
		for syscall.Kill(p, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		syscall.Kill(p, syscall.SIGKILL) //nolint:errcheck // it may have ended
	}
}

// stopAttached stops and removes the attached containers of launch pid.
func stopAttached(ctx context.Context, s iostreams.Streams, h *Host, pid int) error {
	return withSessions(ctx, h, func(bs []sessionBackend) error {
		list, err := allSessions(ctx, bs, true)
		for _, f := range list {
			if f.Detached || f.PID != pid {
				continue
			}
			if serr := f.b.stop(ctx, f.Info); serr != nil {
				fmt.Fprintf(s.Err, "launch: %v\n", serr)
			}
		}
		return err
	})
}

// watch is this launch's end of the watcher's pipe.
type watch struct{ w *os.File }

// track tells the watcher about a runtime process to end (Apptainer).
func (w watch) track(pid int) {
	if w.w != nil {
		fmt.Fprintf(w.w, "pid %d\n", pid)
	}
}

// done tells the watcher the launch ended normally.
func (w watch) done() {
	if w.w != nil {
		io.WriteString(w.w, watchDone+"\n") //nolint:errcheck // a watcher that is gone has nothing to do
		w.w.Close()
	}
}

// startWatch starts the watcher for this launch (pid: its containers'
// label; 0 for Apptainer, whose runtime processes are tracked instead).
// Without a watcher (it could not start) the run goes ahead: the orphan
// rule is a safety net, and launch gc finds what it would have stopped.
func startWatch(h *Host, pid int) watch {
	r, w, err := os.Pipe()
	if err != nil {
		return watch{}
	}
	defer r.Close()
	cmd := exec.Command(h.Executable, "_watch", "--pid", strconv.Itoa(pid))
	cmd.Stdin = r
	// Its own session: no terminal signal reaches it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return watch{}
	}
	go cmd.Wait() //nolint:errcheck // reaped when it exits; it outlives launch otherwise
	return watch{w}
}
