package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/fakefs"
	"github.com/launchcli/launch/internal/golden"
	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files (testdata/dryrun, ../../plan/testdata/plans)")

// machOPython starts like a macOS arm64 executable.
var machOPython = string([]byte{0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0x00, 0x00, 0x01})

// fakeFS is the host file system of every golden case: a user "ana" with a
// project, credentials of each agent, a CA bundle and two conda envs.
func fakeFS() fstest.MapFS {
	dir := &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	return fstest.MapFS{
		"home/ana/proj/src/main.go":                 {Data: []byte("package main\n")},
		"home/ana/proj/docs/readme.md":              {},
		"home/ana/proj/secrets/token":               {},
		"home/ana/proj/.env":                        {Data: []byte("KEY=1\n")},
		"home/ana/proj/.git/config":                 {Data: []byte("[core]\n")},
		"home/ana/proj/.git/hooks":                  dir,
		"home/ana/proj/.git/HEAD":                   {Data: []byte("ref: refs/heads/main\n")},
		"home/ana/proj/.git/objects":                dir,
		"home/ana/proj/.git/refs/heads":             dir,
		"home/ana/proj/tools/bin":                   dir,
		"home/ana/proj/.venv/bin/python":            {},
		"home/ana/.codex":                           dir,
		"home/ana/.claude":                          dir,
		"home/ana/.claude.json":                     {Data: []byte("{}\n")},
		"home/ana/.aws/config":                      {},
		"home/ana/ca.pem":                           {Data: []byte("-----BEGIN CERTIFICATE-----\n")},
		"home/ana/data/ref.txt":                     {},
		"home/ana/images/llm.sif":                   {},
		"home/ana/miniforge/envs/bio/bin/python":    {Data: []byte("\x7fELF")},
		"home/ana/miniforge/envs/macenv/bin/python": {Data: []byte(machOPython)},
		"opt/tools/bin":                             dir,
		"scratch/shared":                            dir,
		"data/llm.sif":                              {},
		// Links in the workspace: one to elsewhere in it, one leaving it.
		"home/ana/proj/manual":    {Mode: fs.ModeSymlink, Data: []byte("docs")},
		"home/ana/proj/data-link": {Mode: fs.ModeSymlink, Data: []byte("/home/ana/data")},
	}
}

// fakeHost is a Linux host whose facts all come from fsys and env.
func fakeHost(fsys fstest.MapFS, env []string, terminal bool) *Host {
	rel := func(p string) string { return strings.TrimPrefix(filepath.Clean(p), "/") }
	return &Host{
		Cwd: "/home/ana/proj", Home: "/home/ana",
		Env:  append([]string{"HOME=/home/ana", "PATH=/usr/bin:/bin", "USER=ana"}, env...),
		GOOS: "linux", GOARCH: "amd64", UID: 1000, GID: 1000, Terminal: terminal, PID: 4242,
		Executable:   "/usr/local/bin/launch",
		Stat:         fakefs.Stat(fsys),
		EvalSymlinks: fakefs.EvalSymlinks(fsys),
		ReadFile:     func(p string) ([]byte, error) { return fs.ReadFile(fsys, rel(p)) },
		ReadDir:      func(p string) ([]fs.DirEntry, error) { return fs.ReadDir(fsys, rel(p)) },
		DiskUsage: func(p string) (int64, error) {
			var n int64
			err := fs.WalkDir(fsys, rel(p), func(name string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					n += int64(len(fsys[name].Data))
				}
				return err
			})
			return n, err
		},
		Now: func() time.Time { return time.Date(2026, 12, 1, 15, 42, 33, 0, time.UTC) },
		LookPath: func(name string) (string, error) {
			switch name {
			case "apptainer", "docker", "podman", "conda":
				return "/usr/bin/" + name, nil
			}
			return "", errors.New("not found")
		},
		NeedsUserNS:  func() bool { return false },
		CgroupLimits: func(string) string { return "" },
		CgroupV1:     func() bool { return false },
		FUSEUsable:   func() bool { return true },
		SocketAccess: func(string) error { return nil },
		Output: func(name string, args ...string) ([]byte, error) {
			if name == "conda" {
				return []byte(`{"envs": ["/home/ana/miniforge", "/home/ana/miniforge/envs/bio", "/home/ana/miniforge/envs/macenv"]}`), nil
			}
			return nil, errors.New("unexpected command " + name)
		},
	}
}

// goldenCase is one launch invocation on the fake host. Each is resolved to
// a Plan (written to plan/testdata/plans, the corpus every backend's own
// golden tests render) and rendered with --dry-run by every backend.
type goldenCase struct {
	name     string
	args     []string // after "launch", without --dry-run/--backend
	env      []string
	files    map[string]string // extra host files: path (no leading /) -> content
	terminal bool
	uid      int    // the caller's uid; 0 means 1000, the image user's; -1 root
	cwd      string // the workspace; "" means /home/ana/proj
	// trusted records the project file's content in the trust store, as
	// launch trust does.
	trusted bool
}

// fs is the fake host's file system with the case's files.
func (c goldenCase) fs() fstest.MapFS {
	fsys := fakeFS()
	for p, content := range c.files {
		fsys[p] = &fstest.MapFile{Data: []byte(content)}
	}
	if c.trusted {
		fsys["home/ana/.local/state/launch/trust.json"] = trustedStore(fsys, "/home/ana/proj")
	}
	return fsys
}

var goldenCases = []goldenCase{
	{name: "codex-default", args: []string{"codex"}},
	{name: "claude-default", args: []string{"claude"}, env: []string{"ANTHROPIC_API_KEY=sk-ant-secret", "CLAUDE_CODE_MAX_TOKENS=8000", "OPENAI_API_KEY=sk-other"}},
	{name: "pi-default", args: []string{"pi"}, env: []string{"PI_MODEL=gpt", "ANTHROPIC_API_KEY=sk-ant-secret"}},
	{name: "shell-default", args: []string{"shell"}, env: []string{"PI_X=1", "ANTHROPIC_BASE_URL=https://llm.example"}},
	{name: "shell-args", args: []string{"shell", "ls", "-la", "my dir", "it's"}},
	{name: "codex-dashdash-args", args: []string{"codex", "--", "exec", "summarise this repo"}},
	{name: "codex-agent-help", args: []string{"codex", "-h"}},
	{name: "tag-override", args: []string{"--tag", "v1.2.3", "claude"}},
	{name: "custom-image-arch", args: []string{"--image-name", "registry.example/team/agent", "--tag", "dev", "--arch", "arm64", "codex"}},
	{name: "sif-path", args: []string{"--sif-path", "~/images/llm.sif", "shell"}},
	{name: "workspace-mount", args: []string{"--workspace-mount", "/workspace", "--ro", "docs", "codex"}},
	{name: "path-prepend", args: []string{"--mount", "/opt/tools:/opt/tools:ro", "--path-prepend", "tools/bin", "--path-prepend", "/opt/tools/bin", "shell"}},
	{name: "conda-env-path", args: []string{"--conda-env", "~/miniforge/envs/bio", "codex"}},
	{name: "conda-env-name", args: []string{"--conda-env", "bio", "claude"}},
	{name: "conda-env-in-workspace", args: []string{"--conda-env", ".venv", "pi"}},
	{name: "certs", args: []string{"--certs", "~/ca.pem", "--env", "NODE_EXTRA_CA_CERTS=/etc/custom.pem", "codex"}},
	{name: "certs-from-env", args: []string{"claude"}, env: []string{"LLM_DEVCONTAINER_CERTS=/home/ana/ca.pem"}},
	{name: "env-constant-and-inherited", args: []string{"--env", "FOO=bar baz", "--env", "OPENAI_API_KEY", "--env", "MISSING", "--env", "TOOL=override", "codex"}, env: []string{"OPENAI_API_KEY=sk-openai-secret"}},
	{name: "proxies-one-case", args: []string{"codex"}, env: []string{"http_proxy=http://proxy.example:3128", "HTTPS_PROXY=http://proxy.example:3129", "no_proxy=localhost,.internal"}},
	{name: "proxy-with-credentials", args: []string{"codex"}, env: []string{"https_proxy=http://user:pw@proxy.example:3128"}},
	{name: "bedrock-profile", args: []string{"claude"}, env: []string{"CLAUDE_CODE_USE_BEDROCK=1", "AWS_PROFILE=work", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIA0000", "AWS_SECRET_ACCESS_KEY=s3cret"}},
	{name: "bedrock-exported-file", args: []string{"pi"}, env: []string{"PI_USE_BEDROCK=1", "AWS_REGION=us-west-2", "AWS_SESSION_TOKEN=tok"}, files: map[string]string{"home/ana/.aws/credentials.json": "{}"}},
	{name: "bedrock-static-keys", args: []string{"shell"}, env: []string{"CLAUDE_CODE_USE_BEDROCK=1", "AWS_ACCESS_KEY_ID=AKIA0000", "AWS_SECRET_ACCESS_KEY=s3cret", "AWS_REGION=eu-west-1"}},
	{name: "mounts-env-and-flag", args: []string{"--mount", "~/data:/data:ro", "--mount", "../data", "codex"}, env: []string{"LLM_DEVCONTAINER_MOUNTS=/home/ana/data:/data:ro '/scratch/shared'"}},
	{name: "global-read-only", args: []string{"--global-read-only", "codex"}},
	{name: "ro-through-link", args: []string{"--ro", "manual", "--mount", "data-link:/data", "shell"}},
	{name: "ro-and-mask", args: []string{"--ro", "docs", "--mask", "secrets", "--mask", ".env", "claude"}},
	{name: "network-none", args: []string{"--network", "none", "codex"}},
	{name: "network-allow", args: []string{"--network", "allow=api.openai.com:443,github.com", "codex"}},
	{name: "network-sidecar", args: []string{"--network-via", "sidecar", "--network", "allow=api.openai.com:443,github.com:22", "codex"}},
	{name: "publish", args: []string{"--publish", "8080:80", "--publish", "[::1]:9000:9000", "--publish", "0.0.0.0:3000:3000", "shell"}},
	{name: "publish-same-port", args: []string{"--publish", "8888:8888", "codex"}},
	{name: "runtime-runsc", args: []string{"--runtime", "runsc", "--network", "none", "shell"}},
	{name: "gpus-all", args: []string{"--gpus", "all", "shell", "nvidia-smi"}, env: []string{"CUDA_VISIBLE_DEVICES=0,1"}},
	{name: "gpus-devices", args: []string{"--gpus", "0,2", "codex"}},
	{name: "gpus-auto-slurm", args: []string{"--gpus", "auto", "shell"}, env: []string{"SLURM_JOB_GPUS=3"}},
	{name: "tty", args: []string{"codex"}, env: []string{"TERM=screen-256color"}, terminal: true},
	{name: "tty-no-term", args: []string{"shell"}, terminal: true},
	{name: "uid-other-than-the-image-user", args: []string{"codex"}, uid: 52345},
	{name: "pull-never", args: []string{"--pull", "never", "--image", "localhost/llm:test", "shell"}},
	{name: "privileges-image", args: []string{"--privileges", "image", "shell"}},
	{name: "privileges-image-root", args: []string{"--privileges", "image", "shell"}, uid: -1},
	{name: "cap-add", args: []string{"--cap-add", "net_bind_service", "--cap-add", "CAP_CHOWN", "--cap-add", "NET_BIND_SERVICE", "codex"}},
	{name: "least-privilege-root", args: []string{"shell"}, uid: -1},
	{name: "limits", args: []string{"--memory", "2g", "--cpus", "1.5", "--pids", "512", "shell"}},
	{name: "limits-none", args: []string{"--pids", "none", "codex"}},
	{
		name: "limits-per-agent", args: []string{"--cpus", "0.5", "codex"},
		files: map[string]string{
			"home/ana/.config/launch/config.toml": "memory = \"8g\"\ncpus = 2\npids = 2048\ncap_add = [\"NET_RAW\"]\n[agents.codex]\nmemory = \"4g\"\npids = 1024\nprivileges = \"image\"\ncap_add = [\"CHOWN\"]\n",
		},
	},
	{name: "workspace-home-allowed", args: []string{"--allow-secrets", "codex"}, cwd: "/home/ana"},
	{name: "workspace-secret-masked", args: []string{"--mask", ".ssh", "shell"}, files: map[string]string{"home/ana/proj/.ssh/id_ed25519": "key"}},
	{
		name: "config-user-and-project", args: []string{"codex"},
		env: []string{"XDG_CONFIG_HOME=/home/ana/.config"},
		files: map[string]string{
			"home/ana/.config/launch/config.toml": "network = \"none\"\nmounts = [\"~/data:/data:ro\"]\nenv = [\"EDITOR=vim\"]\n",
			"home/ana/proj/.launch.toml":          "mask = [\".env\"]\nenv = [\"PROJECT=demo\"]\n",
		},
	},
	{
		name: "config-project-reaches-out", args: []string{"codex"}, trusted: true,
		env: []string{"OPENAI_API_KEY=sk-openai-secret"},
		files: map[string]string{
			"home/ana/proj/.launch.toml": "mounts = [\"~/data:/data:ro\", \"src:/src\"]\nenv = [\"OPENAI_API_KEY\", \"MODE=ci\"]\n",
		},
	},
	{name: "prompt-claude", args: []string{"--prompt", "~/prompt.md", "claude"}, files: map[string]string{"home/ana/prompt.md": "\nYou work on proj.\nRun make test before you finish.\n"}},
	{name: "prompt-codex", args: []string{"codex", "exec", "go"}, files: map[string]string{"home/ana/.config/launch/config.toml": "[agents.codex]\nprompt = \"You are Codex in a container. It's fine.\"\n"}},
	{name: "prompt-pi", args: []string{"pi"}, files: map[string]string{"home/ana/.config/launch/config.toml": "[agents.pi]\nprompt_file = \"~/prompt.md\"\n", "home/ana/prompt.md": "Be brief.\n"}},
	{
		name: "skills-claude", args: []string{"--skill", "lint", "claude"},
		files: map[string]string{
			"home/ana/.config/launch/config.toml":        "[agents.claude]\nskills = [\"review\"]\n",
			"home/ana/.claude/skills/review/SKILL.md":    "review\n",
			"home/ana/proj/.claude/skills/lint/SKILL.md": "lint\n",
		},
	},
	{name: "isolate-git", args: []string{"--isolate", "--ro", "docs", "claude"}},
	{name: "isolate-not-git", args: []string{"--isolate", "shell"}, cwd: "/home/ana/data"},
	{name: "isolate-worktree", args: []string{"--isolate", "codex"}, cwd: "/home/ana/data", files: map[string]string{"home/ana/data/.git": "gitdir: /home/ana/proj/.git/worktrees/data\n", "home/ana/proj/.git/worktrees/data/commondir": "../..\n", "home/ana/proj/.git/worktrees/data/HEAD": "ref: refs/heads/data\n", "home/ana/proj/.git/worktrees/data/gitdir": "/home/ana/data/.git\n"}},
	{
		name: "ssh-hosts", args: []string{"--ssh-host", "work", "claude"},
		files: map[string]string{
			"home/ana/.config/launch/config.toml": "[agents.claude]\nssh_hosts = [\"github.com\"]\n",
			"home/ana/.ssh/config":                "Host github.com\n  User git\n  IdentityFile ~/.ssh/id_github\n\nHost work\n  HostName git.work.example\n  Port 2222\n  IdentityFile ~/.ssh/id_work\n  ProxyCommand nc %h %p\n\nHost secret\n  IdentityFile ~/.ssh/id_secret\n",
			"home/ana/.ssh/known_hosts":           "github.com ssh-ed25519 AAAAgithub\n[git.work.example]:2222 ssh-ed25519 AAAAwork\nsecret ssh-ed25519 AAAAsecret\n",
			"home/ana/.ssh/id_github":             "k", "home/ana/.ssh/id_work": "k", "home/ana/.ssh/id_secret": "k",
		},
	},
	{
		name: "config-custom-agent", args: []string{"gemini", "--yolo"},
		env: []string{"GEMINI_API_KEY=g-secret"},
		files: map[string]string{
			"home/ana/.config/launch/config.toml": "[agents.gemini]\ncommand = [\"gemini\"]\ntag = \"gemini-latest\"\nenv_prefixes = [\"GEMINI_\"]\ncredentials = [{ path = \".gemini\", dir = true, create = true }]\n",
		},
	},
}

var backends = []backendName{backendDocker, backendPodman, backendSingularity}

// runCase runs launch on the fake host and returns stdout, stderr and the
// exit code.
func runCase(t *testing.T, c goldenCase, extra ...string) (string, string, int) {
	t.Helper()
	c.args = append(append([]string(nil), extra...), c.args...)
	return runCaseOn(t, c, "linux")
}

// runCaseOn runs launch on the fake host with the given GOOS.
func runCaseOn(t *testing.T, c goldenCase, goos string) (string, string, int) {
	t.Helper()
	return runFSOn(t, c, c.fs(), goos)
}

// runFS runs launch on a fake Linux host with the file system fsys.
func runFS(t *testing.T, c goldenCase, fsys fstest.MapFS) (string, string, int) {
	t.Helper()
	return runFSOn(t, c, fsys, "linux")
}

func runFSOn(t *testing.T, c goldenCase, fsys fstest.MapFS, goos string) (string, string, int) {
	t.Helper()
	h := fakeHost(fsys, c.env, c.terminal)
	h.GOOS = goos
	switch {
	case c.uid < 0:
		h.UID, h.GID = 0, 0
	case c.uid != 0:
		h.UID = c.uid
	}
	if c.cwd != "" {
		h.Cwd = c.cwd
	}
	var out, errb bytes.Buffer
	s := iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}
	args := append([]string{"launch"}, c.args...)
	code := runApp(context.Background(), s, h, args)
	return out.String(), errb.String(), code
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Check(t, path, got, *update)
}

// resolveCase resolves c on the fake host to its Plan, in-process.
func resolveCase(t *testing.T, c goldenCase) (plan.Plan, string) {
	t.Helper()
	fsys := c.fs()
	h := fakeHost(fsys, c.env, c.terminal)
	switch {
	case c.uid < 0:
		h.UID, h.GID = 0, 0
	case c.uid != 0:
		h.UID = c.uid
	}
	if c.cwd != "" {
		h.Cwd = c.cwd
	}
	var got plan.Plan
	var errb bytes.Buffer
	app := newApp(iostreams.Streams{In: strings.NewReader(""), Out: io.Discard, Err: &errb}, h, func(ctx context.Context, f *flagState, cmd *cli.Command) error {
		o, err := buildOptions(h, f, cmd)
		if err != nil {
			return err
		}
		r, err := resolve(o, h)
		got = r.Plan
		return err
	})
	if err := app.Run(context.Background(), append([]string{"launch"}, c.args...)); err != nil {
		t.Fatalf("resolve %s: %v", strings.Join(c.args, " "), err)
	}
	return got, errb.String()
}

// TestGolden resolves every case to a Plan (the corpus every backend's own
// tests render) and renders it with every backend's --dry-run; --json checks
// what the dry run checks and prints the backend and the same Plan.
func TestGolden(t *testing.T) {
	if len(goldenCases) < 25 {
		t.Fatalf("only %d golden cases; the corpus must cover every flag and rule (at least 25)", len(goldenCases))
	}
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			p, _ := resolveCase(t, c)
			corpus, err := json.MarshalIndent(&p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("..", "..", "plan", "testdata", "plans", c.name+".json"), append(corpus, '\n'))

			for _, b := range backends {
				out, errOut, code := runCase(t, c, "--dry-run", "--backend", string(b))
				got := "# exit " + itoa(code) + "\n# stderr:\n" + prefixLines(errOut, "#   ") + out
				checkGolden(t, filepath.Join("testdata", "dryrun", c.name+"."+string(b)+".golden"), []byte(got))

				jout, jerr, jcode := runCase(t, c, "--json", "--backend", string(b))
				if jcode != code {
					t.Errorf("%s: --json exits %d, --dry-run %d (%s): --json must check what a run checks", b, jcode, code, jerr)
					continue
				}
				if code != 0 {
					continue
				}
				var j struct {
					Backend string          `json:"backend"`
					Plan    json.RawMessage `json:"plan"`
				}
				if err := json.Unmarshal([]byte(jout), &j); err != nil {
					t.Fatalf("--json printed no JSON: %v\n%s", err, jout)
				}
				if j.Backend != string(b) {
					t.Errorf("--json names backend %q, want %q", j.Backend, b)
				}
				if !jsonEqual(t, j.Plan, corpus) {
					t.Errorf("%s: --json plan differs from the resolved plan:\n%s\nwant\n%s", b, j.Plan, corpus)
				}
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// TestNoInheritedValueShown plants a distinct random value in every variable
// each golden case inherits from the host and fails if any of them appears
// in what launch prints (--json, --dry-run of every backend). The one
// documented exception: a proxy variable without credentials set in one
// case only is copied to the other case as a constant.
func TestNoInheritedValueShown(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			p, _ := resolveCase(t, c)
			planted := map[string]string{}
			var env []string
			for _, kv := range c.env {
				name, _, _ := strings.Cut(kv, "=")
				if e, ok := p.Lookup(name); ok && e.FromHost {
					continue
				}
				env = append(env, kv)
			}
			for _, e := range p.Env {
				if e.FromHost {
					planted[e.Name] = "leak" + randomHex(t)
					env = append(env, e.Name+"="+planted[e.Name])
				}
			}
			c.env = env
			replanted, _ := resolveCase(t, c)
			var outputs []string
			out, errOut, _ := runCase(t, c, "--json")
			outputs = append(outputs, out+errOut)
			for _, b := range backends {
				out, errOut, _ := runCase(t, c, "--dry-run", "--backend", string(b))
				outputs = append(outputs, out+errOut)
			}
			for name, v := range planted {
				copied := ""
				for _, e := range replanted.Env {
					if !e.FromHost && e.Value == v {
						copied = e.Name
					}
				}
				if copied != "" && !(strings.EqualFold(copied, name) && strings.HasSuffix(strings.ToLower(name), "_proxy")) {
					t.Errorf("the value of %s is copied to %s as a constant", name, copied)
				}
				for i, o := range outputs {
					if copied == "" && strings.Contains(o, v) {
						t.Errorf("output %d shows the value of the inherited %s:\n%s", i, name, o)
					}
				}
			}
		})
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func prefixLines(s, prefix string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString(prefix + l)
	}
	return b.String() + "\n"
}
