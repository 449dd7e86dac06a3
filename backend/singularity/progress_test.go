package singularity

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestShowProgress: the line grows with what is measured, says of how
// much, stays under 100% on an estimate, and is erased at the end.
func TestShowProgress(t *testing.T) {
	var w lockedBuffer
	var n atomic.Int64
	stop := showProgress(&w, "unpacking img.sif", func() int64 { return n.Add(300 << 20) }, 1<<30, time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(w.String(), "(99%)"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no progress to 99%%: %q", w.String())
		}
	}
	stop()
	out := w.String()
	for _, want := range []string{"launch: unpacking img.sif: 300.0 MB of about 1.0 GB (29%)", "(58%)", "(87%)"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "(100%)") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("progress %q: want it capped at 99%% and erased at the end", out)
	}
}
