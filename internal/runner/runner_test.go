package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/launchcli/launch/internal/iostreams"
)

// fake is a Container whose process copies stdin to stdout and exits with
// code, or, with block, runs until stopped (exit 143). Errors set for a
// call are returned by it.
type fake struct {
	code                int
	block               bool
	attachErr, startErr error
	waitErr             error

	mu      sync.Mutex
	calls   []string
	done    chan error
	exits   chan Exit
	stopped chan struct{}
	in      io.Reader
	out     io.Writer
}

func (f *fake) record(c string) { f.mu.Lock(); f.calls = append(f.calls, c); f.mu.Unlock() }

func (f *fake) Name() string { return "c1" }

func (f *fake) Attach(_ context.Context, in io.Reader, out, _ io.Writer) (Attachment, error) {
	f.record("Attach")
	if f.attachErr != nil {
		return Attachment{}, f.attachErr
	}
	f.in, f.out = in, out
	f.done = make(chan error, 1)
	f.stopped = make(chan struct{})
	return Attachment{Done: f.done, Close: func() { f.record("Close") }}, nil
}

func (f *fake) Wait(context.Context) <-chan Exit {
	f.record("Wait")
	f.exits = make(chan Exit, 1)
	return f.exits
}

func (f *fake) Start(context.Context) error {
	f.record("Start")
	if f.startErr != nil {
		return f.startErr
	}
	go func() {
		if f.block {
			<-f.stopped
			f.done <- nil
			f.exits <- Exit{Code: 143}
			return
		}
		_, _ = io.Copy(f.out, f.in)
		f.done <- nil
		f.exits <- Exit{Code: f.code, Err: f.waitErr}
	}()
	return nil
}

func (f *fake) Resize(context.Context, uint, uint) error { panic("not implemented: Resize") }

func (f *fake) Stop(context.Context) error {
	f.record("Stop")
	close(f.stopped)
	return nil
}

func (f *fake) Remove(context.Context) error { f.record("Remove"); return nil }

func (f *fake) EngineError(what string, err error) error { return fmt.Errorf("%s: %w", what, err) }

func TestRun(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		f        *fake
		cancel   bool // cancel once started
		wantCode int
		wantErr  string
		calls    []string
	}{
		{"exit-code", &fake{code: 3}, false, 3, "", []string{"Attach", "Wait", "Start", "Close", "Remove"}},
		{"attach-fails", &fake{attachErr: boom}, false, -1, "attach to container c1: boom", []string{"Attach", "Remove"}},
		{"start-fails", &fake{startErr: boom}, false, -1, "start container c1: boom", []string{"Attach", "Wait", "Start", "Close", "Remove"}},
		{"wait-fails", &fake{waitErr: boom}, false, -1, "wait for container c1: boom", []string{"Attach", "Wait", "Start", "Close", "Remove"}},
		{"cancelled", &fake{block: true}, true, 143, "interrupted (container c1 stopped): context canceled", []string{"Attach", "Wait", "Start", "Stop", "Close", "Remove"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				go func() {
					for {
						tt.f.mu.Lock()
						started := slices.Contains(tt.f.calls, "Start")
						tt.f.mu.Unlock()
						if started {
							cancel()
							return
						}
					}
				}()
			}
			var out bytes.Buffer
			code, err := Run(ctx, tt.f, iostreams.Streams{In: strings.NewReader("hi\n"), Out: &out}, false)
			if code != tt.wantCode {
				t.Errorf("code %d, want %d", code, tt.wantCode)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if !slices.Equal(tt.f.calls, tt.calls) {
				t.Errorf("calls %q, want %q", tt.f.calls, tt.calls)
			}
			if tt.name == "exit-code" && out.String() != "hi\n" {
				t.Errorf("stdout %q", out.String())
			}
		})
	}
}

func TestRunCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fake{}
	_, err := Run(ctx, f, iostreams.Streams{}, false)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "before container c1 started") {
		t.Errorf("error %v", err)
	}
	if !slices.Equal(f.calls, []string{"Remove"}) {
		t.Errorf("calls %q, want only the removal", f.calls)
	}
}

func TestDetachReader(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
		detached       bool
	}{
		{"plain", "hello", "hello", false},
		{"detach", "ab\x10\x11cd", "ab", true},
		{"partial", "a\x10b", "a\x10b", false},
		{"repeat-start", "\x10\x10\x11", "\x10", true},
		{"held-at-end", "a\x10", "a", false},
		// keys ctrl-p,ctrl-p,ctrl-q: an extra ^P before them is passed on.
		{"overlap", "\x10\x10\x10\x11z", "\x10", true},
		{"overlap-broken", "\x10\x11\x10\x10x", "\x10\x11\x10\x10x", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := make(chan struct{})
			keys := []byte{0x10, 0x11}
			if strings.HasPrefix(c.name, "overlap") {
				keys = []byte{0x10, 0x10, 0x11}
			}
			// One byte at a time, as a terminal sends keys.
			d := &detachReader{r: iotest.OneByteReader(strings.NewReader(c.in)), keys: keys, detached: ch}
			got, err := io.ReadAll(d)
			if err != nil || string(got) != c.want {
				t.Errorf("read %q, %v; want %q", got, err, c.want)
			}
			select {
			case <-ch:
				if !c.detached {
					t.Error("detached")
				}
			default:
				if c.detached {
					t.Error("not detached")
				}
			}
		})
	}
}
