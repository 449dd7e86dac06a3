package singularity

import (
	"bytes"
	"errors"
	"flag"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/golden"
	"github.com/launchcli/launch/plan"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenConfig is the configuration every golden file is rendered with: a
// host with TERM, proxies and stray runtime variables to clear.
func goldenConfig() Config {
	return Config{
		Binary:   "apptainer",
		Flavour:  FlavourApptainer,
		CacheDir: "/home/ana/.cache/launch/sif",
		Clear: ClearNames([]string{
			"TERM=xterm-256color", "http_proxy=http://p:3128", "HTTPS_PROXY=http://p:3128",
			"APPTAINERENV_FOO=1", "APPTAINER_BIND=/data", "APPTAINER_CACHEDIR=/data/ana/.apptainer",
		}),
	}
}

// TestRender renders every shared plan into testdata/<plan>.golden: the
// snippet --dry-run prints, then the notes; a plan this backend refuses gets
// its error text instead.
func TestRender(t *testing.T) {
	for _, c := range golden.Corpus(t) {
		name, p := c.Name, c.Plan
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			r, ok := renderCorpus(t, c, goldenConfig())
			if !ok {
				got.WriteString("error: " + unsupportedCorpus[name] + "\n")
			} else {
				got.WriteString(r.Snippet())
				for _, n := range r.Notes() {
					got.WriteString("# note: " + n + "\n")
				}
				checkNoSecrets(t, p, got.String())
			}
			golden.Check(t, filepath.Join("testdata", name+".golden"), got.Bytes(), *update)
		})
	}
}

// checkNoSecrets fails when an inherited value appears in printed output.
func checkNoSecrets(t *testing.T, p plan.Plan, out string) {
	t.Helper()
	constants := map[string]bool{}
	for _, e := range p.Env {
		if !e.FromHost {
			constants[e.Value] = true
		}
	}
	for _, e := range p.Env {
		// A value that is also a constant of the plan may be printed as
		// that constant.
		if e.FromHost && len(e.Value) > 3 && !constants[e.Value] && strings.Contains(out, e.Value) {
			t.Errorf("output shows the value of inherited %s", e.Name)
		}
	}
}

// TestSnippetParses runs every rendered snippet through sh -n and bash -n.
// Every corpus plan renders, or fails with its listed unsupportedCorpus
// error.
func TestSnippetParses(t *testing.T) {
	for _, c := range golden.Corpus(t) {
		t.Run(c.Name, func(t *testing.T) {
			r, ok := renderCorpus(t, c, goldenConfig())
			if !ok {
				return
			}
			for _, sh := range []string{"sh", "bash"} {
				if _, err := exec.LookPath(sh); err != nil {
					t.Fatalf("%s: %v", sh, err)
				}
				out, err := exec.Command(sh, "-n", "-c", r.Snippet()).CombinedOutput()
				if err != nil {
					t.Errorf("%s -n: %v\n%s\n%s", sh, err, out, r.Snippet())
				}
			}
		})
	}
}

func basePlan() plan.Plan {
	return plan.Plan{
		Agent:     "shell",
		Image:     plan.Image{SIF: "/images/busybox.sif"},
		Argv:      []string{"/bin/sh"},
		Workdir:   "/w",
		Workspace: "/w",
		User:      plan.User{UID: 1000, GID: 1000, Home: "/home/devuser"},
		Mounts:    []plan.Mount{{Kind: plan.MountBind, Source: "/w", Target: "/w", Origin: plan.OriginWorkspace}},
		Network:   plan.Network{Mode: plan.NetworkNone},
	}
}

func TestRenderEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     []plan.EnvVar
		prepend []string
		flavour Flavour
		clear   []string
		want    []envVar // name, value, host
		unset   []string
	}{
		{
			name: "constant",
			env:  []plan.EnvVar{{Name: "TOOL", Value: "codex"}},
			want: []envVar{{name: "APPTAINERENV_TOOL", value: "codex"}},
		},
		{
			name: "inherited by name",
			env:  []plan.EnvVar{{Name: "ANTHROPIC_API_KEY", Value: "sk-1", FromHost: true}},
			want: []envVar{{name: "APPTAINERENV_ANTHROPIC_API_KEY", value: "sk-1", host: "ANTHROPIC_API_KEY", fromHost: true}},
		},
		{
			name:    "singularity prefix",
			env:     []plan.EnvVar{{Name: "TOOL", Value: "pi"}},
			flavour: FlavourSingularity,
			want:    []envVar{{name: "SINGULARITYENV_TOOL", value: "pi"}},
		},
		{
			name: "HOME comes from --home",
			env:  []plan.EnvVar{{Name: "HOME", Value: "/home/devuser"}, {Name: "PATH", Value: "/bin"}},
			want: []envVar{{name: "APPTAINERENV_PATH", value: "/bin"}},
		},
		{
			name: "no prepend: no PATH, the image's own applies",
			env:  []plan.EnvVar{{Name: "TOOL", Value: "x"}},
			want: []envVar{{name: "APPTAINERENV_TOOL", value: "x"}},
		},
		{
			name:    "prepend in front of the image's PATH, by the runtime",
			env:     []plan.EnvVar{{Name: "TOOL", Value: "x"}},
			prepend: []string{"/w/bin", "/opt/conda/bin", "/w/bin"},
			want:    []envVar{{name: "APPTAINERENV_PREPEND_PATH", value: "/w/bin:/opt/conda/bin"}, {name: "APPTAINERENV_TOOL", value: "x"}},
		},
		{
			name:    "singularity prepend",
			prepend: []string{"/w/bin"},
			flavour: FlavourSingularity,
			want:    []envVar{{name: "SINGULARITYENV_PREPEND_PATH", value: "/w/bin"}},
		},
		{
			name:  "host TERM and proxies cleared",
			env:   []plan.EnvVar{{Name: "TOOL", Value: "x"}},
			clear: []string{"https_proxy", "TERM", "http_proxy"},
			want:  []envVar{{name: "APPTAINERENV_TOOL", value: "x"}},
			unset: []string{"TERM", "http_proxy", "https_proxy"},
		},
		{
			name:  "a name the plan sets is not cleared",
			env:   []plan.EnvVar{{Name: "TOOL", Value: "x"}},
			clear: []string{"APPTAINERENV_TOOL", "APPTAINERENV_OTHER", "TERM"},
			want:  []envVar{{name: "APPTAINERENV_TOOL", value: "x"}},
			unset: []string{"APPTAINERENV_OTHER", "TERM"},
		},
		{
			name:  "plan proxy replaces host proxy",
			env:   []plan.EnvVar{{Name: "http_proxy", Value: "http://q:1", FromHost: true}},
			clear: []string{"http_proxy"},
			want:  []envVar{{name: "APPTAINERENV_http_proxy", value: "http://q:1", host: "http_proxy", fromHost: true}},
			unset: []string{"http_proxy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePlan()
			p.Env = tt.env
			p.PathPrepend = tt.prepend
			r, err := Render(p, Config{Flavour: tt.flavour, Clear: tt.clear})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.env, tt.want) {
				t.Errorf("env = %+v, want %+v", r.env, tt.want)
			}
			if !reflect.DeepEqual(r.unset, tt.unset) {
				t.Errorf("unset = %q, want %q", r.unset, tt.unset)
			}
		})
	}
}

func TestClearNames(t *testing.T) {
	got := ClearNames([]string{
		"PATH=/bin", "HOME=/root", "TERM=xterm", "no_proxy=localhost", "ALL_PROXY=socks5://x",
		"APPTAINERENV_SECRET=x", "SINGULARITYENV_X=y", "APPTAINER_BIND=/data", "SINGULARITY_BINDPATH=/d",
		"APPTAINER_CACHEDIR=/c", "SINGULARITY_TMPDIR=/t", "APPTAINER_CONFIGDIR=/cfg",
		"ANTHROPIC_API_KEY=sk", "TERM=dup", "proxy=not-one",
	})
	want := []string{"ALL_PROXY", "APPTAINERENV_SECRET", "APPTAINER_BIND", "SINGULARITYENV_X", "SINGULARITY_BINDPATH", "TERM", "no_proxy"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ClearNames = %q, want %q", got, want)
	}
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*plan.Plan)
		want   string
	}{
		{"runsc", func(p *plan.Plan) { p.Runtime = plan.RuntimeRunsc }, "use --backend docker or --backend podman"},
		{"allowlist", func(p *plan.Plan) {
			p.Network = plan.Network{Mode: plan.NetworkAllow, Allow: []plan.HostPort{{Host: "github.com"}}}
		}, "the allowlist needs launch's host proxy"},
		{"HOME differs", func(p *plan.Plan) { p.Env = []plan.EnvVar{{Name: "HOME", Value: "/root"}} }, "sets HOME to the user's home"},
		{"reserved name", func(p *plan.Plan) { p.Env = []plan.EnvVar{{Name: "PREPEND_PATH", Value: "/x"}} }, "rename the variable"},
		{"other scheme", func(p *plan.Plan) { p.Image.SIF = "library://alpine" }, `scheme "library://" not supported`},
		{"gpu devices and CUDA_VISIBLE_DEVICES", func(p *plan.Plan) {
			p.GPUs.Devices = []string{"1"}
			p.Env = []plan.EnvVar{{Name: "CUDA_VISIBLE_DEVICES", Value: "0"}}
		}, "drop one of --gpus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePlan()
			tt.change(&p)
			_, err := Render(p, Config{CacheDir: "/c"})
			if !errors.Is(err, plan.ErrUnsupported) {
				t.Fatalf("err = %v, want one wrapping plan.ErrUnsupported", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to say %q", err, tt.want)
			}
			checkOneLine(t, err, plan.ErrUnsupported)
		})
	}
}

func TestRenderInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*plan.Plan, *Config)
	}{
		{"no SIF", func(p *plan.Plan, c *Config) { p.Image = plan.Image{OCI: "alpine"} }},
		{"remote without cache dir", func(p *plan.Plan, c *Config) { p.Image.SIF = "oras://ghcr.io/a/b:1"; c.CacheDir = "" }},
		{"scratch dir with colon", func(p *plan.Plan, c *Config) { c.ScratchDir = "/tmp/a:b" }},
		{"invalid plan", func(p *plan.Plan, c *Config) { p.Workdir = "rel" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := basePlan(), Config{CacheDir: "/c"}
			tt.change(&p, &c)
			_, err := Render(p, c)
			if !errors.Is(err, plan.ErrInvalid) {
				t.Fatalf("err = %v, want one wrapping plan.ErrInvalid", err)
			}
			checkOneLine(t, err, plan.ErrInvalid)
		})
	}
}

// checkOneLine fails unless err is one clean line: no newline, no trailing
// period, no repeat of the sentinel's own text.
func checkOneLine(t *testing.T, err error, kind error) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") || strings.HasSuffix(msg, ".") || strings.Contains(msg, kind.Error()) {
		t.Errorf("err = %q: want one line without a period or the text %q", msg, kind.Error())
	}
}

func TestRenderFlags(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*plan.Plan, *Config)
		want     []string // in order, as a subsequence of the argv
		notWant  []string
		wantEnv  string
		wantNote string
	}{
		{name: "network none", want: []string{"--net", "--network", "none"}},
		{name: "network open", change: func(p *plan.Plan, c *Config) { p.Network.Mode = plan.NetworkOpen }, notWant: []string{"--net"}},
		{name: "userns and unsquash", change: func(p *plan.Plan, c *Config) { c.UserNS, c.Unsquash = true, true }, want: []string{"--userns", "--unsquash"}},
		{name: "gpus all", change: func(p *plan.Plan, c *Config) { p.GPUs.All = true }, want: []string{"--nv"}, notWant: []string{"--nvccli"}},
		{name: "gpus nvccli", change: func(p *plan.Plan, c *Config) { p.GPUs.All, c.NvCCLI = true, true }, want: []string{"--nv", "--nvccli"}, wantEnv: "NVIDIA_VISIBLE_DEVICES=all"},
		{name: "gpu devices", change: func(p *plan.Plan, c *Config) { p.GPUs.Devices = []string{"0", "2"} }, want: []string{"--nv"}, wantEnv: "APPTAINERENV_CUDA_VISIBLE_DEVICES=0,2", wantNote: "hides the others"},
		{name: "ro bind and mask", change: func(p *plan.Plan, c *Config) {
			p.Mounts = append(p.Mounts,
				plan.Mount{Kind: plan.MountBind, Source: "/w/docs", Target: "/w/docs", ReadOnly: true, Origin: plan.OriginReadOnly},
				plan.Mount{Kind: plan.MountMask, Target: "/w/secrets", ReadOnly: true, Origin: plan.OriginMask})
		}, want: []string{"--bind", "/w:/w", "--bind", "/w/docs:/w/docs:ro", "--bind", "/S/mask0:/w/secrets:ro", "/images/busybox.sif", "/bin/sh"}},
		{name: "docker platform", change: func(p *plan.Plan, c *Config) {
			p.Image = plan.Image{SIF: "docker://alpine:3", Platform: plan.Platform{OS: "linux", Arch: "arm64", Variant: "v8"}, Default: true}
		}, want: []string{"/c/docker/alpine/3.sif", "/bin/sh"}},
		{name: "labels", change: func(p *plan.Plan, c *Config) { p.Labels = map[string]string{"a": "b"} }, wantNote: "labels: not applied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := basePlan(), Config{CacheDir: "/c"}
			if tt.change != nil {
				tt.change(&p, &c)
			}
			r, err := Render(p, c)
			if err != nil {
				t.Fatal(err)
			}
			argv := r.argv("/S")
			if !subsequence(argv, tt.want) {
				t.Errorf("argv %q lacks %q in order", argv, tt.want)
			}
			for _, w := range tt.notWant {
				for _, a := range argv {
					if a == w {
						t.Errorf("argv %q has %q", argv, w)
					}
				}
			}
			if tt.wantEnv != "" && !contains(r.environ(nil), tt.wantEnv) {
				t.Errorf("environment %q lacks %q", r.environ(nil), tt.wantEnv)
			}
			if tt.wantNote != "" && !strings.Contains(strings.Join(r.Notes(), "\n"), tt.wantNote) {
				t.Errorf("notes %q lack %q", r.Notes(), tt.wantNote)
			}
		})
	}
}

func subsequence(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestCacheKey(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"oras://ghcr.io/nichd-bspc/llm-sif:codex-latest", "oras/ghcr.io/nichd-bspc/llm-sif/codex-latest"},
		{"docker://alpine", "docker/alpine/latest"},
		// A registry port is not a plain name: keyed by the reference's hash.
		{"docker://localhost:5000/a/b:1.2", "docker/by-ref/8a5588717932c34f0e391c80"},
		{"oras://ghcr.io/a/b@sha256:abcd", "oras/ghcr.io/a/b/sha256-abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			scheme, rest, _ := strings.Cut(tt.ref, "://")
			if got := cacheKey(scheme, rest); !strings.HasPrefix(got, tt.want) {
				t.Errorf("cacheKey(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
	// Parts that are not plain names never make a path outside the cache.
	for _, ref := range []string{"oras://../../etc/x:1", "docker://a/./b", "docker://a//b", "docker://a/b:..", "docker://localhost:5000/a"} {
		scheme, rest, _ := strings.Cut(ref, "://")
		got := cacheKey(scheme, rest)
		if strings.Contains(got, "..") || filepath.Clean(got) != got {
			t.Errorf("cacheKey(%q) = %q: not a clean path inside the cache", ref, got)
		}
	}
}

// TestSnippetPullPolicies: always pulls unconditionally, missing only when
// the link is absent, never only checks; inherited proxies stay by name.
func TestSnippetPullPolicies(t *testing.T) {
	tests := []struct {
		pull      plan.PullPolicy
		want, not []string
	}{
		{plan.PullAlways, []string{"apptainer pull --force \"$launch_part\" docker://alpine:3 >&2", "ln -sfn"}, []string{"if [ ! -e"}},
		{plan.PullMissing, []string{"if [ ! -e /c/docker/alpine/3.sif ]; then", "apptainer pull --force"}, nil},
		{plan.PullNever, []string{"if [ ! -e /c/docker/alpine/3.sif ]; then echo", "exit 1; fi"}, []string{"apptainer pull", "trap"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.pull), func(t *testing.T) {
			p := basePlan()
			p.Image = plan.Image{SIF: "docker://alpine:3"}
			p.Pull = tt.pull
			r, err := Render(p, Config{CacheDir: "/c"})
			if err != nil {
				t.Fatal(err)
			}
			snip := r.Snippet()
			for _, w := range tt.want {
				if !strings.Contains(snip, w) {
					t.Errorf("snippet lacks %q:\n%s", w, snip)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(snip, w) {
					t.Errorf("snippet has %q:\n%s", w, snip)
				}
			}
			if out, err := exec.Command("sh", "-n", "-c", snip).CombinedOutput(); err != nil {
				t.Errorf("sh -n: %v: %s", err, out)
			}
		})
	}
}

// TestRenderRunsAsCaller: no corpus plan makes the runtime run the agent as
// anyone but the caller (what the agent writes is the caller's), and none
// adds privileges but the capabilities it names (--add-caps); a
// least-privilege plan says --no-privs.
func TestRenderRunsAsCaller(t *testing.T) {
	identity := []string{"--fakeroot", "-f", "--security", "--keep-privs", "--add-caps", "--allow-setuid", "--boot", "--userns-uid"}
	for _, c := range golden.Corpus(t) {
		t.Run(c.Name, func(t *testing.T) {
			r, ok := renderCorpus(t, c, goldenConfig())
			if !ok {
				return
			}
			argv := slices.Clone(r.argv("/S")[:r.imageAt+1])
			if i := slices.Index(argv, "--add-caps"); i > 0 && argv[i+1] == strings.Join(c.Plan.Privileges.Add, ",") {
				argv = slices.Delete(argv, i, i+2)
			}
			if c.Plan.Privileges.Least() != slices.Contains(argv, "--no-privs") {
				t.Errorf("least privilege %v, but argv %q", c.Plan.Privileges.Least(), argv)
			}
			for _, a := range argv {
				for _, bad := range identity {
					if a == bad || strings.HasPrefix(a, bad+"=") {
						t.Errorf("argv has %s: %q", a, argv)
					}
				}
			}
			for _, kv := range r.environ(nil) {
				if strings.HasPrefix(kv, "APPTAINER_FAKEROOT=") || strings.HasPrefix(kv, "SINGULARITY_FAKEROOT=") {
					t.Errorf("environment has %s", kv)
				}
			}
		})
	}
}
