package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/supervisor"
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

// watchCommand is the hidden "launch _watch --pid PID".
func watchCommand(s iostreams.Streams, h *Host) *cli.Command {
	var pid int
	return &cli.Command{
		Name:   "_watch",
		Usage:  "internal: end the attached session of launch PID when its pipe on stdin breaks",
		Hidden: true,
		Flags:  []cli.Flag{&cli.IntFlag{Name: "pid", Destination: &pid}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			runtimes, done := supervisor.ReadWatch(os.Stdin)
			if done {
				return nil
			}
			supervisor.EndRuntimes(runtimes, stopTimeout*time.Second)
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

// startWatch starts the watcher for this launch (pid: its containers'
// label; 0 for Apptainer, whose runtime processes are tracked instead).
func startWatch(h *Host, pid int) supervisor.Watch {
	return supervisor.StartWatch([]string{h.Executable, "_watch", "--pid", strconv.Itoa(pid)})
}
