package podman

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
	"time"

	"go.podman.io/podman/v6/libpod/define"
	"go.podman.io/podman/v6/pkg/errorhandling"
	"go.podman.io/podman/v6/pkg/specgen"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

// fakeEngine is an engine whose container is a Go function. A call the test
// did not set up panics.
type fakeEngine struct {
	t *testing.T

	images   map[string]bool     // nil: ImageExists is unexpected
	imageEnv map[string][]string // an image's Config.Env
	pull     error               // returned by Pull
	pullOK   bool                // Pull is expected
	taken    map[string]bool     // names in use
	create   error               // returned by Create
	runtime  string              // what Runtime answers; "" echoes the spec's
	start    error               // returned by Start
	remove   error               // returned by Remove
	// proc is the container's process; nil means Create is unexpected.
	proc func(ctx context.Context, in io.Reader, out, errw io.Writer) int

	mu      sync.Mutex
	calls   []string
	created []specgen.SpecGenerator
	in      io.Reader
	out     io.Writer
	errw    io.Writer
	started chan struct{}
	exited  chan int
	kill    context.CancelFunc
	code    int
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

func (f *fakeEngine) Endpoint() string { return "unix:///fake.sock (test)" }

func (f *fakeEngine) Local() bool { return true }

func (f *fakeEngine) Info(context.Context) (*define.Info, error) { panic("not implemented: Info") }

func (f *fakeEngine) ImageExists(_ context.Context, ref string) (bool, error) {
	if f.images == nil {
		panic("not implemented: ImageExists")
	}
	f.record("ImageExists " + ref)
	return f.images[ref], nil
}

func (f *fakeEngine) ImageEnv(_ context.Context, ref string) ([]string, error) {
	f.record("ImageEnv " + ref)
	return f.imageEnv[ref], nil
}

func (f *fakeEngine) Pull(_ context.Context, ref, os, arch, variant string, progress io.Writer) (string, error) {
	if !f.pullOK {
		panic("not implemented: Pull")
	}
	f.record("Pull " + ref)
	fmt.Fprintf(progress, "Copying blob abc\n")
	return "pulled-id", f.pull
}

func (f *fakeEngine) Create(_ context.Context, s *specgen.SpecGenerator) (string, error) {
	if f.proc == nil && f.create == nil {
		panic("not implemented: Create")
	}
	f.record("Create " + s.Name)
	if f.create != nil {
		return "", f.create
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.taken[s.Name] {
		return "", &errorhandling.ErrorModel{Message: fmt.Sprintf("creating container storage: the container name %q is already in use by abc. You have to remove that container to be able to reuse that name: that name is already in use", s.Name), ResponseCode: 500}
	}
	f.created = append(f.created, *s)
	if s.Name == "launch-proxy-7" {
		return sidecarID, nil // TestExecSidecar's proxy
	}
	return "0123456789abcdef0123", nil
}

func (f *fakeEngine) Runtime(_ context.Context, id string) (string, error) {
	f.record("Runtime " + id)
	if f.runtime != "" {
		return f.runtime, nil
	}
	return f.created[len(f.created)-1].OCIRuntime, nil
}

func (f *fakeEngine) Attach(_ context.Context, id string, in io.Reader, out, errw io.Writer, ready chan bool) error {
	f.record("Attach " + id)
	for _, s := range []any{in, out, errw} {
		if _, isFile := s.(interface{ Fd() uintptr }); isFile {
			f.t.Errorf("the bindings got a file (%T): they would set up the terminal themselves", s)
		}
	}
	f.mu.Lock()
	f.in, f.out, f.errw = in, out, errw
	f.started = make(chan struct{})
	f.exited = make(chan int, 1)
	f.mu.Unlock()
	ready <- true
	select {
	case <-f.started:
	case <-time.After(10 * time.Second):
		return errors.New("never started")
	}
	code := <-f.exited
	f.exited <- code
	return nil
}

func (f *fakeEngine) Start(_ context.Context, id string) error {
	f.record("Start " + id)
	if f.start != nil {
		return f.start
	}
	if id == sidecarID {
		return nil
	}
	ctx, kill := context.WithCancel(context.Background())
	f.mu.Lock()
	f.kill = kill
	f.mu.Unlock()
	go func() {
		in := f.in
		if in == nil {
			in = strings.NewReader("")
		}
		f.exited <- f.proc(ctx, in, f.out, f.errw)
	}()
	close(f.started)
	return nil
}

func (f *fakeEngine) Wait(_ context.Context, id string) (int, error) {
	f.record("Wait " + id)
	if f.called("Start") == 0 {
		f.t.Error("Wait before Start: libpod answers at once for a container that has not started")
	}
	code := <-f.exited
	f.exited <- code
	return code, nil
}

func (f *fakeEngine) Init(context.Context, string) error { panic("not implemented: Init") }

func (f *fakeEngine) Resize(context.Context, string, uint, uint) error {
	panic("not implemented: Resize")
}

func (f *fakeEngine) Stop(_ context.Context, id string) error {
	f.record("Stop " + id)
	f.mu.Lock()
	kill := f.kill
	f.mu.Unlock()
	kill()
	return nil
}

func (f *fakeEngine) Remove(_ context.Context, id string) error {
	f.record("Remove " + id)
	return f.remove
}

// echo copies stdin to stdout and says bye on stderr.
func echo(_ context.Context, in io.Reader, out, errw io.Writer) int {
	io.Copy(out, in)
	fmt.Fprint(errw, "bye\n")
	return 3
}

func renderSmall(t *testing.T, mutate func(*plan.Plan, *Config)) Rendered {
	t.Helper()
	p, c := small(), Config{Rootless: true, Name: "launch-shell-w"}
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
	r := renderSmall(t, nil)
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
	if len(f.created) != 1 {
		t.Fatalf("created %d containers", len(f.created))
	}
	got := f.created[0]
	if got.Remove != nil {
		t.Errorf("created with remove %v: the service's own removal loses the exit code; want none", *got.Remove)
	}
	// Everything else is the rendered spec.
	want := *r.Spec
	want.Remove = nil
	if d := specDiff(&got, &want); len(d) > 0 {
		t.Errorf("created spec differs from the rendered one:\n%s", strings.Join(d, "\n"))
	}
	if r.Spec.Remove == nil || !*r.Spec.Remove {
		t.Error("Exec changed the rendered spec")
	}
	order := []string{"ImageExists img:1", "Create launch-shell-w", "Attach 0123456789abcdef0123", "Start 0123456789abcdef0123", "Wait 0123456789abcdef0123", "Remove 0123456789abcdef0123"}
	if !slices.Equal(f.calls, order) {
		t.Errorf("calls\n %q\nwant\n %q", f.calls, order)
	}
}

func TestExecNameConflict(t *testing.T) {
	f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo, taken: map[string]bool{"launch-shell-w": true, "launch-shell-w-2": true}}
	s, _, _ := streams("")
	if _, err := renderSmall(t, nil).Exec(context.Background(), f, s); err != nil {
		t.Fatal(err)
	}
	if len(f.created) != 1 || f.created[0].Name != "launch-shell-w-3" {
		t.Errorf("created %+v, want launch-shell-w-3", f.created)
	}
}

func TestExecImage(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*plan.Plan, *Config)
		present  bool
		pull     error
		wantPull bool
		wantErr  string
	}{
		{"present", nil, true, nil, false, ""},
		{"missing-default-pulled", func(p *plan.Plan, _ *Config) { p.Image.Default = true }, false, nil, true, ""},
		{"never", func(p *plan.Plan, _ *Config) { p.Pull = plan.PullNever }, false, nil, false, "not pulled (--pull never"},
		{"always-pulls-present", func(p *plan.Plan, _ *Config) { p.Pull = plan.PullAlways }, true, nil, true, ""},
		{"pull-fails", nil, false, errors.New("initializing source docker://img:1: manifest unknown"), true, `pull image "img:1": initializing source docker://img:1: manifest unknown; check the name, and log in with ` + "`podman login docker.io`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEngine{t: t, images: map[string]bool{"img:1": tt.present}, pull: tt.pull, pullOK: tt.wantPull}
			if tt.wantErr == "" {
				f.proc = echo
			}
			s, _, errw := streams("")
			_, err := renderSmall(t, tt.mutate).Exec(context.Background(), f, s)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
			if got := f.called("Pull") > 0; got != tt.wantPull {
				t.Errorf("calls %v, want a pull: %v", f.calls, tt.wantPull)
			}
			if tt.wantPull && !strings.Contains(errw.String(), "Copying blob abc") {
				t.Errorf("stderr %q lacks the service's progress", errw)
			}
			if tt.wantErr != "" && f.called("Create") > 0 {
				t.Error("a container was created although the image is missing")
			}
		})
	}
}

// TestExecRuntimeReadBack: a service that created the container with
// another runtime than the one asked for (Podman 4.3 ignores it) makes Exec
// remove the container and fail, before anything runs.
func TestExecRuntimeReadBack(t *testing.T) {
	t.Run("ignored", func(t *testing.T) {
		f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo, runtime: "runc"}
		r := renderSmall(t, func(p *plan.Plan, _ *Config) { p.Runtime = plan.RuntimeRunsc })
		s, _, _ := streams("")
		_, err := r.Exec(context.Background(), f, s)
		if !errors.Is(err, plan.ErrUnsupported) {
			t.Fatalf("error %v, want one wrapping plan.ErrUnsupported", err)
		}
		for _, w := range []string{`runtime "runsc"`, `with "runc" instead`, "unix:///fake.sock", "--runtime runsc", "newer Podman"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %s", err, w)
			}
		}
		if f.called("Start") != 0 || f.called("Remove") != 1 {
			t.Errorf("calls %v: want no start and one removal", f.calls)
		}
	})
	t.Run("kept", func(t *testing.T) {
		f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo}
		r := renderSmall(t, func(p *plan.Plan, _ *Config) { p.Runtime = plan.RuntimeRunsc })
		s, _, _ := streams("")
		if _, err := r.Exec(context.Background(), f, s); err != nil {
			t.Fatal(err)
		}
		if f.called("Runtime") != 1 || f.called("Start") != 1 {
			t.Errorf("calls %v", f.calls)
		}
	})
}

func TestExecCDI(t *testing.T) {
	old := cdiDirs
	cdiDirs = []string{t.TempDir()}
	t.Cleanup(func() { cdiDirs = old })
	f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}}
	r := renderSmall(t, func(p *plan.Plan, _ *Config) { p.GPUs.All = true })
	s, _, _ := streams("")
	_, err := r.Exec(context.Background(), f, s)
	if !errors.Is(err, plan.ErrUnsupported) || !strings.Contains(err.Error(), "nvidia-ctk cdi generate") || !strings.Contains(err.Error(), "nvidia.com/gpu=all") {
		t.Fatalf("error %v, want one naming the device and how to generate the spec", err)
	}
	if f.called("Create") != 0 {
		t.Errorf("calls %v: want no create", f.calls)
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
	code, err := renderSmall(t, nil).Exec(ctx, f, s)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want one wrapping context.Canceled", err)
	}
	if code != 143 {
		t.Errorf("exit code %d, want the container's 143", code)
	}
	if f.called("Stop") != 1 || f.called("Remove") != 1 {
		t.Errorf("calls %v: want a stop and a remove", f.calls)
	}
}

func TestExecFailures(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(*fakeEngine)
		wantErr    string
		wantRemove int
	}{
		{"create-fails", func(f *fakeEngine) {
			f.create = &errorhandling.ErrorModel{Message: "invalid mount config", ResponseCode: 500}
		}, "create container launch-shell-w: invalid mount config", 0},
		{"cdi-late", func(f *fakeEngine) {
			f.create = &errorhandling.ErrorModel{Message: "setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=all", ResponseCode: 500}
		}, "nvidia-ctk cdi generate", 0},
		{"no-init", func(f *fakeEngine) {
			f.create = &errorhandling.ErrorModel{Message: "container-init binary not found on the host: stat /usr/libexec/podman/catatonit: no such file or directory", ResponseCode: 500}
		}, "install catatonit there", 0},
		{"start-fails", func(f *fakeEngine) { f.start = errors.New("crun: executable file not found") }, "start container launch-shell-w: crun: executable file not found", 1},
		{"remove-fails", func(f *fakeEngine) { f.remove = errors.New("service gone") }, "remove it with `podman rm -f launch-shell-w`", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo}
			tt.setup(f)
			s, _, _ := streams("")
			_, err := renderSmall(t, nil).Exec(context.Background(), f, s)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
			if got := f.called("Remove"); got != tt.wantRemove {
				t.Errorf("%d removes, want %d (calls %v)", got, tt.wantRemove, f.calls)
			}
		})
	}
}

// TestExecPath: with path prepends, the created container's PATH is the
// prepends in front of the image's own PATH; without them the spec's env
// is sent as rendered.
func TestExecPath(t *testing.T) {
	tests := []struct {
		name    string
		prepend []string
		env     []string
		want    string
	}{
		{"image-path", []string{"/p/bin"}, []string{"LANG=C", "PATH=/opt/x/bin:/usr/bin"}, "/p/bin:/opt/x/bin:/usr/bin"},
		{"image-without-path", []string{"/p/bin"}, []string{"LANG=C"}, "/p/bin:" + plan.FallbackPath},
		{"no-prepend", nil, []string{"PATH=/opt/x/bin"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, imageEnv: map[string][]string{"img:1": tt.env}, proc: echo}
			r := renderSmall(t, func(p *plan.Plan, _ *Config) { p.PathPrepend = tt.prepend })
			s, _, _ := streams("")
			if _, err := r.Exec(context.Background(), f, s); err != nil {
				t.Fatal(err)
			}
			got, ok := f.created[0].Env["PATH"]
			if tt.want == "" && ok || tt.want != "" && got != tt.want {
				t.Errorf("created PATH %q (set: %v), want %q", got, ok, tt.want)
			}
			if tt.prepend == nil && f.called("ImageEnv") != 0 {
				t.Errorf("calls %v: the image is read only for prepends", f.calls)
			}
		})
	}
}

// The sidecar's calls (an allowlist enforced by a proxy container): the
// volume calls are recorded; the proxy says it listens at once.
func (f *fakeEngine) VolumeCreate(_ context.Context, name string, options, _ map[string]string) error {
	f.record("VolumeCreate " + name + " " + options["type"])
	return nil
}

func (f *fakeEngine) VolumeRemove(_ context.Context, name string) error {
	f.record("VolumeRemove " + name)
	return nil
}

func (f *fakeEngine) Logs(_ context.Context, id string) ([]byte, error) {
	f.record("Logs " + id)
	return []byte(sidecarReady + "/.launch/net/proxy.sock\n"), nil
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
	cleanup := []string{"Remove launch-proxy-7", "VolumeRemove launch-net-7"}
	t.Run("run", func(t *testing.T) {
		f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, proc: echo}
		r := renderSmall(t, sidecar)
		s, _, _ := streams("hi\n")
		if code, err := r.Exec(context.Background(), f, s); err != nil || code != 3 {
			t.Fatalf("exit %d, %v; want 3", code, err)
		}
		agent := f.created[1]
		if agent.NetNS.NSMode != specgen.NoNetwork || len(agent.Volumes) != 1 || agent.Volumes[0].Name != "launch-net-7" || agent.Volumes[0].Dest != plan.ProxyDir {
			t.Errorf("agent: network %q, volumes %+v; want none and the sidecar's volume at %s", agent.NetNS.NSMode, agent.Volumes, plan.ProxyDir)
		}
		if side := f.created[0]; side.User != agent.User || side.UserNS != agent.UserNS || !isTrue(side.ReadOnlyFilesystem) {
			t.Errorf("sidecar: user %q %v, read-only %v; want the agent's (%q %v), read-only", side.User, side.UserNS, side.ReadOnlyFilesystem, agent.User, agent.UserNS)
		}
		want := []string{"ImageExists img:1", "VolumeCreate launch-net-7 tmpfs", "Create launch-proxy-7", "Start " + sidecarID, "Logs " + sidecarID}
		if got := f.calls[:len(want)]; !slices.Equal(got, want) {
			t.Errorf("calls\n %q\nwant first\n %q", f.calls, want)
		}
		if got := f.calls[len(f.calls)-2:]; !slices.Equal(got, cleanup) {
			t.Errorf("calls\n %q\nwant last\n %q", f.calls, cleanup)
		}
	})
	t.Run("proxy-create-fails", func(t *testing.T) {
		f := &fakeEngine{t: t, images: map[string]bool{"img:1": true}, create: errors.New("no space left")}
		r := renderSmall(t, sidecar)
		s, _, _ := streams("")
		if _, err := r.Exec(context.Background(), f, s); err == nil {
			t.Fatal("no error")
		}
		// The proxy was not created: only the volume is removed.
		want := []string{"ImageExists img:1", "VolumeCreate launch-net-7 tmpfs", "Create launch-proxy-7", "VolumeRemove launch-net-7"}
		if !slices.Equal(f.calls, want) {
			t.Errorf("calls\n %q\nwant\n %q", f.calls, want)
		}
	})
}
