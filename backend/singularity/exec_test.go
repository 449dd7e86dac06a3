package singularity

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sylabs/sif/v2/pkg/sif"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

// stub is a fake runner in the manner of gh's internal/run stub: every
// command a test expects is registered, an unexpected command fails the
// test, and so does a registered command that is never run.
type stub struct {
	t       *testing.T
	environ []string
	paths   map[string]string // LookPath answers
	calls   []*stubCall
}

type stubCall struct {
	prefix []string
	code   int
	out    string
	err    error
	do     func(proc)
	used   bool
}

func newStub(t *testing.T) *stub {
	s := &stub{t: t, paths: map[string]string{}}
	t.Cleanup(func() {
		for _, c := range s.calls {
			if !c.used {
				t.Errorf("command %q registered but never run", c.prefix)
			}
		}
	})
	return s
}

// register expects one command whose argv starts with prefix.
func (s *stub) register(prefix []string, code int, do func(proc)) *stubCall {
	c := &stubCall{prefix: prefix, code: code, do: do}
	s.calls = append(s.calls, c)
	return c
}

func (s *stub) LookPath(file string) (string, error) {
	if p, ok := s.paths[file]; ok {
		return p, nil
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

func (s *stub) Output(_ context.Context, argv []string) ([]byte, error) {
	c := s.match(argv)
	if c == nil {
		return nil, errors.New("unexpected command")
	}
	return []byte(c.out), c.err
}

func (s *stub) Environ() []string { return s.environ }

func (s *stub) Run(_ context.Context, p proc) (int, error) {
	c := s.match(p.Argv)
	if c == nil {
		return -1, errors.New("unexpected command")
	}
	if c.do != nil {
		c.do(p)
	}
	return c.code, c.err
}

func (s *stub) match(argv []string) *stubCall {
	for _, c := range s.calls {
		if !c.used && len(argv) >= len(c.prefix) && equal(argv[:len(c.prefix)], c.prefix) {
			c.used = true
			return c
		}
	}
	s.t.Errorf("unexpected command %q", argv)
	return nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// makeSIF writes a minimal SIF for arch with Apptainer's metadata object.
func makeSIF(t *testing.T, path, arch string, labels string) {
	t.Helper()
	part, err := sif.NewDescriptorInput(sif.DataPartition, strings.NewReader("not really squashfs"),
		sif.OptPartitionMetadata(sif.FsSquash, sif.PartPrimSys, arch))
	if err != nil {
		t.Fatal(err)
	}
	md, err := sif.NewDescriptorInput(sif.DataGenericJSON,
		strings.NewReader(`{"data":{"attributes":{"labels":`+labels+`}},"type":"container"}`),
		sif.OptObjectName("inspect-metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	lb, err := sif.NewDescriptorInput(sif.DataLabels, strings.NewReader(`{"old.label":"3.x","n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	f, err := sif.CreateContainerAtPath(path, sif.OptCreateWithDescriptors(lb, md, part))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.UnloadContainer(); err != nil {
		t.Fatal(err)
	}
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.sif")
	makeSIF(t, good, runtime.GOARCH, `{"org.launchcli.test":"x"}`)
	// Read-only, as a shared image on a cluster is.
	if err := os.Chmod(good, 0o444); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(good)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != KindSIF || info.Arch != runtime.GOARCH {
		t.Errorf("info = %+v, want a %s SIF", info, runtime.GOARCH)
	}
	for k, v := range map[string]string{"org.launchcli.test": "x", "old.label": "3.x", "n": "1"} {
		if info.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, info.Labels[k], v, info.Labels)
		}
	}

	notSIF := filepath.Join(dir, "x.sif")
	os.WriteFile(notSIF, []byte("#!/bin/sh\n"), 0o644)
	if _, err := Inspect(notSIF); err == nil || !strings.Contains(err.Error(), "not a SIF file") {
		t.Errorf("Inspect(not a SIF) = %v, want a not-a-SIF error", err)
	}
	if _, err := Inspect(filepath.Join(dir, "missing.sif")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Inspect(missing) = %v", err)
	}

	sandbox := filepath.Join(dir, "sb")
	os.MkdirAll(filepath.Join(sandbox, ".singularity.d"), 0o755)
	os.WriteFile(filepath.Join(sandbox, ".singularity.d", "labels.json"), []byte(`{"org.label-schema.build-arch":"aarch64"}`), 0o644)
	info, err = Inspect(sandbox)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != KindSandbox || info.Arch != "arm64" {
		t.Errorf("sandbox info = %+v, want kind sandbox, arch arm64", info)
	}
	if _, err := Inspect(dir + "/sb/.singularity.d"); err == nil {
		t.Error("Inspect accepted a directory that is not a sandbox")
	}
}

func TestCheckArch(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	tests := []struct {
		name     string
		arch     string
		platform plan.Platform
		wantErr  string
	}{
		{"host arch", runtime.GOARCH, plan.Platform{}, ""},
		{"unknown arch", "", plan.Platform{}, ""},
		{"other arch", other, plan.Platform{}, "this host is " + runtime.GOARCH},
		{"platform asks for it", other, plan.Platform{OS: "linux", Arch: other}, ""},
		{"platform differs", runtime.GOARCH, plan.Platform{OS: "linux", Arch: other}, "the plan asks for " + other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkArch(ImageInfo{Path: "/i.sif", Arch: tt.arch}, tt.platform)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkArch = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func execPlan(t *testing.T, image string) plan.Plan {
	ws := t.TempDir()
	os.MkdirAll(filepath.Join(ws, "secrets"), 0o755)
	os.WriteFile(filepath.Join(ws, ".env"), []byte("K=V"), 0o644)
	p := basePlan()
	p.Image.SIF = image
	p.Workdir, p.Workspace = ws, ws
	p.Mounts = []plan.Mount{
		{Kind: plan.MountBind, Source: ws, Target: ws, Origin: plan.OriginWorkspace},
		{Kind: plan.MountMask, Target: ws + "/secrets", ReadOnly: true, Origin: plan.OriginMask},
		{Kind: plan.MountMask, Target: ws + "/.env", ReadOnly: true, File: true, Origin: plan.OriginMask},
	}
	p.Env = []plan.EnvVar{
		{Name: "HOME", Value: "/home/devuser"},
		{Name: "SECRET", Value: "s3cret", FromHost: true},
		{Name: "TOOL", Value: "shell"},
	}
	return p
}

func TestExec(t *testing.T) {
	image := filepath.Join(t.TempDir(), "i.sif")
	makeSIF(t, image, runtime.GOARCH, `{"a":"b"}`)
	p := execPlan(t, image)
	scratch := t.TempDir()
	var seen ImageInfo
	r, err := Render(p, Config{Clear: []string{"TERM", "http_proxy"}, ScratchDir: scratch, OnImage: func(i ImageInfo) { seen = i }})
	if err != nil {
		t.Fatal(err)
	}
	s := newStub(t)
	s.environ = []string{"PATH=/usr/bin", "TERM=xterm", "http_proxy=http://p", "SECRET=s3cret", "APPTAINERENV_TOOL=stale"}
	var runDir string
	s.register([]string{"apptainer", "exec", "--cleanenv", "--contain"}, 7, func(pr proc) {
		// The mask sources exist, empty, while the runtime runs.
		for i, a := range pr.Argv {
			if !strings.HasPrefix(a, scratch+"/") {
				continue
			}
			src := strings.SplitN(a, ":", 2)[0]
			runDir = filepath.Dir(src)
			st, err := os.Stat(src)
			if err != nil {
				t.Errorf("argv[%d] %q: %v", i, a, err)
				continue
			}
			if st.IsDir() {
				if ents, _ := os.ReadDir(src); len(ents) != 0 {
					t.Errorf("mask source %s not empty", src)
				}
			} else if st.Size() != 0 {
				t.Errorf("mask file %s not empty", src)
			}
		}
		want := []string{"PATH=/usr/bin", "SECRET=s3cret", "APPTAINERENV_SECRET=s3cret", "APPTAINERENV_TOOL=shell"}
		if !equal(pr.Env, want) {
			t.Errorf("env = %q, want %q", pr.Env, want)
		}
		for _, a := range pr.Argv {
			if strings.Contains(a, "s3cret") {
				t.Errorf("secret value on the argv: %q", pr.Argv)
			}
		}
	})
	code, err := r.Exec(context.Background(), s, iostreams.Streams{})
	if err != nil || code != 7 {
		t.Fatalf("Exec = %d, %v; want 7, nil", code, err)
	}
	if runDir == "" {
		t.Fatal("no mask source on the argv")
	}
	if _, err := os.Stat(runDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("scratch directory %s left behind (%v)", runDir, err)
	}
	if seen.Labels["a"] != "b" {
		t.Errorf("OnImage got %+v, want label a=b", seen)
	}
}

func TestExecCleansUpOnError(t *testing.T) {
	image := filepath.Join(t.TempDir(), "i.sif")
	makeSIF(t, image, runtime.GOARCH, `{}`)
	scratch := t.TempDir()
	r, err := Render(execPlan(t, image), Config{ScratchDir: scratch})
	if err != nil {
		t.Fatal(err)
	}
	s := newStub(t)
	c := s.register([]string{"apptainer", "exec"}, -1, nil)
	c.err = errors.New("start apptainer: permission denied")
	if _, err := r.Exec(context.Background(), s, iostreams.Streams{}); err == nil {
		t.Fatal("Exec succeeded, want the runner's error")
	}
	if ents, _ := os.ReadDir(scratch); len(ents) != 0 {
		t.Errorf("scratch parent holds %d entries after a failed run, want 0", len(ents))
	}
}

func TestExecRefusesImage(t *testing.T) {
	dir := t.TempDir()
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	wrongArch := filepath.Join(dir, "arm.sif")
	makeSIF(t, wrongArch, other, `{}`)
	notSIF := filepath.Join(dir, "text.sif")
	os.WriteFile(notSIF, []byte("hello"), 0o644)
	for name, tt := range map[string]struct{ image, want string }{
		"wrong arch": {wrongArch, "built for " + other},
		"not a SIF":  {notSIF, "not a SIF file"},
		"missing":    {filepath.Join(dir, "none.sif"), "no such file or directory"},
	} {
		t.Run(name, func(t *testing.T) {
			scratch := t.TempDir()
			r, err := Render(execPlan(t, tt.image), Config{ScratchDir: scratch})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Exec(context.Background(), newStub(t), iostreams.Streams{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Exec = %v, want an error containing %q", err, tt.want)
			}
			if ents, _ := os.ReadDir(scratch); len(ents) != 0 {
				t.Errorf("scratch directory created for a refused image")
			}
		})
	}
}

func TestExecPull(t *testing.T) {
	var hexsum string // of what the stub pulled
	tests := []struct {
		name     string
		pull     plan.PullPolicy
		def      bool
		cached   bool
		wantPull bool
		wantErr  string
	}{
		{name: "default image missing", def: true, wantPull: true},
		{name: "default image cached", def: true, cached: true},
		{name: "unset policy pulls a missing image", wantPull: true},
		{name: "missing", pull: plan.PullMissing, wantPull: true},
		{name: "always", pull: plan.PullAlways, cached: true, wantPull: true},
		{name: "never, missing", pull: plan.PullNever, wantErr: "pass --pull missing"},
		{name: "never, cached", pull: plan.PullNever, cached: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := t.TempDir()
			p := basePlan()
			p.Image = plan.Image{SIF: "oras://ghcr.io/org/img:tag", Default: tt.def}
			p.Pull = tt.pull
			r, err := Render(p, Config{CacheDir: cache, Clear: []string{"https_proxy"}})
			if err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(cache, "oras/ghcr.io/org/img/tag.sif")
			if r.Image() != link {
				t.Fatalf("image = %q, want %q", r.Image(), link)
			}
			if tt.cached {
				// A cached image that Inspect accepts: a sandbox behind the link.
				sb := filepath.Join(cache, "old")
				os.MkdirAll(filepath.Join(sb, "bin"), 0o755)
				os.MkdirAll(filepath.Dir(link), 0o755)
				os.Symlink(sb, link)
			}
			s := newStub(t)
			s.environ = []string{"https_proxy=http://proxy:3128"}
			if tt.wantPull {
				s.register([]string{"apptainer", "pull", "--force"}, 0, func(pr proc) {
					dst := pr.Argv[len(pr.Argv)-2]
					if pr.Argv[len(pr.Argv)-1] != "oras://ghcr.io/org/img:tag" {
						t.Errorf("pull argv %q", pr.Argv)
					}
					if !contains(pr.Env, "https_proxy=http://proxy:3128") {
						t.Errorf("pull env %q lacks the host proxy", pr.Env)
					}
					// A real SIF, so that the run after it inspects it.
					os.Remove(dst)
					makeSIF(t, dst, runtime.GOARCH, `{}`)
					b, _ := os.ReadFile(dst)
					s := sha256.Sum256(b)
					hexsum = hex.EncodeToString(s[:])
				})
			}
			if tt.wantErr == "" {
				s.register([]string{"apptainer", "exec"}, 0, func(pr proc) {
					if contains(pr.Env, "https_proxy=http://proxy:3128") {
						t.Errorf("exec env %q has the host proxy", pr.Env)
					}
					if pr.Argv[len(pr.Argv)-2] != link {
						t.Errorf("exec runs %q, want the cache link %q", pr.Argv[len(pr.Argv)-2], link)
					}
				})
			}
			_, err = r.Exec(context.Background(), s, iostreams.Streams{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Exec = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPull {
				target, err := os.Readlink(link)
				if err != nil || target != filepath.Join(cache, "sha256", hexsum+".sif") {
					t.Errorf("link -> %q (%v), want the file named after its sha256", target, err)
				}
				ents, _ := os.ReadDir(filepath.Join(cache, "sha256"))
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), ".pull.") {
						t.Errorf("partial pull %s left behind", e.Name())
					}
				}
			}
		})
	}
}

func TestExecPullFails(t *testing.T) {
	cache := t.TempDir()
	p := basePlan()
	p.Image = plan.Image{SIF: "docker://alpine:3", Default: true}
	r, err := Render(p, Config{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	s := newStub(t)
	s.register([]string{"apptainer", "pull"}, 255, nil)
	_, err = r.Exec(context.Background(), s, iostreams.Streams{})
	if err == nil || !strings.Contains(err.Error(), "exited with status 255") {
		t.Fatalf("Exec = %v, want the pull's failure", err)
	}
	ents, _ := os.ReadDir(filepath.Join(cache, "sha256"))
	if len(ents) != 0 {
		t.Errorf("cache holds %d entries after a failed pull, want 0", len(ents))
	}
}

func TestFindRuntime(t *testing.T) {
	tests := []struct {
		name    string
		paths   map[string]string
		flag    string
		want    Runtime
		wantErr string
	}{
		{name: "apptainer first", paths: map[string]string{"apptainer": "/usr/bin/apptainer", "singularity": "/usr/bin/singularity"},
			want: Runtime{Path: "/usr/bin/apptainer", Flavour: FlavourApptainer}},
		{name: "singularity", paths: map[string]string{"singularity": "/opt/s/bin/singularity"},
			want: Runtime{Path: "/opt/s/bin/singularity", Flavour: FlavourSingularity}},
		{name: "flag", flag: "/x/singularity", paths: map[string]string{"/x/singularity": "/x/singularity", "apptainer": "/usr/bin/apptainer"},
			want: Runtime{Path: "/x/singularity", Flavour: FlavourSingularity}},
		{name: "none", wantErr: "module load apptainer"},
		{name: "flag not found", flag: "apptainer", paths: map[string]string{"singularity": "/usr/bin/singularity"}, wantErr: `runtime "apptainer": not found on PATH`},
		{name: "flag path not found", flag: "/opt/x/apptainer", wantErr: `runtime "/opt/x/apptainer": no such executable`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStub(t)
			s.paths = tt.paths
			got, err := FindRuntime(s.LookPath, tt.flag)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrNoRuntime) {
					t.Fatalf("err = %v, want one wrapping ErrNoRuntime that says %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("FindRuntime = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestFlavourOf: Apptainer installs `singularity` as a link to apptainer.
func TestFlavourOf(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "apptainer")
	os.WriteFile(app, []byte("#!/bin/sh\n"), 0o755)
	link := filepath.Join(dir, "singularity")
	os.Symlink("apptainer", link)
	if f := flavourOf(link); f != FlavourApptainer {
		t.Errorf("flavourOf(singularity -> apptainer) = %s, want apptainer", f)
	}
	real := filepath.Join(t.TempDir(), "singularity")
	os.WriteFile(real, []byte("#!/bin/sh\n"), 0o755)
	if f := flavourOf(real); f != FlavourSingularity {
		t.Errorf("flavourOf(singularity) = %s, want singularity", f)
	}
}

func TestReadVersion(t *testing.T) {
	tests := []struct {
		out     string
		want    Runtime
		wantErr string
	}{
		{"apptainer version 1.4.3\n", Runtime{Path: "/b", Flavour: FlavourApptainer, Version: "1.4.3"}, ""},
		{"singularity-ce version 4.1.0-jammy\n", Runtime{Path: "/b", Flavour: FlavourSingularity, Version: "4.1.0-jammy"}, ""},
		{"singularity version 3.8.7\n", Runtime{Path: "/b", Flavour: FlavourSingularity, Version: "3.8.7"}, ""},
		{"hello\n", Runtime{}, "unexpected output"},
		{"docker version 27\n", Runtime{}, "unknown runtime"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.out), func(t *testing.T) {
			s := newStub(t)
			s.register([]string{"/b", "--version"}, 0, nil).out = tt.out
			got, err := Runtime{Path: "/b", Flavour: FlavourSingularity}.ReadVersion(context.Background(), s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ReadVersion = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestHostRun runs real processes: the exit status, death by a signal, and a
// SIGTERM sent to launch reaching the child.
func TestHostRun(t *testing.T) {
	ctx := context.Background()
	code, err := Host{}.Run(ctx, proc{Argv: []string{"sh", "-c", "exit 3"}})
	if err != nil || code != 3 {
		t.Errorf("exit 3: got %d, %v", code, err)
	}
	code, err = Host{}.Run(ctx, proc{Argv: []string{"sh", "-c", "kill -KILL $$"}})
	if err != nil || code != 128+9 {
		t.Errorf("killed: got %d, %v; want 137", code, err)
	}
	if _, err := (Host{}).Run(ctx, proc{Argv: []string{"/nonexistent/apptainer"}}); err == nil {
		t.Error("a missing binary ran")
	}

	pr, pw := io.Pipe()
	res := make(chan [2]any, 1)
	go func() {
		c, e := Host{}.Run(ctx, proc{
			Argv:    []string{"sh", "-c", `trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done`},
			Streams: iostreams.Streams{Out: pw, Err: os.Stderr},
		})
		pw.Close()
		res <- [2]any{c, e}
	}()
	rd := bufio.NewReader(pr)
	if line, _ := rd.ReadString('\n'); line != "ready\n" {
		t.Fatalf("child said %q", line)
	}
	// launch itself gets SIGTERM; Run has it caught and passes it on.
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	var rest bytes.Buffer
	go io.Copy(&rest, rd)
	select {
	case r := <-res:
		if r[0].(int) != 42 || r[1] != nil {
			t.Errorf("forwarded SIGTERM: got %v, %v; want 42", r[0], r[1])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not get SIGTERM")
	}
}

func TestHasCap(t *testing.T) {
	status := "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n"
	if hasCap(status, capSysResource) {
		t.Error("CAP_SYS_RESOURCE found in 000001fffeffffff")
	}
	if !hasCap(status, 21) { // CAP_SYS_ADMIN
		t.Error("CAP_SYS_ADMIN not found in 000001fffeffffff")
	}
	if !hasCap("CapEff:\t000001ffffffffff\n", capSysResource) {
		t.Error("CAP_SYS_RESOURCE not found in a full set")
	}
}

// TestHostRunCancel: a plain cancel stops the child with SIGTERM; a cancel
// caused by a signal (signal.NotifyContext) does not, since the signal
// itself is forwarded (or reached the child from the terminal).
func TestHostRunCancel(t *testing.T) {
	script := `trap 'exit 42' TERM; echo ready; i=0; while [ $i -lt 20 ]; do sleep 0.05; i=$((i+1)); done; exit 7`
	for _, tt := range []struct {
		name   string
		cancel func(context.CancelCauseFunc)
		want   int
	}{
		{"plain cancel", func(c context.CancelCauseFunc) { c(nil) }, 42},
		{"cancelled by a signal", func(c context.CancelCauseFunc) { c(errors.New("interrupt signal received")) }, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			pr, pw := io.Pipe()
			res := make(chan int, 1)
			go func() {
				c, err := Host{}.Run(ctx, proc{Argv: []string{"sh", "-c", script}, Streams: iostreams.Streams{Out: pw}})
				pw.Close()
				if err != nil {
					t.Error(err)
				}
				res <- c
			}()
			rd := bufio.NewReader(pr)
			if line, _ := rd.ReadString('\n'); line != "ready\n" {
				t.Fatalf("child said %q", line)
			}
			go io.Copy(io.Discard, rd)
			tt.cancel(cancel)
			if got := <-res; got != tt.want {
				t.Errorf("exit status %d, want %d", got, tt.want)
			}
		})
	}
}

func TestForwarded(t *testing.T) {
	tests := []struct {
		sig  os.Signal
		tty  bool
		want bool
	}{
		{syscall.SIGTERM, false, true}, {syscall.SIGTERM, true, true},
		{syscall.SIGHUP, false, true}, {syscall.SIGHUP, true, true},
		{syscall.SIGINT, false, true}, {syscall.SIGINT, true, false},
		{syscall.SIGQUIT, false, true}, {syscall.SIGQUIT, true, false},
	}
	for _, tt := range tests {
		if got := forwarded(tt.sig, tt.tty); got != tt.want {
			t.Errorf("forwarded(%v, tty=%v) = %v, want %v", tt.sig, tt.tty, got, tt.want)
		}
	}
}

// TestExecUnsquashScratch: with --unsquash the runtime's temporary files go
// into the per-run scratch directory, which is removed afterwards even when
// the runtime left read-only directories behind (killed half-way through
// unsquashing), and the snippet does the same.
func TestExecUnsquashScratch(t *testing.T) {
	image := filepath.Join(t.TempDir(), "i.sif")
	makeSIF(t, image, runtime.GOARCH, `{}`)
	p := execPlan(t, image)
	scratch := t.TempDir()
	r, err := Render(p, Config{Unsquash: true, ScratchDir: scratch})
	if err != nil {
		t.Fatal(err)
	}
	s := newStub(t)
	s.environ = []string{"PATH=/usr/bin", "APPTAINER_TMPDIR=/elsewhere"}
	s.register([]string{"apptainer", "exec"}, 0, func(pr proc) {
		var tmp string
		for _, kv := range pr.Env {
			if v, ok := strings.CutPrefix(kv, "APPTAINER_TMPDIR="); ok {
				if tmp != "" {
					t.Errorf("APPTAINER_TMPDIR set twice: %q", pr.Env)
				}
				tmp = v
			}
		}
		if filepath.Dir(tmp) != scratch {
			t.Fatalf("APPTAINER_TMPDIR = %q, want a directory in %s", tmp, scratch)
		}
		// What an interrupted unsquash leaves: a read-only tree.
		leftover := filepath.Join(tmp, "rootfs-1", "usr")
		if err := os.MkdirAll(leftover, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(leftover, "f"), nil, 0o444)
		os.Chmod(leftover, 0o555)
	})
	if _, err := r.Exec(context.Background(), s, iostreams.Streams{}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(scratch); len(ents) != 0 {
		t.Errorf("scratch parent holds %d entries after the run, want 0", len(ents))
	}
	snip := r.Snippet()
	for _, want := range []string{`APPTAINER_TMPDIR="$launch_tmp" \`, `chmod -R u+w "$launch_tmp"`, "--unsquash"} {
		if !strings.Contains(snip, want) {
			t.Errorf("snippet lacks %q:\n%s", want, snip)
		}
	}
}

// TestRunNotStartedAfterCancel: a launch interrupted before the runtime
// starts does not start it.
func TestRunNotStartedAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupt received"))
	marker := filepath.Join(t.TempDir(), "started")
	code, err := Host{}.Run(ctx, proc{Argv: []string{"sh", "-c", "touch " + marker}, Env: os.Environ()})
	if err == nil || !strings.Contains(err.Error(), "interrupt received") {
		t.Errorf("Run = %d, %v; want the cancellation's cause", code, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the runtime was started after the cancellation")
	}
}
