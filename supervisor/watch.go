package supervisor

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// The watcher's protocol: launch writes "pid N" for each runtime process
// the watcher is to end (Apptainer), and "done" when it ends normally.
// When the pipe breaks without "done", launch died without a chance to end
// its session, and the watcher ends it.
const watchDone = "done"

// Watch is launch's end of the watcher's pipe; its zero value (no watcher)
// does nothing.
type Watch struct{ w *os.File }

// StartWatch starts the watcher, argv (launch's hidden "_watch"), in a
// session of its own (a closed terminal or Ctrl-C does not reach it), with
// the read end of a pipe on its stdin. Without a watcher (it could not
// start) the zero Watch is returned and the run goes ahead: the orphan
// rule is a safety net, and launch gc finds what it would have stopped.
func StartWatch(argv []string) Watch {
	r, w, err := os.Pipe()
	if err != nil {
		return Watch{}
	}
	defer r.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return Watch{}
	}
	go cmd.Wait() //nolint:errcheck // reaped when it exits; it outlives launch otherwise
	return Watch{w}
}

// Track tells the watcher about a runtime process to end (Apptainer).
func (w Watch) Track(pid int) {
	if w.w != nil {
		fmt.Fprintf(w.w, "pid %d\n", pid)
	}
}

// Done tells the watcher that launch ended normally.
func (w Watch) Done() {
	if w.w != nil {
		io.WriteString(w.w, watchDone+"\n") //nolint:errcheck // a watcher that is gone has nothing to do
		w.w.Close()
	}
}

// ReadWatch is the watcher's end: it reads r until launch says it is done
// (done true) or the pipe breaks (done false), and returns the runtime
// processes launch named.
func ReadWatch(r io.Reader) (runtimes []int, done bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == watchDone {
			return runtimes, true
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(line, "pid ")); err == nil && n > 0 {
			runtimes = append(runtimes, n)
		}
	}
	return runtimes, false
}
