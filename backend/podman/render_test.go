package podman

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/golden"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and testdata/*.spec.json")

// corpus is the shared set of plans every backend renders.
const corpus = golden.CorpusDir

// configs are the two kinds of Podman service a plan is rendered for.
var configs = []struct {
	name string
	cfg  Config
}{
	{"rootless", Config{Rootless: true}},
	{"rootful", Config{Rootless: false}},
}

// TestRender renders every plan of the shared corpus for a rootless and a
// rootful service. testdata/<plan>.<config>.golden holds the printed
// command (or "error: ..." for a plan the backend refuses), and
// testdata/<plan>.<config>.spec.json the API request; together they show
// that both come from one value.
func TestRender(t *testing.T) {
	for _, cp := range golden.Corpus(t) {
		name, p := cp.Name, cp.Plan
		for _, c := range configs {
			t.Run(name+"."+c.name, func(t *testing.T) {
				base := filepath.Join("testdata", name+"."+c.name)
				r, err := Render(p, c.cfg)
				if err != nil {
					if !errors.Is(err, plan.ErrUnsupported) {
						t.Errorf("refusal does not wrap plan.ErrUnsupported: %v", err)
					}
					checkGolden(t, base+".golden", []byte("error: "+err.Error()+"\n"))
					checkAbsent(t, base+".spec.json")
					return
				}
				checkGolden(t, base+".golden", []byte(shell.Join(r.Argv)+"\n"))
				spec, err := json.MarshalIndent(r.Spec, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, base+".spec.json", append(spec, '\n'))
				checkNoSecrets(t, p, r)
				checkRoundTrip(t, r)
			})
		}
	}
}

// identityConfigs are the services and callers a plan is rendered for by
// the property tests: the corpus plans' own caller on a rootless and on a
// rootful service, and on a rootful service a root caller and a caller who
// is neither root nor the image user (a private home).
var identityConfigs = []struct {
	name string
	cfg  Config
	plan func(plan.Plan) plan.Plan
}{
	{"rootless", Config{Rootless: true}, func(p plan.Plan) plan.Plan { return p }},
	{"rootful", Config{}, func(p plan.Plan) plan.Plan { return p }},
	{"rootful-root-caller", Config{}, func(p plan.Plan) plan.Plan { p.Caller = plan.Caller{}; return p }},
	{"rootful-other-caller", Config{Name: "launch-x"}, func(p plan.Plan) plan.Plan { p.Caller = plan.Caller{UID: 4321, GID: 4322}; return p }},
}

// TestArgvIsTheSpec is the property that the printed command and the API
// request are one value: for every plan of the corpus, rendered for every
// identity config, the `podman run` argv parsed back (parseRun) equals
// Rendered.Spec field by field, and the pull policy comes back too.
func TestArgvIsTheSpec(t *testing.T) {
	for _, cp := range golden.Corpus(t) {
		for _, c := range identityConfigs {
			t.Run(cp.Name+"."+c.name, func(t *testing.T) {
				r, err := Render(c.plan(cp.Plan), c.cfg)
				if errors.Is(err, plan.ErrUnsupported) {
					return // a refusal has no argv; TestRender checks it
				}
				if err != nil {
					t.Fatal(err)
				}
				checkRoundTrip(t, r)
			})
		}
	}
}

// TestMountsAreThePlans checks that Podman makes the Plan's mounts, all of
// them and in order, with no rule of its own (mounts.List already dropped
// what a later mount hides): the spec's mounts, and the --mount flags of
// the printed command, are the Plan's, preceded only by the private home
// of a rootful caller who is not the image user.
func TestMountsAreThePlans(t *testing.T) {
	check := func(t *testing.T, p plan.Plan, c Config) {
		t.Helper()
		r, err := Render(p, c)
		if errors.Is(err, plan.ErrUnsupported) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var want []specs.Mount
		if id, _ := identify(p, c); id.home != nil {
			want = append(want, *id.home)
		}
		ep, _ := p.Enforced() // an allowlist adds the proxy's mounts
		for _, m := range ep.Mounts {
			want = append(want, specMount(m))
		}
		if !reflect.DeepEqual(r.Spec.Mounts, want) {
			t.Errorf("spec mounts\n got %v\nwant %v", r.Spec.Mounts, want)
		}
		var printed []string
		for i, w := range r.Argv {
			// A proxy sidecar's volume is a named volume, not a Plan mount.
			if w == "--mount" && !strings.HasPrefix(r.Argv[i+1], "type=volume,") {
				printed = append(printed, r.Argv[i+1])
			}
		}
		if len(printed) != len(want) {
			t.Fatalf("%d --mount flags, want %d", len(printed), len(want))
		}
		for i, m := range want {
			if arg, _ := mountArg(m); printed[i] != arg {
				t.Errorf("--mount %d = %s, want %s", i, printed[i], arg)
			}
		}
	}
	for _, cp := range golden.Corpus(t) {
		for _, c := range identityConfigs {
			t.Run(cp.Name+"."+c.name, func(t *testing.T) { check(t, c.plan(cp.Plan), c.cfg) })
		}
	}
	// A child before its parent is the Plan's business, not Podman's: it
	// is rendered as given.
	t.Run("child before parent", func(t *testing.T) {
		p := small()
		p.Mounts = []plan.Mount{
			{Kind: plan.MountBind, Source: "/data/sub", Target: "/w/sub", Origin: plan.OriginUser},
			{Kind: plan.MountBind, Source: "/w", Target: "/w", Origin: plan.OriginWorkspace},
		}
		check(t, p, Config{Rootless: true})
	})
}

// TestNoOrphanGoldens keeps testdata in step with the corpus: a golden file
// whose plan is gone is removed by -update, and fails the test otherwise.
func TestNoOrphanGoldens(t *testing.T) {
	for _, c := range configs {
		for _, suffix := range []string{".golden", ".spec.json"} {
			suffix = "." + c.name + suffix
			got, err := filepath.Glob("testdata/*" + suffix)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				name := strings.TrimSuffix(filepath.Base(g), suffix)
				if _, err := os.Stat(filepath.Join(corpus, name+".json")); err == nil {
					continue
				}
				if *update {
					if err := os.Remove(g); err != nil {
						t.Error(err)
					}
					continue
				}
				t.Errorf("%s: no plan %s.json in the corpus (-update removes it)", g, name)
			}
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Check(t, path, got, *update)
}

func checkAbsent(t *testing.T, file string) {
	t.Helper()
	if _, err := os.Stat(file); err != nil {
		return
	}
	if *update {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s exists for a refused plan (-update removes it)", file)
}

// checkNoSecrets makes sure an inherited value reaches the API request only:
// neither the printed snippet nor the notes may hold it.
func checkNoSecrets(t *testing.T, p plan.Plan, r Rendered) {
	t.Helper()
	printed := r.Snippet() + "\n" + strings.Join(r.Notes(), "\n")
	constant := func(v string) bool {
		// A value that the plan also sets openly may be printed.
		for _, e := range p.Env {
			if !e.FromHost && strings.Contains(e.Value, v) {
				return true
			}
		}
		return false
	}
	for _, e := range p.Env {
		if !e.FromHost || e.Value == "" {
			continue
		}
		if strings.Contains(printed, "--env "+e.Name+"=") || strings.Contains(printed, "'"+e.Name+"=") {
			t.Errorf("inherited %s is printed with a value:\n%s", e.Name, printed)
		}
		if strings.Contains(printed, e.Value) && !constant(e.Value) {
			t.Errorf("the value of inherited %s is printed:\n%s", e.Name, printed)
		}
		if r.Spec.Env[e.Name] != e.Value {
			t.Errorf("spec env %s = %q, want the inherited value", e.Name, r.Spec.Env[e.Name])
		}
	}
}

// small is a valid plan for the table tests, changed by each case.
func small() plan.Plan {
	return plan.Plan{
		Agent:     "shell",
		Image:     plan.Image{OCI: "img:1", Default: true},
		Argv:      []string{"/bin/sh"},
		Workdir:   "/w",
		Workspace: "/w",
		User:      plan.User{UID: 1000, GID: 1000, Home: "/home/devuser"},
		Caller:    plan.Caller{UID: 1000, GID: 1000},
		Mounts:    []plan.Mount{{Kind: plan.MountBind, Source: "/w", Target: "/w", Origin: plan.OriginWorkspace}},
		Env:       []plan.EnvVar{{Name: "HOME", Value: "/home/devuser"}},
		Network:   plan.Network{Mode: plan.NetworkOpen},
	}
}

// labelledHash is the hash of small() with the labels of the label case.
var labelledHash = func() string {
	p := small()
	p.Labels = map[string]string{"z": "1", "a": "2"}
	return p.Hash()
}()

func TestRenderCases(t *testing.T) {
	home := "type=tmpfs,destination=/home/devuser,exec,tmpfs-mode=0700,U=true,notmpcopyup"
	tests := []struct {
		name    string
		plan    func(*plan.Plan)
		cfg     Config
		argv    []string // words that must appear in order in the argv
		notArgv []string // words that must not appear
		note    string   // a note that must appear
		// cmdNote must appear among the notes about the printed command
		// only (CommandNotes), and not among those of every run (Notes),
		// which a real run prints under --verbose.
		cmdNote string
		env     map[string]string
		noEnv   []string // variables the spec's env must not have
		err     string   // the error, if any
		kind    error    // what the error wraps
	}{
		{
			name: "rootless keep-id by default",
			cfg:  Config{Rootless: true},
			argv: []string{"--userns", "keep-id:uid=1000,gid=1000", "--user", "1000:1000"},
			note: "user namespace keep-id: rootless podman maps you to the image user 1000:1000",
		},
		{
			name:    "rootless keep-id maps any caller to the plan's user",
			plan:    func(p *plan.Plan) { p.User.UID, p.User.GID, p.Caller = 501, 20, plan.Caller{UID: 1234, GID: 1234} },
			cfg:     Config{Rootless: true, UserNS: UserNSKeepID},
			argv:    []string{"--userns", "keep-id:uid=501,gid=20", "--user", "501:20"},
			notArgv: []string{home},
		},
		{
			name:    "rootful caller is the image user",
			cfg:     Config{},
			argv:    []string{"--user", "1000:1000"},
			notArgv: []string{"--userns", home},
			note:    "rootful podman: the agent runs as the image user 1000:1000, who is you",
		},
		{
			name:    "rootful root caller without capabilities runs as root with a private home",
			plan:    func(p *plan.Plan) { p.Caller = plan.Caller{GID: 5} },
			argv:    []string{"--mount", home},
			notArgv: []string{"--userns", "1000:1000", "0:5"},
			note:    "without capabilities root cannot write the image user's home",
		},
		{
			name: "rootful root caller with privileges image runs as root with the image's home",
			plan: func(p *plan.Plan) {
				p.Caller = plan.Caller{}
				p.Privileges = plan.PrivilegesOf(plan.PrivilegesImage, nil)
			},
			argv:    []string{"--user", "0:0"},
			notArgv: []string{"--userns", home, "1000:1000"},
			note:    "it keeps the image's home /home/devuser (root can write it)",
		},
		{
			name:    "rootful other caller runs as the caller with a private home",
			plan:    func(p *plan.Plan) { p.Caller = plan.Caller{UID: 1234, GID: 100} },
			argv:    []string{"--user", "1234:100"},
			notArgv: []string{"--userns", "1000:1000"},
			note:    "its home /home/devuser is a new, empty tmpfs that it owns",
		},
		{
			name: "rootful private home comes before the plan's mounts",
			plan: func(p *plan.Plan) {
				p.Caller = plan.Caller{UID: 1234, GID: 100}
				p.Mounts = append(p.Mounts, plan.Mount{Kind: plan.MountBind, Source: "/h/.codex", Target: "/home/devuser/.codex", Origin: plan.OriginCredential})
			},
			argv: []string{"--mount", home, "--mount", "type=bind,source=/w,destination=/w", "--mount", "type=bind,source=/h/.codex,destination=/home/devuser/.codex"},
		},
		{
			name: "rootful other caller whose home a mount provides",
			plan: func(p *plan.Plan) {
				p.Caller = plan.Caller{UID: 1234, GID: 100}
				p.Mounts = append(p.Mounts, plan.Mount{Kind: plan.MountBind, Source: "/h", Target: "/home", Origin: plan.OriginUser})
			},
			argv:    []string{"--user", "1234:100"},
			notArgv: []string{home},
			note:    "its home /home/devuser is what the mount at /home holds",
		},
		{
			name: "rootful host userns keeps the rule",
			plan: func(p *plan.Plan) { p.Caller = plan.Caller{UID: 1234, GID: 100} },
			cfg:  Config{UserNS: UserNSHost},
			argv: []string{"--userns", "host", "--user", "1234:100"},
		},
		{
			name: "rootful refuses keep-id",
			cfg:  Config{UserNS: UserNSKeepID},
			err:  "user namespace keep-id: not supported by a rootful podman service (keep-id maps the user of a rootless service); leave the user namespace unset to run as yourself (1000:1000), or connect to a rootless service",
			kind: plan.ErrUnsupported,
		},
		{
			name: "rootless host userns",
			cfg:  Config{Rootless: true, UserNS: UserNSHost},
			argv: []string{"--userns", "host", "--user", "1000:1000"},
			note: "subordinate ids",
		},
		{
			name: "unknown userns",
			cfg:  Config{UserNS: "auto"},
			err:  `user namespace "auto": want keep-id, host or empty (automatic)`,
			kind: plan.ErrInvalid,
		},
		{
			name: "allowlist refused",
			plan: func(p *plan.Plan) { p.Network, _ = plan.ParseNetwork("allow=example.com") },
			err:  `network "allow=example.com": the allowlist needs launch's host proxy, which shares a Unix socket with the container (Linux only); use --network none or open`,
			kind: plan.ErrUnsupported,
		},
		{
			name:    "open network is the default",
			argv:    []string{"run"},
			notArgv: []string{"--network"},
		},
		{
			name: "no network",
			plan: func(p *plan.Plan) { p.Network = plan.Network{Mode: plan.NetworkNone} },
			argv: []string{"--network", "none"},
		},
		{
			name: "no OCI image",
			plan: func(p *plan.Plan) { p.Image = plan.Image{SIF: "/x.sif"} },
			err:  `image: the podman backend needs an OCI image and the plan names only the SIF "/x.sif"; name one with --image, or use --backend singularity`,
			kind: plan.ErrUnsupported,
		},
		{
			name: "platform with a variant",
			plan: func(p *plan.Plan) { p.Image.Platform = plan.Platform{OS: "linux", Arch: "arm64", Variant: "v8"} },
			argv: []string{"--platform", "linux/arm64", "--variant", "v8"},
		},
		{
			name: "platform without an arch",
			plan: func(p *plan.Plan) { p.Image.Platform = plan.Platform{OS: "linux"} },
			err:  `platform "linux/": architecture "": want amd64 or arm64 (or another GOARCH name: 386, arm, ppc64le, s390x, riscv64)`,
			kind: plan.ErrInvalid,
		},
		{
			name: "default image pulled when missing",
			argv: []string{"--pull", "missing"},
		},
		{
			name: "unset policy means missing, whatever the image",
			plan: func(p *plan.Plan) { p.Image.Default = false },
			argv: []string{"--pull", "missing"},
		},
		{
			name: "explicit pull policy wins",
			plan: func(p *plan.Plan) { p.Image.Default, p.Pull = false, plan.PullAlways },
			argv: []string{"--pull", "always"},
		},
		{
			name: "runsc",
			plan: func(p *plan.Plan) { p.Runtime = plan.RuntimeRunsc },
			argv: []string{"podman", "--runtime", "runsc", "run"},
			note: "runtime runsc",
		},
		{
			name:    "runc is the service's default",
			plan:    func(p *plan.Plan) { p.Runtime = plan.RuntimeRunc },
			notArgv: []string{"--runtime"},
		},
		{
			name: "gpu devices",
			plan: func(p *plan.Plan) { p.GPUs.Devices = []string{"0", "GPU-3f2a"} },
			argv: []string{"--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=GPU-3f2a"},
			note: "CDI",
		},
		{
			name: "all gpus",
			plan: func(p *plan.Plan) { p.GPUs.All = true },
			argv: []string{"--device", "nvidia.com/gpu=all"},
		},
		{
			name: "gpu id with a comma",
			plan: func(p *plan.Plan) { p.GPUs.Devices = []string{"0,1"} },
			err:  `gpu "0,1": want a device index or UUID`,
			kind: plan.ErrInvalid,
		},
		{
			name: "tty",
			plan: func(p *plan.Plan) { p.TTY = true },
			argv: []string{"--rm", "--init", "-i", "-t"},
		},
		{
			name:    "no tty",
			argv:    []string{"--rm", "--init", "-i", "--pull"},
			notArgv: []string{"-t"},
		},
		{
			name: "name",
			cfg:  Config{Name: "launch-shell-1"},
			argv: []string{"--name", "launch-shell-1"},
		},
		{
			name: "labels sorted, with the plan's hash",
			plan: func(p *plan.Plan) { p.Labels = map[string]string{"z": "1", "a": "2"} },
			cfg:  Config{Labels: map[string]string{"m": "3"}},
			argv: []string{"--label", "a=2", "--label", naming.LabelPlan + "=" + labelledHash, "--label", "m=3", "--label", "z=1"},
		},
		{
			name: "config label may not override the plan's",
			plan: func(p *plan.Plan) { p.Labels = map[string]string{"a": "1"} },
			cfg:  Config{Labels: map[string]string{"a": "2"}},
			err:  `label "a" (run): already set; a label is set once`,
			kind: plan.ErrInvalid,
		},
		{
			name: "config may not set the plan hash",
			cfg:  Config{Labels: map[string]string{naming.LabelPlan: "x"}},
			err:  `label "dev.launch.plan" (run): already set; a label is set once`,
			kind: plan.ErrInvalid,
		},
		{
			name: "bad name",
			cfg:  Config{Name: "-x"},
			err:  `container name "-x": want letters, digits, '_', '.' and '-', starting with a letter or digit`,
			kind: plan.ErrInvalid,
		},
		{
			name: "mask under a read-only workspace",
			plan: func(p *plan.Plan) {
				p.Mounts = []plan.Mount{
					{Kind: plan.MountBind, Source: "/w", Target: "/w", ReadOnly: true, Origin: plan.OriginWorkspace},
					{Kind: plan.MountMask, Target: "/w/secrets", ReadOnly: true, Origin: plan.OriginMask},
					{Kind: plan.MountMask, Target: "/w/.env", ReadOnly: true, File: true, Origin: plan.OriginMask},
				}
			},
			argv: []string{
				"--mount", "type=bind,source=/w,destination=/w,ro=true",
				"--mount", "type=tmpfs,destination=/w/secrets,ro=true,notmpcopyup",
				"--mount", "type=bind,source=/dev/null,destination=/w/.env,ro=true",
			},
		},
		{
			name:  "no PATH without prepends: the image's own",
			noEnv: []string{"PATH"},
		},
		{
			name:    "PATH prepends go in front of the fallback list",
			plan:    func(p *plan.Plan) { p.PathPrepend = []string{"/opt/conda/bin", "/w/.venv/bin"} },
			argv:    []string{"--env", "PATH=/opt/conda/bin:/w/.venv/bin:" + plan.FallbackPath},
			env:     map[string]string{"PATH": "/opt/conda/bin:/w/.venv/bin:" + plan.FallbackPath},
			cmdNote: "the image's own PATH cannot be read without the podman service, so this fallback list stands in for it",
		},
		{
			name:    "a container name: the printed command differs from a real run",
			cfg:     Config{Name: "launch-shell-w"},
			cmdNote: "the command fails if a container named launch-shell-w exists; a real run picks launch-shell-w-2",
		},
		{
			name:    "inherited values: the printed command reads them from its shell",
			plan:    func(p *plan.Plan) { p.Env = append(p.Env, plan.EnvVar{Name: "TOKEN", Value: "s3cret", FromHost: true}) },
			argv:    []string{"--env", "TOKEN"},
			cmdNote: "env TOKEN: inherited from your environment by name; the printed command reads them from the shell it runs in",
		},
		{
			name: "invalid plan",
			plan: func(p *plan.Plan) { p.Workdir = "rel" },
			err:  `workdir "rel": want an absolute, clean path`,
			kind: plan.ErrInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := small()
			if tt.plan != nil {
				tt.plan(&p)
			}
			r, err := Render(p, tt.cfg)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Render error = %v\nwant %s", err, tt.err)
				}
				if !errors.Is(err, tt.kind) {
					t.Errorf("errors.Is(err, %v) = false", tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !containsInOrder(r.Argv, tt.argv) {
				t.Errorf("argv lacks %q in that order:\n%s", tt.argv, shell.Join(r.Argv))
			}
			for _, w := range tt.notArgv {
				for _, a := range r.Argv {
					if a == w {
						t.Errorf("argv holds %q:\n%s", w, shell.Join(r.Argv))
					}
				}
			}
			if tt.cmdNote != "" && !strings.Contains(strings.Join(r.CommandNotes(), "\n"), tt.cmdNote) {
				t.Errorf("command notes lack %q: %q", tt.cmdNote, r.CommandNotes())
			}
			for _, n := range r.Notes() {
				if strings.Contains(n, "command") {
					t.Errorf("a note of every run speaks of the printed command: %q", n)
				}
			}
			if tt.note != "" && !strings.Contains(strings.Join(r.Notes(), "\n"), tt.note) {
				t.Errorf("notes lack %q: %q", tt.note, r.Notes())
			}
			for k, v := range tt.env {
				if r.Spec.Env[k] != v {
					t.Errorf("spec env %s = %q, want %q", k, r.Spec.Env[k], v)
				}
			}
			for _, k := range tt.noEnv {
				if v, ok := r.Spec.Env[k]; ok {
					t.Errorf("spec env has %s=%q", k, v)
				}
			}
			checkRoundTrip(t, r)
		})
	}
}

// containsInOrder reports whether want appears in words as a run of
// adjacent, whole words.
func containsInOrder(words, want []string) bool {
	if len(want) == 0 {
		return true
	}
	for i := range words {
		if len(words)-i < len(want) {
			return false
		}
		ok := true
		for j, w := range want {
			if words[i+j] != w {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// TestRenderIsPure renders one plan twice and checks that the two results
// are equal and that rendering did not change the plan.
func TestRenderIsPure(t *testing.T) {
	p := golden.Load(t, filepath.Join(corpus, "shell-ro-mask-secrets.json"))
	before := p.Hash()
	a, err := Render(p, Config{Rootless: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(p, Config{Rootless: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("two renders of one plan differ")
	}
	if p.Hash() != before {
		t.Error("Render changed the plan")
	}
	a.Spec.Command[0] = "changed"
	if p.Argv[0] == "changed" {
		t.Error("the spec shares the plan's argv")
	}
}

// TestSnippetPrepares runs the preparation part of a snippet in a shell: it
// creates what is missing and leaves what exists alone.
func TestSnippetPrepares(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "has it's.json")
	if err := os.WriteFile(existing, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := small()
	p.Prepare = []plan.HostPath{
		{Path: filepath.Join(dir, "new dir", ".codex"), Dir: true},
		{Path: filepath.Join(dir, "sub", ".claude.json"), Content: "{}"},
		{Path: existing, Content: "{}"},
	}
	r, err := Render(p, Config{})
	if err != nil {
		t.Fatal(err)
	}
	// podman itself is a stub here: only the preparation runs for real.
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "podman"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	snippet := r.Snippet()
	c := exec.Command("sh", "-c", snippet)
	c.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v\n%s\nsnippet:\n%s", err, out, snippet)
	}
	if fi, err := os.Stat(filepath.Join(dir, "new dir", ".codex")); err != nil || !fi.IsDir() {
		t.Errorf("directory not created: %v", err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}
	file := filepath.Join(dir, "sub", ".claude.json")
	if b, err := os.ReadFile(file); err != nil || string(b) != "{}" {
		t.Errorf("file = %q, %v; want {}", b, err)
	}
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Errorf("existing file overwritten: %q", b)
	}
	// A subshell: the terminal lines (shell.Terminal), the preparation,
	// then the command, whose -t is decided by the terminal lines.
	want := append(append(append([]string{"("}, shell.Terminal("-t")...), shell.Prepare(p.Prepare)...),
		strings.Replace(shell.Join(r.Argv), " -i ", " -i $launch_tty ", 1), ")")
	if lines := strings.Split(snippet, "\n"); !slices.Equal(lines, want) {
		t.Errorf("snippet =\n%s\nwant\n%s", snippet, strings.Join(want, "\n"))
	}
}

// TestSnippetDetached: a detached run attaches nothing; its printed command
// keeps -t as Render decided it, without the terminal lines.
func TestSnippetDetached(t *testing.T) {
	p := small()
	p.TTY = true
	r, err := Render(p, Config{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Snippet(); got != shell.Join(r.Argv) || !strings.Contains(got, " -d -i -t ") {
		t.Errorf("snippet = %s; want the command only, with -d -i -t", got)
	}
}

func TestAssumeRootless(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		goos    string
		uid     int
		rootful *bool
		want    bool
	}{
		{"linux", 1000, nil, true},
		{"linux", 0, nil, false},
		{"darwin", 0, nil, true},
		{"darwin", 501, nil, true},
		{"linux", 1000, &yes, false},
		{"darwin", 501, &yes, false},
		{"linux", 0, &no, true},
	} {
		if got := AssumeRootless(c.goos, c.uid, c.rootful); got != c.want {
			t.Errorf("AssumeRootless(%s, %d, %v) = %v, want %v", c.goos, c.uid, c.rootful, got, c.want)
		}
	}
}
