package singularity

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressEvery is how often the progress line is redrawn.
const progressEvery = 500 * time.Millisecond

// showProgress draws one line on w, redrawn every interval until stop is
// called: what, how much measure says is done and, when total is known,
// of how much (an estimate, so capped below 100% until the end). stop
// erases the line. Apptainer's build --sandbox shows no progress of its
// own while it unpacks a SIF, which takes tens of seconds.
func showProgress(w io.Writer, what string, measure func() int64, total int64, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
				n := measure()
				line := fmt.Sprintf("\r\x1b[Klaunch: %s: %s", what, size(n))
				if total > 0 {
					line += fmt.Sprintf(" of about %s (%d%%)", size(total), min(99, n*100/total))
				}
				fmt.Fprint(w, line)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
