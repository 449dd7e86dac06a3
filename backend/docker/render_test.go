package docker

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/launchcli/launch/internal/golden"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and testdata/*.request.json")

// goldenConfig is the Config every golden plan renders with: a name and no
// run-only labels, as a dry run on Linux has.
func goldenConfig(p plan.Plan) Config {
	return Config{Name: naming.ContainerName(p), HostIDs: true}
}

// TestRender renders every shared plan into testdata/<name>.golden (the
// argv, one quoted line, or "error: ..." for a plan Docker refuses) and
// testdata/<name>.request.json (the Engine API request).
func TestRender(t *testing.T) {
	want := map[string]bool{}
	for _, c := range golden.Corpus(t) {
		name, p := c.Name, c.Plan
		want[name+".golden"] = true
		t.Run(name, func(t *testing.T) {
			r, err := Render(p, goldenConfig(p))
			var argv, req []byte
			if err != nil {
				if !errors.Is(err, plan.ErrUnsupported) && !errors.Is(err, plan.ErrInvalid) {
					t.Errorf("error %v wraps neither plan.ErrUnsupported nor plan.ErrInvalid", err)
				}
				argv = []byte("error: " + err.Error() + "\n")
			} else {
				want[name+".request.json"] = true
				argv = []byte(shell.Join(r.Argv()) + "\n")
				if req, err = json.MarshalIndent(r.Request, "", "  "); err != nil {
					t.Fatal(err)
				}
				req = append(req, '\n')
			}
			golden.Check(t, "testdata/"+name+".golden", argv, *update)
			reqPath := "testdata/" + name + ".request.json"
			if req == nil {
				if *update {
					os.Remove(reqPath)
				} else if _, err := os.Stat(reqPath); err == nil {
					t.Errorf("%s exists but the plan is refused (-update to remove)", reqPath)
				}
				return
			}
			golden.Check(t, reqPath, req, *update)
		})
	}
	// A golden file whose plan is gone is stale.
	have, _ := filepath.Glob("testdata/*")
	for _, h := range have {
		base := filepath.Base(h)
		if (strings.HasSuffix(base, ".golden") || strings.HasSuffix(base, ".request.json")) && !want[base] {
			if *update {
				os.Remove(h)
				continue
			}
			t.Errorf("%s has no plan in ../../plan/testdata/plans (-update to remove)", h)
		}
	}
}

// basePlan is a small valid plan for table tests.
func basePlan() plan.Plan {
	return plan.Plan{
		Agent:     "shell",
		Image:     plan.Image{OCI: "img:1"},
		Argv:      []string{"/bin/sh", "-c", "echo hi"},
		Workdir:   "/w",
		Workspace: "/w",
		User:      plan.User{UID: 1000, GID: 1000, Home: "/home/devuser"},
		Caller:    plan.Caller{UID: 1000, GID: 1000},
		Mounts:    []plan.Mount{{Kind: plan.MountBind, Source: "/w", Target: "/w", Origin: plan.OriginWorkspace}},
		Env:       []plan.EnvVar{{Name: "A", Value: "1"}, {Name: "SECRET", Value: "s3cret", FromHost: true}},
		Network:   plan.Network{Mode: plan.NetworkOpen},
	}
}

func TestRenderRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*plan.Plan, *Config)
		check  func(t *testing.T, r Rendered, argv string)
	}{
		{"secret-by-name", func(*plan.Plan, *Config) {}, func(t *testing.T, r Rendered, argv string) {
			if strings.Contains(argv, "s3cret") {
				t.Errorf("argv holds an inherited value: %s", argv)
			}
			if !strings.Contains(argv, "--env A=1 --env SECRET ") {
				t.Errorf("argv lacks --env A=1 --env SECRET: %s", argv)
			}
			if !slices.Contains(r.Request.Config.Env, "SECRET=s3cret") {
				t.Errorf("request env %v lacks the inherited value", r.Request.Config.Env)
			}
			if !slices.Equal(r.Inherited, []string{"SECRET"}) {
				t.Errorf("Inherited = %v", r.Inherited)
			}
		}},
		{"no-tty", func(*plan.Plan, *Config) {}, func(t *testing.T, r Rendered, argv string) {
			if !strings.HasPrefix(argv, "docker run --rm --init -i --pull missing --user ") {
				t.Errorf("argv = %s", argv)
			}
			c := r.Request.Config
			if c.Tty || !c.OpenStdin || !c.AttachStdin || !c.StdinOnce || !r.Request.HostConfig.AutoRemove || !*r.Request.HostConfig.Init {
				t.Errorf("config %+v", c)
			}
		}},
		{"tty", func(p *plan.Plan, _ *Config) { p.TTY = true }, func(t *testing.T, r Rendered, argv string) {
			if !strings.HasPrefix(argv, "docker run --rm --init -i -t ") || !r.Request.Config.Tty {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"network-none", func(p *plan.Plan, _ *Config) { p.Network.Mode = plan.NetworkNone }, func(t *testing.T, r Rendered, argv string) {
			if !strings.Contains(argv, " --network none ") || r.Request.HostConfig.NetworkMode != "none" {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"network-open", func(*plan.Plan, *Config) {}, func(t *testing.T, r Rendered, argv string) {
			if strings.Contains(argv, "--network") {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"runsc", func(p *plan.Plan, _ *Config) { p.Runtime = plan.RuntimeRunsc }, func(t *testing.T, r Rendered, argv string) {
			if !strings.Contains(argv, " --runtime runsc ") || r.Request.HostConfig.Runtime != "runsc" {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"runc-is-default", func(p *plan.Plan, _ *Config) { p.Runtime = plan.RuntimeRunc }, func(t *testing.T, r Rendered, argv string) {
			if strings.Contains(argv, "--runtime") || r.Request.HostConfig.Runtime != "" {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"mask-dir-and-file", func(p *plan.Plan, _ *Config) {
			p.Mounts = append(p.Mounts,
				plan.Mount{Kind: plan.MountMask, Target: "/w/secrets", ReadOnly: true, Origin: plan.OriginMask},
				plan.Mount{Kind: plan.MountMask, Target: "/w/.env", ReadOnly: true, File: true, Origin: plan.OriginMask})
		}, func(t *testing.T, r Rendered, argv string) {
			want := []mount.Mount{
				{Type: mount.TypeBind, Source: "/w", Target: "/w"},
				{Type: mount.TypeTmpfs, Target: "/w/secrets", ReadOnly: true},
				{Type: mount.TypeBind, Source: "/dev/null", Target: "/w/.env", ReadOnly: true},
			}
			if !slices.EqualFunc(r.Request.HostConfig.Mounts, want, func(a, b mount.Mount) bool {
				return a.Type == b.Type && a.Source == b.Source && a.Target == b.Target && a.ReadOnly == b.ReadOnly
			}) {
				t.Errorf("mounts = %+v", r.Request.HostConfig.Mounts)
			}
			if !strings.Contains(argv, "--mount type=tmpfs,target=/w/secrets,readonly --mount type=bind,source=/dev/null,target=/w/.env,readonly") {
				t.Errorf("argv = %s", argv)
			}
			if len(r.Request.HostConfig.MaskedPaths) != 0 {
				t.Error("MaskedPaths is API-only; it must not be used")
			}
		}},
		{"gpus-all", func(p *plan.Plan, _ *Config) { p.GPUs.All = true }, func(t *testing.T, r Rendered, argv string) {
			d := r.Request.HostConfig.DeviceRequests
			if len(d) != 1 || d[0].Count != -1 || !strings.Contains(argv, " --gpus all ") {
				t.Errorf("requests %+v, argv %s", d, argv)
			}
		}},
		{"gpus-devices", func(p *plan.Plan, _ *Config) { p.GPUs.Devices = []string{"0", "2"} }, func(t *testing.T, r Rendered, argv string) {
			d := r.Request.HostConfig.DeviceRequests
			if len(d) != 1 || !slices.Equal(d[0].DeviceIDs, []string{"0", "2"}) || !strings.Contains(argv, ` --gpus '"device=0,2"' `) {
				t.Errorf("requests %+v, argv %s", d, argv)
			}
		}},
		{"platform", func(p *plan.Plan, _ *Config) {
			p.Image.Platform = plan.Platform{OS: "linux", Arch: "arm64", Variant: "v8"}
		}, func(t *testing.T, r Rendered, argv string) {
			want := ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
			if r.Request.Platform == nil || r.Request.Platform.OS != want.OS || r.Request.Platform.Architecture != want.Architecture || r.Request.Platform.Variant != want.Variant {
				t.Errorf("platform %+v", r.Request.Platform)
			}
			if !strings.Contains(argv, " --platform linux/arm64/v8 ") {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"labels-sorted-with-plan-hash", func(p *plan.Plan, c *Config) {
			p.Labels = map[string]string{"z": "1", "a": "2"}
			c.Labels = map[string]string{"dev.launch.pid": "42"}
		}, func(t *testing.T, r Rendered, argv string) {
			p := basePlan()
			p.Labels = map[string]string{"z": "1", "a": "2"}
			want := "--label a=2 --label dev.launch.pid=42 --label dev.launch.plan=" + p.Hash() + " --label z=1 img:1"
			if !strings.Contains(argv, want) {
				t.Errorf("argv = %s\nwant %s", argv, want)
			}
		}},
		{"name-and-stop-timeout", func(_ *plan.Plan, c *Config) { c.Name = "launch-shell-w"; c.StopTimeout = 3 }, func(t *testing.T, r Rendered, argv string) {
			if !strings.Contains(argv, " --name launch-shell-w ") || !strings.Contains(argv, " --stop-timeout 3 ") {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"pull-default", func(p *plan.Plan, _ *Config) { p.Image.Default = true }, func(t *testing.T, r Rendered, argv string) {
			if !strings.Contains(argv, " --pull missing ") {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"pull-never", func(p *plan.Plan, _ *Config) { p.Pull = plan.PullNever }, func(t *testing.T, r Rendered, argv string) {
			if !strings.Contains(argv, " --pull never ") {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"pull-always", func(p *plan.Plan, _ *Config) { p.Pull = plan.PullAlways }, func(t *testing.T, r Rendered, argv string) {
			if !strings.Contains(argv, " --pull always ") {
				t.Errorf("argv = %s", argv)
			}
		}},
		{"no-path-without-prepends", func(p *plan.Plan, _ *Config) {}, func(t *testing.T, r Rendered, argv string) {
			if strings.Contains(argv, "PATH") || slices.ContainsFunc(r.Request.Config.Env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
				t.Errorf("a PATH is sent although the plan has no prepends: %s", argv)
			}
		}},
		{"path-prepend-on-the-fallback", func(p *plan.Plan, _ *Config) { p.PathPrepend = []string{"/opt/a/bin", "/w/bin"} }, func(t *testing.T, r Rendered, argv string) {
			want := "--env PATH=/opt/a/bin:/w/bin:" + plan.FallbackPath + " "
			if !strings.Contains(argv, want) {
				t.Errorf("argv = %s\nwant %s", argv, want)
			}
			if notes := strings.Join(r.CommandNotes(), "\n"); !strings.Contains(notes, "the image's own PATH") {
				t.Errorf("command notes do not say a real run uses the image's PATH:\n%s", notes)
			}
			if notes := strings.Join(r.Notes(), "\n"); strings.Contains(notes, "PATH") {
				t.Errorf("a note of every run speaks of the printed command's PATH:\n%s", notes)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := basePlan(), Config{}
			tt.mutate(&p, &c)
			r, err := Render(p, c)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r, shell.Join(r.Argv()))
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*plan.Plan, *Config)
		kind   error
		want   string
	}{
		{"allowlist", func(p *plan.Plan, _ *Config) {
			p.Network = plan.Network{Mode: plan.NetworkAllow, Allow: []plan.HostPort{{Host: "github.com"}}}
		}, plan.ErrUnsupported, "the allowlist needs launch's host proxy, which shares a Unix socket with the container (Linux only); use --network none or open"},
		{"sif-only", func(p *plan.Plan, _ *Config) { p.Image = plan.Image{SIF: "/x.sif"} }, plan.ErrUnsupported, "--backend singularity"},
		{"bad-name", func(_ *plan.Plan, c *Config) { c.Name = "my proj" }, plan.ErrInvalid, `container name "my proj"`},
		{"label-key-with-equals", func(_ *plan.Plan, c *Config) { c.Labels = map[string]string{"a=b": "c"} }, plan.ErrInvalid, `label "a=b"`},
		{"label-set-twice", func(p *plan.Plan, c *Config) {
			p.Labels = map[string]string{"dev.launch.pid": "1"}
			c.Labels = naming.RunLabels(2, time.Unix(0, 0))
		}, plan.ErrInvalid, `label "dev.launch.pid" (run): already set`},
		{"home-not-in-tmpfs-syntax", func(p *plan.Plan, c *Config) {
			p.User.Home = "/home/a:b"
			p.Caller = plan.Caller{UID: 2345, GID: 2345}
			c.HostIDs = true
		}, plan.ErrUnsupported, `user home "/home/a:b"`},
		{"negative-stop-timeout", func(_ *plan.Plan, c *Config) { c.StopTimeout = -1 }, plan.ErrInvalid, "stop timeout"},
		{"invalid-plan", func(p *plan.Plan, _ *Config) { p.Argv = nil }, plan.ErrInvalid, "argv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := basePlan(), Config{}
			tt.mutate(&p, &c)
			_, err := Render(p, c)
			if err == nil {
				t.Fatal("Render succeeded")
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %v does not wrap %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") || strings.HasSuffix(err.Error(), ".") {
				t.Errorf("error %q is not one line without a trailing period", err)
			}
		})
	}
}

func TestCommand(t *testing.T) {
	three := 3
	tests := []struct {
		name      string
		verb      string
		req       Request
		inherited []string
		want      []string
	}{
		{"minimal", "run", Request{Config: &container.Config{Image: "busybox"}}, nil, []string{"docker", "run", "busybox"}},
		{"nil-config", "create", Request{}, nil, []string{"docker", "create", ""}},
		{"create-verb", "create", Request{Name: "n", Config: &container.Config{Image: "i", Cmd: []string{"true"}}, HostConfig: &container.HostConfig{AutoRemove: true}}, nil,
			[]string{"docker", "create", "--rm", "--name", "n", "i", "true"}},
		{"flags-in-order", "run", Request{
			Name:     "n",
			Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"},
			Config: &container.Config{
				OpenStdin: true, Tty: true, User: "1:2", WorkingDir: "/w", StopTimeout: &three,
				Env:    []string{"B=2", "A=x y", "TOKEN=t"},
				Labels: map[string]string{"k": "v", "a": "b=c"},
				Image:  "img", Cmd: []string{"-c", "x"},
			},
			HostConfig: &container.HostConfig{
				AutoRemove: true, NetworkMode: "none", Runtime: "runsc",
				Resources: container.Resources{DeviceRequests: []container.DeviceRequest{{Count: -1, Capabilities: [][]string{{"gpu"}}}}},
				Mounts: []mount.Mount{
					{Type: mount.TypeBind, Source: "/a b", Target: "/c", ReadOnly: true},
					{Type: mount.TypeTmpfs, Target: "/t", ReadOnly: true},
				},
			},
		}, []string{"TOKEN"}, []string{
			"docker", "run", "--rm", "-i", "-t", "--name", "n", "--platform", "linux/amd64",
			"--user", "1:2", "--workdir", "/w", "--network", "none", "--runtime", "runsc", "--stop-timeout", "3",
			"--gpus", "all", "--env", "B=2", "--env", "A=x y", "--env", "TOKEN",
			"--mount", "type=bind,source=/a b,target=/c,readonly", "--mount", "type=tmpfs,target=/t,readonly",
			"--label", "a=b=c", "--label", "k=v", "img", "-c", "x",
		}},
		{"default-network-has-no-flag", "run", Request{Config: &container.Config{Image: "i"}, HostConfig: &container.HostConfig{NetworkMode: "default"}}, nil,
			[]string{"docker", "run", "i"}},
		{"gpu-devices-csv-quoted", "run", Request{Config: &container.Config{Image: "i"}, HostConfig: &container.HostConfig{
			Resources: container.Resources{DeviceRequests: []container.DeviceRequest{{DeviceIDs: []string{"0", "GPU-a"}}}}}}, nil,
			[]string{"docker", "run", "--gpus", `"device=0,GPU-a"`, "i"}},
		{"quote-in-mount-path", "run", Request{Config: &container.Config{Image: "i"}, HostConfig: &container.HostConfig{
			Mounts: []mount.Mount{{Type: mount.TypeBind, Source: `/a"b`, Target: "/c"}}}}, nil,
			[]string{"docker", "run", "--mount", `type=bind,"source=/a""b",target=/c`, "i"}},
		{"entrypoint", "run", Request{Config: &container.Config{Image: "i", Entrypoint: []string{"/e", "x"}, Cmd: []string{"y"}}}, nil,
			[]string{"docker", "run", "--entrypoint", "/e", "i", "x", "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Command(tt.verb, tt.req, tt.inherited)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Command =\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

func TestSnippet(t *testing.T) {
	p := basePlan()
	p.Prepare = []plan.HostPath{{Path: "/h/.codex", Dir: true}, {Path: "/h/it's.json", Content: "{}"}}
	r, err := Render(p, Config{Name: "launch-shell-w"})
	if err != nil {
		t.Fatal(err)
	}
	// A subshell: the terminal lines (shell.Terminal), the preparation,
	// then the command, whose -t the terminal lines decide.
	want := "(\n" + strings.Join(shell.Terminal("-t"), "\n") + "\n" + strings.Join(shell.Prepare(p.Prepare), "\n") + "\n" +
		strings.Replace(shell.Join(r.Argv()), " -i ", " -i $launch_tty ", 1) + "\n)\n"
	if got := r.Snippet(); got != want {
		t.Errorf("Snippet =\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(r.Snippet(), "s3cret") {
		t.Error("the snippet holds an inherited value")
	}
	// What concerns the printed command only is in CommandNotes, which a
	// real run does not print, even with --verbose.
	notes := strings.Join(r.CommandNotes(), "\n")
	for _, w := range []string{"SECRET", "launch-shell-w-2"} {
		if !strings.Contains(notes, w) {
			t.Errorf("command notes do not mention %s:\n%s", w, notes)
		}
	}
	for _, n := range r.Notes() {
		if strings.Contains(n, "command") || strings.Contains(n, "SECRET") {
			t.Errorf("a note of every run speaks of the printed command: %q", n)
		}
	}
}

// TestSnippetTerminal: the printed command is the same whether or not the
// dry run had a terminal (its -t is decided where it runs); a detached run
// keeps the -t Render decided and attaches nothing.
func TestSnippetTerminal(t *testing.T) {
	p := basePlan()
	p.Env = nil
	without, err := Render(p, Config{})
	if err != nil {
		t.Fatal(err)
	}
	p.TTY = true
	with, err := Render(p, Config{})
	if err != nil {
		t.Fatal(err)
	}
	// The plan's hash (a label) covers its TTY; nothing else may differ.
	hash := regexp.MustCompile(`dev\.launch\.plan=[0-9a-f]+`)
	if hash.ReplaceAllString(without.Snippet(), "") != hash.ReplaceAllString(with.Snippet(), "") || !strings.Contains(with.Snippet(), " -i $launch_tty ") {
		t.Errorf("snippets differ with the dry run's terminal, or lack $launch_tty:\n%s\n%s", without.Snippet(), with.Snippet())
	}
	detached, err := Render(p, Config{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := detached.Snippet(); got != shell.Join(detached.Argv())+"\n" || !strings.Contains(got, " -d -i -t ") {
		t.Errorf("detached snippet = %s; want the command only, with -d -i -t", got)
	}
}

func TestRunLabels(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 30, 0, 0, time.FixedZone("x", 3600))
	r, err := Render(basePlan(), Config{Labels: naming.RunLabels(4242, at)})
	if err != nil {
		t.Fatal(err)
	}
	argv := shell.Join(r.Argv())
	for _, w := range []string{"--label dev.launch.pid=4242 ", "--label dev.launch.started=2026-05-01T11:30:00Z "} {
		if !strings.Contains(argv, w) {
			t.Errorf("argv lacks %q: %s", w, argv)
		}
	}
}

// TestIdentity checks who the agent runs as, on the printed command (the
// request behind it is checked against the command by TestCommandRoundTrip).
func TestIdentity(t *testing.T) {
	const tmpfsHome = "--tmpfs /home/devuser:exec,mode=0700,uid=2345,gid=2345"
	const rootHome = "--tmpfs /home/devuser:exec,mode=0700,uid=0,gid=0"
	tests := []struct {
		name    string
		caller  plan.Caller
		hostIDs bool
		mount   string // a bind mount's target, added to the plan; "image" sets plan.PrivilegesImage instead
		user    string // want --user
		tmpfs   string // want this --tmpfs flag; "" for none
		notes   []string
	}{
		{"caller-is-image-user", plan.Caller{UID: 1000, GID: 1000}, true, "", "1000:1000", "", nil},
		{"other-uid", plan.Caller{UID: 2345, GID: 2345}, true, "", "2345:2345", tmpfsHome,
			[]string{"you are 2345:2345, not the image user 1000:1000", "hides what the image has there", "[image_defaults]", "--backend podman"}},
		{"other-gid-only", plan.Caller{UID: 1000, GID: 2345}, true, "", "1000:2345", "--tmpfs /home/devuser:exec,mode=0700,uid=1000,gid=2345",
			[]string{"you are 1000:2345"}},
		// Root without capabilities cannot write the image user's home.
		{"root", plan.Caller{UID: 0, GID: 0}, true, "", "0:0", rootHome,
			[]string{"root (0:0)", "cannot write the image user's home", "--privileges image"}},
		{"root-with-another-gid-runs-as-root", plan.Caller{UID: 0, GID: 5}, true, "", "0:0", rootHome, []string{"root (0:0)"}},
		{"root-privileges-image", plan.Caller{UID: 0, GID: 0}, true, "image", "0:0", "",
			[]string{"root (0:0)", "keeps the image's home /home/devuser"}},
		{"engine-maps-ownership", plan.Caller{UID: 501, GID: 20}, false, "", "1000:1000", "",
			[]string{"runs as the image user 1000:1000 (you are 501:20)", "file sharing"}},
		{"mount-at-home", plan.Caller{UID: 2345, GID: 2345}, true, "/home/devuser", "2345:2345", "",
			[]string{"its home /home/devuser is what the mount at /home/devuser holds"}},
		{"mount-above-home", plan.Caller{UID: 2345, GID: 2345}, true, "/home", "2345:2345", "",
			[]string{"the mount at /home holds"}},
		{"mount-beside-home", plan.Caller{UID: 2345, GID: 2345}, true, "/home/devuser2", "2345:2345", tmpfsHome, []string{"new, empty tmpfs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePlan()
			p.Caller = tt.caller
			if tt.mount == "image" {
				p.Privileges = plan.PrivilegesOf(plan.PrivilegesImage, nil)
			} else if tt.mount != "" {
				p.Mounts = append(p.Mounts, plan.Mount{Kind: plan.MountBind, Source: "/srv/x", Target: tt.mount, Origin: plan.OriginUser})
			}
			r, err := Render(p, Config{HostIDs: tt.hostIDs})
			if err != nil {
				t.Fatal(err)
			}
			argv := shell.Join(r.Argv())
			if !strings.Contains(argv, " --user "+tt.user+" ") {
				t.Errorf("argv lacks --user %s: %s", tt.user, argv)
			}
			if tt.tmpfs == "" && strings.Contains(argv, "--tmpfs") || tt.tmpfs != "" && !strings.Contains(argv, " "+tt.tmpfs+" ") {
				t.Errorf("argv: want tmpfs %q: %s", tt.tmpfs, argv)
			}
			notes := strings.Join(r.Notes(), "\n")
			for _, w := range tt.notes {
				if !strings.Contains(notes, w) {
					t.Errorf("notes lack %q:\n%s", w, notes)
				}
			}
			if tt.notes == nil && (strings.Contains(notes, "agent runs as") || strings.Contains(notes, "you are")) {
				t.Errorf("a note on the identity although nothing changes:\n%s", notes)
			}
		})
	}
}
