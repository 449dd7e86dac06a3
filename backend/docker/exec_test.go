package docker

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

// fakeEngine is an engine whose container is a Go function. A call the test
// did not set up panics.
type fakeEngine struct {
	t *testing.T

	runtimes map[string]system.RuntimeWithStatus // nil: Info is unexpected
	images   map[string]bool                     // nil: ImageInspect is unexpected
	imageEnv map[string][]string                 // an image's Config.Env
	pull     func(ref string) (string, error)    // nil: ImagePull is unexpected
	taken    map[string]bool                     // names in use
	create   error                               // returned by ContainerCreate
	start    error                               // returned by ContainerStart
	remove   error                               // returned by ContainerRemove
	// proc is the container's process; nil means create is unexpected.
	proc func(ctx context.Context, in io.Reader, out, errw io.Writer) int
	// dropAttach makes the engine fail mid-run: the attach connection is
	// cut and the wait fails.
	dropAttach bool

	mu      sync.Mutex
	calls   []string
	created []client.ContainerCreateOptions
	pulled  []string
	server  net.Conn
	waitRes chan container.WaitResponse
	waitErr chan error
	kill    context.CancelFunc
	exited  chan struct{}
}

func (f *fakeEngine) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeEngine) called(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeEngine) DaemonHost() string { return "unix:///fake.sock" }

func (f *fakeEngine) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	if f.runtimes == nil {
		panic("not implemented: Info")
	}
	f.record("Info")
	return client.SystemInfoResult{Info: system.Info{Runtimes: f.runtimes}}, nil
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	if f.images == nil {
		panic("not implemented: ImageInspect")
	}
	f.record("ImageInspect " + ref)
	if f.images[ref] {
		var res client.ImageInspectResult
		if env, ok := f.imageEnv[ref]; ok {
			// As the engine answers: the image's config in JSON.
			b, _ := json.Marshal(map[string]any{"Config": map[string]any{"Env": env}})
			if err := json.Unmarshal(b, &res); err != nil {
				panic(err)
			}
		}
		return res, nil
	}
	return client.ImageInspectResult{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

type pullStream struct{ io.Reader }

func (pullStream) Close() error { return nil }
func (pullStream) JSONMessages(context.Context) iter.Seq2[jsonstream.Message, error] {
	panic("not implemented: JSONMessages")
}
func (pullStream) Wait(context.Context) error { panic("not implemented: Wait") }

func (f *fakeEngine) ImagePull(_ context.Context, ref string, _ client.ImagePullOptions) (client.ImagePullResponse, error) {
	if f.pull == nil {
		panic("not implemented: ImagePull")
	}
	f.record("ImagePull " + ref)
	f.mu.Lock()
	f.pulled = append(f.pulled, ref)
	f.mu.Unlock()
	body, err := f.pull(ref)
	if err != nil {
		return nil, err
	}
	return pullStream{strings.NewReader(body)}, nil
}

func (f *fakeEngine) ContainerCreate(_ context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	if f.proc == nil && f.create == nil {
		panic("not implemented: ContainerCreate")
	}
	f.record("ContainerCreate " + o.Name)
	if f.create != nil {
		return client.ContainerCreateResult{}, f.create
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.taken[o.Name] {
		return client.ContainerCreateResult{}, cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("Conflict. The container name %q is already in use", "/"+o.Name))
	}
	f.created = append(f.created, o)
	if o.Name == "launch-proxy-7" {
		return client.ContainerCreateResult{ID: sidecarID}, nil // TestExecSidecar's proxy
	}
	return client.ContainerCreateResult{ID: "0123456789abcdef0123"}, nil
}

func (f *fakeEngine) ContainerAttach(_ context.Context, id string, _ client.ContainerAttachOptions) (client.ContainerAttachResult, error) {
	f.record("ContainerAttach " + id)
	// A unix socket pair: like the engine's hijacked connection it supports
	// CloseWrite, which is how the end of stdin reaches the container.
	dir := f.t.TempDir()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
	if err != nil {
		return client.ContainerAttachResult{}, err
	}
	defer l.Close()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
	if err != nil {
		return client.ContainerAttachResult{}, err
	}
	s, err := l.Accept()
	if err != nil {
		return client.ContainerAttachResult{}, err
	}
	f.mu.Lock()
	f.server = s
	f.mu.Unlock()
	return client.ContainerAttachResult{HijackedResponse: client.NewHijackedResponse(c, "application/vnd.docker.multiplexed-stream")}, nil
}

func (f *fakeEngine) ContainerWait(_ context.Context, id string, o client.ContainerWaitOptions) client.ContainerWaitResult {
	f.record("ContainerWait " + string(o.Condition))
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waitRes != nil {
		// The second wait, after a remove conflict: already removed.
		res := make(chan container.WaitResponse, 1)
		res <- container.WaitResponse{}
		return client.ContainerWaitResult{Result: res, Error: make(chan error)}
	}
	f.waitRes = make(chan container.WaitResponse, 1)
	f.waitErr = make(chan error, 1)
	return client.ContainerWaitResult{Result: f.waitRes, Error: f.waitErr}
}

// frame writes docker's multiplexed stream format (stdcopy) for one stream.
type frame struct {
	mu     *sync.Mutex
	w      io.Writer
	stream byte
}

func (f frame) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hdr [8]byte
	hdr[0] = f.stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := f.w.Write(append(hdr[:], p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *fakeEngine) ContainerStart(_ context.Context, id string, _ client.ContainerStartOptions) (client.ContainerStartResult, error) {
	f.record("ContainerStart " + id)
	if f.start != nil {
		return client.ContainerStartResult{}, f.start
	}
	if id == sidecarID {
		return client.ContainerStartResult{}, nil
	}
	f.mu.Lock()
	srv := f.server
	ctx, kill := context.WithCancel(context.Background())
	f.kill = kill
	f.exited = make(chan struct{})
	f.mu.Unlock()
	go func() {
		defer close(f.exited)
		if f.dropAttach {
			srv.Close()
			f.waitErr <- errors.New("unexpected EOF")
			return
		}
		var mu sync.Mutex
		code := f.proc(ctx, srv, frame{&mu, srv, 1}, frame{&mu, srv, 2})
		srv.Close()
		f.waitRes <- container.WaitResponse{StatusCode: int64(code)}
	}()
	return client.ContainerStartResult{}, nil
}

func (f *fakeEngine) ContainerResize(context.Context, string, client.ContainerResizeOptions) (client.ContainerResizeResult, error) {
	panic("not implemented: ContainerResize")
}

func (f *fakeEngine) ContainerStop(_ context.Context, id string, _ client.ContainerStopOptions) (client.ContainerStopResult, error) {
	f.record("ContainerStop " + id)
	f.mu.Lock()
	kill, exited := f.kill, f.exited
	f.mu.Unlock()
	kill()
	<-exited
	return client.ContainerStopResult{}, nil
}

func (f *fakeEngine) ContainerRemove(_ context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
	f.record("ContainerRemove " + id)
	if !o.Force {
		f.t.Error("ContainerRemove without Force")
	}
	return client.ContainerRemoveResult{}, f.remove
}

// echo copies stdin to stdout and says bye on stderr.
func echo(_ context.Context, in io.Reader, out, errw io.Writer) int {
	io.Copy(out, in)
	fmt.Fprint(errw, "bye\n")
	return 3
}

func render(t *testing.T, mutate func(*plan.Plan, *Config)) Rendered {
	t.Helper()
	p, c := basePlan(), Config{Name: "launch-shell-w"}
	if mutate != nil {
		mutate(&p, &c)
	}
	r, err := Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func streams(in string) (iostreams.Streams, *bytes.Buffer, *bytes.Buffer) {
	var out, errw bytes.Buffer
	return iostreams.Streams{In: strings.NewReader(in), Out: &out, Err: &errw}, &out, &errw
}

func TestExecPipesAndExitCode(t *testing.T) {
	f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo}
	r := render(t, nil)
	s, out, errw := streams("hi\n")
	code, err := r.Exec(context.Background(), f, s)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	if out.String() != "hi\n" || errw.String() != "bye\n" {
		t.Errorf("stdout %q, stderr %q; want %q and %q kept apart", out, errw, "hi\n", "bye\n")
	}
	if len(f.created) != 1 || f.created[0].Name != "launch-shell-w" || f.created[0].Config != r.Request.Config || f.created[0].HostConfig != r.Request.HostConfig {
		t.Errorf("created %+v, want the rendered request", f.created)
	}
	if f.called("ContainerWait removed") != 1 {
		t.Errorf("calls %v: want a wait for removal (AutoRemove)", f.calls)
	}
	order := []string{"ImageInspect img:1", "ContainerCreate launch-shell-w", "ContainerAttach 0123456789abcdef0123", "ContainerWait removed", "ContainerStart 0123456789abcdef0123", "ContainerRemove 0123456789abcdef0123"}
	if !slices.Equal(f.calls, order) {
		t.Errorf("calls\n %q\nwant\n %q", f.calls, order)
	}
}

func TestExecNameConflict(t *testing.T) {
	f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo, taken: map[string]bool{"launch-shell-w": true, "launch-shell-w-2": true}}
	s, _, _ := streams("")
	if _, err := render(t, nil).Exec(context.Background(), f, s); err != nil {
		t.Fatal(err)
	}
	if len(f.created) != 1 || f.created[0].Name != "launch-shell-w-3" {
		t.Errorf("created %+v, want launch-shell-w-3", f.created)
	}
}

func TestExecRuntime(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		// No images and no proc: anything after Info panics.
		f := &fakeEngine{t: t, runtimes: map[string]system.RuntimeWithStatus{"runc": {}}}
		r := render(t, func(p *plan.Plan, _ *Config) { p.Runtime = plan.RuntimeRunsc })
		s, _, _ := streams("")
		_, err := r.Exec(context.Background(), f, s)
		if err == nil {
			t.Fatal("Exec succeeded without runsc")
		}
		for _, w := range []string{`runtime "runsc"`, "unix:///fake.sock", "gvisor.dev", "daemon.json", "Docker Desktop for macOS"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %s", err, w)
			}
		}
		if !errors.Is(err, plan.ErrUnsupported) {
			t.Errorf("error %v does not wrap plan.ErrUnsupported", err)
		}
	})
	t.Run("present", func(t *testing.T) {
		f := &fakeEngine{t: t, runtimes: map[string]system.RuntimeWithStatus{"runc": {}, "runsc": {}}, images: map[string]bool{"img:1": true}, proc: echo}
		r := render(t, func(p *plan.Plan, _ *Config) { p.Runtime = plan.RuntimeRunsc })
		s, _, _ := streams("")
		if _, err := r.Exec(context.Background(), f, s); err != nil {
			t.Fatal(err)
		}
		if f.called("Info") != 1 || f.created[0].HostConfig.Runtime != "runsc" {
			t.Errorf("calls %v", f.calls)
		}
	})
}

func TestExecImage(t *testing.T) {
	okPull := func(string) (string, error) {
		return `{"status":"Pulling from x","id":"1"}` + "\n" + `{"status":"Download complete","id":"abc"}` + "\n", nil
	}
	tests := []struct {
		name     string
		mutate   func(*plan.Plan, *Config)
		present  bool
		pull     func(string) (string, error)
		wantPull bool
		wantErr  string
	}{
		{"present", nil, true, nil, false, ""},
		{"missing-default-pulled", func(p *plan.Plan, _ *Config) { p.Image.Default = true }, false, okPull, true, ""},
		{"missing-custom-advice", func(p *plan.Plan, _ *Config) { p.Pull = plan.PullNever }, false, nil, false, "check the name, run `docker pull img:1`"},
		{"never", func(p *plan.Plan, _ *Config) { p.Image.Default = true; p.Pull = plan.PullNever }, false, nil, false, "not pulled (--pull never"},
		{"missing-custom-pulled-when-asked", func(p *plan.Plan, _ *Config) { p.Pull = plan.PullMissing }, false, okPull, true, ""},
		{"always-pulls-present", func(p *plan.Plan, _ *Config) { p.Pull = plan.PullAlways }, true, okPull, true, ""},
		{"pull-fails", func(p *plan.Plan, _ *Config) { p.Image.Default = true }, false, func(string) (string, error) {
			return `{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}` + "\n", nil
		}, true, `pull image "img:1": manifest unknown; check the name, and log in with ` + "`docker login docker.io`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEngine{t: t, images: map[string]bool{"img:1": tt.present}, pull: tt.pull}
			if tt.wantErr == "" {
				f.proc = echo
			}
			r := render(t, tt.mutate)
			s, _, errw := streams("")
			_, err := r.Exec(context.Background(), f, s)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
			if got := len(f.pulled) > 0; got != tt.wantPull {
				t.Errorf("pulled %v, want a pull: %v", f.pulled, tt.wantPull)
			}
			if tt.wantPull && tt.wantErr == "" && !strings.Contains(errw.String(), "abc: Download complete") {
				t.Errorf("stderr %q lacks the plain progress lines", errw)
			}
			if tt.wantErr != "" && f.called("ContainerCreate") > 0 {
				t.Error("a container was created although the image is missing")
			}
		})
	}
}

func TestExecCancelStopsAndRemoves(t *testing.T) {
	started := make(chan struct{})
	f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: func(ctx context.Context, _ io.Reader, _, _ io.Writer) int {
		close(started)
		<-ctx.Done() // runs until stopped
		return 143
	}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	s, _, _ := streams("")
	code, err := render(t, nil).Exec(ctx, f, s)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want one wrapping context.Canceled", err)
	}
	if code != 143 {
		t.Errorf("exit code %d, want the container's 143", code)
	}
	if f.called("ContainerStop") != 1 || f.called("ContainerRemove") != 1 {
		t.Errorf("calls %v: want a stop and a remove", f.calls)
	}
}

func TestExecCancelledBeforeStartRemoves(t *testing.T) {
	f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo}
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel during create: the create is finished, then the container removed.
	f.taken = map[string]bool{}
	wrapped := &cancelOnCreate{fakeEngine: f, cancel: cancel}
	s, _, _ := streams("")
	_, err := render(t, nil).Exec(ctx, wrapped, s)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if f.called("ContainerStart") != 0 || f.called("ContainerRemove") != 1 {
		t.Errorf("calls %v: want no start and one remove", f.calls)
	}
}

type cancelOnCreate struct {
	*fakeEngine
	cancel context.CancelFunc
}

func (c *cancelOnCreate) ContainerCreate(ctx context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	c.cancel()
	return c.fakeEngine.ContainerCreate(ctx, o)
}

func TestExecFailures(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(*fakeEngine)
		wantErr    string
		wantRemove int
	}{
		{"create-fails", func(f *fakeEngine) { f.create = cerrdefs.ErrInvalidArgument.WithMessage("invalid mount config") }, "create container launch-shell-w: invalid mount config", 0},
		{"start-fails", func(f *fakeEngine) { f.start = errors.New("Error response from daemon: oci runtime error") }, "start container launch-shell-w: oci runtime error", 1},
		{"engine-dies-mid-run", func(f *fakeEngine) { f.dropAttach = true }, "wait for container launch-shell-w", 1},
		{"remove-fails", func(f *fakeEngine) { f.remove = errors.New("engine gone") }, "remove it with `docker rm -f launch-shell-w`", 1},
		{"remove-races-autoremove", func(f *fakeEngine) { f.remove = cerrdefs.ErrConflict.WithMessage("removal already in progress") }, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo}
			tt.setup(f)
			s, _, _ := streams("")
			_, err := render(t, nil).Exec(context.Background(), f, s)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
			if got := f.called("ContainerRemove"); got != tt.wantRemove {
				t.Errorf("%d removes, want %d (calls %v)", got, tt.wantRemove, f.calls)
			}
		})
	}
}

func TestExecStdinEOFEndsContainer(t *testing.T) {
	// cat-like process: it ends only when stdin does.
	f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: func(_ context.Context, in io.Reader, out, _ io.Writer) int {
		io.Copy(out, in)
		return 0
	}}
	s, out, _ := streams("line 1\nline 2\n")
	done := make(chan error, 1)
	go func() { _, err := render(t, nil).Exec(context.Background(), f, s); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return after stdin ended")
	}
	if out.String() != "line 1\nline 2\n" {
		t.Errorf("stdout %q", out)
	}
}

// TestExecPath: with path prepends, the created container's PATH is the
// prepends in front of the image's own PATH, read after the image is
// present; without them no PATH is sent.
func TestExecPath(t *testing.T) {
	imageEnv := []string{"LANG=C", "PATH=/opt/x/bin:/usr/bin:/bin"}
	tests := []struct {
		name    string
		prepend []string
		pull    plan.PullPolicy
		env     []string // the image's Config.Env
		want    string   // PATH=... in the created env; "" for none
		calls   []string
	}{
		{"prepend-present-image", []string{"/p/bin", "/w/bin"}, plan.PullMissing, imageEnv, "PATH=/p/bin:/w/bin:/opt/x/bin:/usr/bin:/bin",
			[]string{"ImageInspect img:1", "ContainerCreate launch-shell-w"}},
		{"prepend-after-pull-always", []string{"/p/bin"}, plan.PullAlways, imageEnv, "PATH=/p/bin:/opt/x/bin:/usr/bin:/bin",
			[]string{"ImagePull img:1", "ImageInspect img:1", "ContainerCreate launch-shell-w"}},
		{"prepend-image-without-path", []string{"/p/bin"}, plan.PullMissing, []string{"LANG=C"}, "PATH=/p/bin:" + plan.FallbackPath,
			[]string{"ImageInspect img:1", "ContainerCreate launch-shell-w"}},
		{"prepend-dir-already-in-image-path", []string{"/usr/bin"}, plan.PullMissing, imageEnv, "PATH=/usr/bin:/opt/x/bin:/bin",
			[]string{"ImageInspect img:1", "ContainerCreate launch-shell-w"}},
		{"no-prepend", nil, plan.PullMissing, imageEnv, "",
			[]string{"ImageInspect img:1", "ContainerCreate launch-shell-w"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, imageEnv: map[string][]string{"img:1": tt.env}, proc: echo,
				pull: func(string) (string, error) { return `{"status":"Pull complete","id":"1"}` + "\n", nil }}
			r := render(t, func(p *plan.Plan, _ *Config) { p.PathPrepend = tt.prepend; p.Pull = tt.pull })
			s, _, _ := streams("")
			if _, err := r.Exec(context.Background(), f, s); err != nil {
				t.Fatal(err)
			}
			if len(f.created) != 1 {
				t.Fatalf("created %d containers", len(f.created))
			}
			env := f.created[0].Config.Env
			var path []string
			for _, kv := range env {
				if strings.HasPrefix(kv, "PATH=") {
					path = append(path, kv)
				}
			}
			if tt.want == "" && len(path) > 0 || tt.want != "" && !slices.Equal(path, []string{tt.want}) {
				t.Errorf("created PATH %q, want %q", path, tt.want)
			}
			// Everything else is the rendered request's.
			without := func(env []string) []string {
				return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "PATH=") })
			}
			if !slices.Equal(without(env), without(r.Request.Config.Env)) || f.created[0].Config.Image != r.Request.Config.Image {
				t.Errorf("created env %q, rendered %q", env, r.Request.Config.Env)
			}
			if !slices.IsSorted(env) {
				t.Errorf("created env %q is not sorted", env)
			}
			dry, _ := envList((&plan.Plan{PathPrepend: tt.prepend}).EnvWithPath(""))
			if tt.prepend != nil && !slices.Contains(r.Request.Config.Env, dry[0]) {
				t.Errorf("the rendered request %q lacks the dry run's PATH", r.Request.Config.Env)
			}
			if got := f.calls[:len(tt.calls)]; !slices.Equal(got, tt.calls) {
				t.Errorf("calls %q, want %q first", f.calls, tt.calls)
			}
		})
	}
}

func TestAllowsHostUDS(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--host-uds=open"}, true},
		{[]string{"--host-uds=all"}, true},
		{[]string{"--host-uds", "open"}, true},
		{[]string{"--host-uds=open", "--host-uds=none"}, false},
		{[]string{"--host-uds=create"}, false},
		{[]string{"--network=none"}, false},
	}
	for _, tt := range tests {
		if got := allowsHostUDS(tt.args); got != tt.want {
			t.Errorf("allowsHostUDS(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// The sidecar's calls (an allowlist enforced by a proxy container): the
// volume calls are recorded; the proxy's output says it listens at once.
func (f *fakeEngine) VolumeCreate(_ context.Context, o client.VolumeCreateOptions) (client.VolumeCreateResult, error) {
	f.record(fmt.Sprintf("VolumeCreate %s %s", o.Name, o.DriverOpts["type"]))
	return client.VolumeCreateResult{}, nil
}

func (f *fakeEngine) VolumeInspect(_ context.Context, vol string, _ client.VolumeInspectOptions) (client.VolumeInspectResult, error) {
	f.record("VolumeInspect " + vol)
	if f.taken[vol] {
		return client.VolumeInspectResult{}, nil
	}
	return client.VolumeInspectResult{}, cerrdefs.ErrNotFound
}

func (f *fakeEngine) VolumeRemove(_ context.Context, vol string, o client.VolumeRemoveOptions) (client.VolumeRemoveResult, error) {
	f.record("VolumeRemove " + vol)
	return client.VolumeRemoveResult{}, nil
}

func (f *fakeEngine) ContainerLogs(_ context.Context, id string, _ client.ContainerLogsOptions) (client.ContainerLogsResult, error) {
	f.record("ContainerLogs " + id)
	msg := sidecarReady + "0.0.0.0:3128\n"
	frame := binary.BigEndian.AppendUint32([]byte{2, 0, 0, 0}, uint32(len(msg)))
	return io.NopCloser(bytes.NewReader(append(frame, msg...))), nil
}

const sidecarID = "51dec0a1"

// TestExecSidecar: under a proxy sidecar, Exec creates the socket's
// volume, creates and starts the proxy, waits for it to listen, runs the
// agent without network and with the volume, and removes the proxy and
// then the volume, also when a step fails.
func TestExecSidecar(t *testing.T) {
	sidecar := func(p *plan.Plan, _ *Config) {
		p.Network = plan.Network{Mode: plan.NetworkAllow, Allow: []plan.HostPort{{Host: "good.test"}},
			Sidecar: &plan.Sidecar{Volume: "launch-net-7", Name: "launch-proxy-7", Binary: "/usr/local/bin/launch", Port: 3128, Log: "/home/u/.local/state/launch/network/shell-7.log"}}
	}
	setup := []string{"ImageInspect img:1", "VolumeInspect launch-net-7", "VolumeCreate launch-net-7 tmpfs", "ContainerCreate launch-proxy-7",
		"ContainerStart " + sidecarID, "ContainerLogs " + sidecarID}
	cleanup := []string{"ContainerRemove launch-proxy-7", "VolumeRemove launch-net-7"}
	t.Run("run", func(t *testing.T) {
		f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo}
		r := render(t, sidecar)
		s, _, _ := streams("hi\n")
		if code, err := r.Exec(context.Background(), f, s); err != nil || code != 3 {
			t.Fatalf("exit %d, %v; want 3", code, err)
		}
		agent := f.created[1].HostConfig
		if got := string(agent.NetworkMode); got != "none" {
			t.Errorf("agent's network %q, want none", got)
		}
		if m := agent.Mounts[len(agent.Mounts)-1]; m.Type != "volume" || m.Source != "launch-net-7" || m.Target != plan.ProxyDir {
			t.Errorf("agent's last mount %+v, want the sidecar's volume at %s", m, plan.ProxyDir)
		}
		want := append(append(slices.Clone(setup), "ContainerCreate launch-shell-w", "ContainerAttach 0123456789abcdef0123", "ContainerWait removed",
			"ContainerStart 0123456789abcdef0123", "ContainerRemove 0123456789abcdef0123"), cleanup...)
		if !slices.Equal(f.calls, want) {
			t.Errorf("calls\n %q\nwant\n %q", f.calls, want)
		}
	})
	t.Run("volume-exists", func(t *testing.T) {
		// An earlier launch with this pid left its volume (a detached
		// session may use it): nothing is created, nothing removed.
		f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, taken: map[string]bool{"launch-net-7": true}}
		s, _, _ := streams("")
		_, err := render(t, sidecar).Exec(context.Background(), f, s)
		if err == nil || !strings.Contains(err.Error(), "create volume launch-net-7: it exists") {
			t.Errorf("error %v, want the volume named", err)
		}
		if want := []string{"ImageInspect img:1", "VolumeInspect launch-net-7"}; !slices.Equal(f.calls, want) {
			t.Errorf("calls\n %q\nwant\n %q", f.calls, want)
		}
	})
	t.Run("proxy-create-fails", func(t *testing.T) {
		f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo, taken: map[string]bool{}}
		r := render(t, sidecar)
		f.create = errors.New("no space left")
		s, _, _ := streams("")
		if _, err := r.Exec(context.Background(), f, s); err == nil {
			t.Fatal("no error")
		}
		// The proxy was not created: only the volume is removed.
		want := []string{"ImageInspect img:1", "VolumeInspect launch-net-7", "VolumeCreate launch-net-7 tmpfs", "ContainerCreate launch-proxy-7", "VolumeRemove launch-net-7"}
		if !slices.Equal(f.calls, want) {
			t.Errorf("calls\n %q\nwant\n %q", f.calls, want)
		}
	})
}
