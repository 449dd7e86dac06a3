package supervisor

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	sess "github.com/launchcli/launch/session"
)

// Alive reports whether process pid exists.
func Alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// End ends the supervised session st: SIGTERM to the launch it runs, which
// passes it on to the runtime. Apptainer does not always pass it on to an
// agent that has a terminal (a shell blocked in read, seen with 1.4.3), so
// after stop the launch gets SIGKILL: its watcher then ends the runtime
// (SIGTERM, SIGKILL), which End waits for. The supervisor exits once its
// terminal has no user left; one still there after that gets SIGKILL.
func End(st sess.State, stop time.Duration) {
	syscall.Kill(st.Child, syscall.SIGTERM) //nolint:errcheck // it may have ended
	wait := func(pid int, d time.Duration) {
		for deadline := time.Now().Add(d); Alive(pid) && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait(st.Child, stop)
	if Alive(st.Child) {
		syscall.Kill(st.Child, syscall.SIGKILL) //nolint:errcheck
	}
	// The runtime is in the launch's process group (the launch leads a
	// session of its own): wait for the watcher to have ended it, so that
	// nothing names the session's scratch directory any more (launch gc
	// looks next), and kill what is left after that.
	group := func() bool { return st.Child > 0 && syscall.Kill(-st.Child, 0) == nil }
	for deadline := time.Now().Add(3 * stop); group() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if group() {
		syscall.Kill(-st.Child, syscall.SIGKILL) //nolint:errcheck
	}
	wait(st.Supervisor, 3*stop)
	if Alive(st.Supervisor) {
		syscall.Kill(st.Supervisor, syscall.SIGKILL) //nolint:errcheck
		wait(st.Supervisor, time.Second)
	}
}

// EndRuntimes sends SIGTERM to each runtime process, and SIGKILL to those
// still there after stop.
func EndRuntimes(pids []int, stop time.Duration) {
	if len(pids) == 0 {
		return
	}
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGTERM) //nolint:errcheck // it may have ended
	}
	deadline := time.Now().Add(stop)
	for _, p := range pids {
		for syscall.Kill(p, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		syscall.Kill(p, syscall.SIGKILL) //nolint:errcheck // it may have ended
	}
}

// CopyLog copies the log at path to out and, with follow, what is added to
// it while running says the session runs.
func CopyLog(ctx context.Context, path string, follow bool, running func() bool, out io.Writer) error {
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
