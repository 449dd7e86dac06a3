package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
	"github.com/launchcli/launch/trust"
)

// TestEveryKeyHasAClass fails when a config key is added without saying
// what a project file may do with it.
func TestEveryKeyHasAClass(t *testing.T) {
	tags := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			out = append(out, strings.Split(rt.Field(i).Tag.Get("toml"), ",")[0])
		}
		return out
	}
	for _, k := range tags(Settings{}) {
		if r, ok := classOf(toml.Key{k}); !ok || r.class == 0 {
			t.Errorf("key %q has no class in topKeys", k)
		}
	}
	for _, k := range tags(agentConfig{}) {
		if r, ok := classOf(toml.Key{"agents", "x", k}); !ok || r.class == 0 {
			t.Errorf("key agents.x.%s has no class in agentKeys", k)
		}
	}
	for _, k := range tags(imageDefaults{}) {
		if r, _ := classOf(toml.Key{"image_defaults", k}); r.class != trust.UserOnly {
			t.Errorf("key image_defaults.%s: class %v, want user-only", k, r.class)
		}
	}
	for k := range topKeys {
		if _, ok := fieldByKey()[k]; !ok {
			t.Errorf("topKeys has %q, which is no key of Settings", k)
		}
	}
	for _, k := range []string{"yes", "runtime", "unprotect", "singularity_bin", "image_defaults"} {
		if topKeys[k].class != trust.UserOnly {
			t.Errorf("%s: class %v, want user-only", k, topKeys[k].class)
		}
	}
	for _, k := range []string{"env_prefixes", "bedrock_switch"} {
		if agentKeys[k].class != trust.UserOnly {
			t.Errorf("agents.*.%s: class %v, want user-only", k, agentKeys[k].class)
		}
	}
}

// TestProjectTrust: a project file that only narrows applies as it is; one
// that widens is refused, naming each widening setting, until its content is
// trusted; user-only keys never apply.
func TestProjectTrust(t *testing.T) {
	const project = "home/ana/proj/.launch.toml"
	const user = "home/ana/.config/launch/config.toml"
	tests := []struct {
		name    string
		files   map[string]string
		trusted bool
		code    int
		wants   []string // in stderr
		plan    []string // in the --json output
		nots    []string // in neither
	}{
		{name: "narrowing-only", files: map[string]string{project: "ro = [\"docs\"]\nmask = [\".env\"]\nnetwork = \"none\"\nenv = [\"MODE=ci\"]\nprotect = [\"Makefile\"]\nworkspace_mount = \"/w\"\npath_prepend = [\"tools/bin\"]\npull = \"never\"\nglobal_read_only = true\nmounts = [\"src:/src:ro\"]\n"},
			plan: []string{`"mode": "none"`, `"Makefile"`, `"target": "/w/docs"`}},
		{name: "narrower-allowlist", files: map[string]string{user: "network = \"allow=github.com,api.openai.com:443\"\n", project: "network = \"allow=github.com:443\"\n"},
			plan: []string{`"host": "github.com"`, `"port": 443`}},
		{name: "narrower-wildcard-and-agent-list", files: map[string]string{user: "network = \"allow=*.github.com,@codex\"\n", project: "network = \"allow=api.github.com:443,*.raw.github.com,api.openai.com:443\"\n"},
			plan: []string{`"host": "api.github.com"`, `"host": "*.raw.github.com"`}},
		{name: "wider-than-the-wildcard", files: map[string]string{user: "network = \"allow=*.github.com\"\n", project: "network = \"allow=github.com,@codex\"\n"}, code: 2,
			wants: []string{`sets the network to "allow=api.openai.com:443,auth.openai.com:443,chatgpt.com:443,github.com", more than your own "allow=*.github.com"`}},
		{name: "ssh-credentials", files: map[string]string{project: "[agents.codex]\ncredentials = [{ path = \".ssh\", dir = true }]\n"}, code: 2,
			wants: []string{".launch.toml is not trusted", "line 2: agents.codex.credentials: mounts credential paths", "launch trust /home/ana/proj"}},
		{name: "mount-outside", files: map[string]string{project: "mounts = [\"~/.ssh:/s\"]\n"}, code: 2,
			wants: []string{`line 1: mounts: mounts "~/.ssh" from outside the workspace, read-write`}},
		{name: "mount-through-link", files: map[string]string{project: "mounts = [\"data-link:/s:ro\"]\n"}, code: 2,
			wants: []string{`mounts "data-link" (a link to "/home/ana/data") from outside the workspace, read-only`}},
		{name: "network-wider", files: map[string]string{user: "network = \"none\"\n", project: "network = \"open\"\n"}, code: 2,
			wants: []string{`line 1: network: sets the network to "open", more than your own "none"`}},
		{name: "allowlist-wider", files: map[string]string{user: "network = \"allow=github.com:443\"\n", project: "network = \"allow=github.com\"\n"}, code: 2,
			wants: []string{"more than your own"}},
		{name: "publish-widens", files: map[string]string{project: "publish = [\"8080:80\"]\n[agents.codex]\nlogin = [\"sh\"]\nlogin_port = 1\n"}, code: 2,
			wants: []string{"line 1: publish: serves the agent's ports on your machine", "line 3: agents.codex.login: changes the agent's login command", "line 4: agents.codex.login_port"}},
		{name: "publish-trusted", trusted: true, files: map[string]string{project: "publish = [\"8080:80\"]\n"},
			plan: []string{`"host_ip": "127.0.0.1"`, `"host_port": 8080`, `"container_port": 80`}},
		{name: "writable-again", files: map[string]string{user: "global_read_only = true\n", project: "global_read_only = false\n"}, code: 2,
			wants: []string{"makes the workspace writable"}},
		{name: "many", files: map[string]string{project: "image = \"evil/agent\"\nenv = [\"AWS_SECRET_ACCESS_KEY\", \"OK=1\"]\ncerts = \"~/ca.pem\"\nbackend = \"docker\"\ngpus = \"all\"\n"}, code: 2,
			wants: []string{"line 1: image: runs another image", "line 2: env: passes your host variable AWS_SECRET_ACCESS_KEY", `line 3: certs: mounts the host file "~/ca.pem"`, "line 4: backend", "line 5: gpus"}, nots: []string{"OK"}},
		{name: "privileges-widen", files: map[string]string{project: "privileges = \"image\"\ncap_add = [\"NET_RAW\"]\npids = \"none\"\nmemory = \"64g\"\n", user: "memory = \"4g\"\n"}, code: 2,
			wants: []string{"line 1: privileges: runs the image with its own privileges", "line 2: cap_add", "line 3: pids: removes the pids limit", "line 4: memory: raises the memory limit above your own"}},
		{name: "limits-narrow", files: map[string]string{project: "memory = \"1g\"\npids = 512\ncpus = 1\nprivileges = \"least\"\nallow_secrets = true\n"},
			wants: []string{"line 5: allow_secrets: only your own config may set this"}, plan: []string{`"pids": 512`}},
		{name: "prompt-and-project-skill", files: map[string]string{project: "[agents.codex]\nprompt = \"Use make.\"\nskills = [\"lint\"]\nprompt_file = \"docs/prompt.md\"\n", "home/ana/proj/docs/prompt.md": "x", "home/ana/proj/.codex/skills/lint/SKILL.md": "x"},
			code: 2, wants: []string{"prompt and prompt_file are both set"}},
		{name: "project-prompt-narrows", files: map[string]string{project: "[agents.codex]\nprompt_file = \"docs/prompt.md\"\nskills = [\"lint\"]\nskills_home = \".x\"\n", "home/ana/proj/docs/prompt.md": "Use make.\n", "home/ana/proj/.codex/skills/lint/SKILL.md": "x"},
			wants: []string{"agents.codex.skills_home: only your own config"}, plan: []string{`"first_line": "Use make."`, `"name": "lint"`}},
		{name: "project-prompt-widens", files: map[string]string{project: "[agents.codex]\nprompt_file = \"~/.aws/config\"\nskills = [\"mine\"]\nprompt_args = [\"{file}\"]\n"}, code: 2,
			wants: []string{`prompt_file: gives agent "codex" the host file "~/.aws/config" as its prompt`, `skills: gives agent "codex" the skill "mine" from your home directory`, "prompt_args: changes the arguments"}},
		// isolate = true narrows: launch runs no git with what the agent
		// could write (isolate_git.go); turning off the user's own
		// isolation widens.
		{name: "isolate-narrows", files: map[string]string{project: "isolate = true\n", "home/ana/proj/.git/HEAD": "ref: refs/heads/main\n"},
			plan: []string{`"branch": "launch/codex-`}},
		{name: "isolate-off-widens", files: map[string]string{user: "isolate = true\n", project: "isolate = false\n"}, code: 2,
			wants: []string{"line 1: isolate: gives the agent the workspace itself, which your config isolates"}},
		{name: "trusted", files: map[string]string{project: "mounts = [\"~/data:/data:ro\"]\n"}, trusted: true,
			plan: []string{`"target": "/data"`}},
		{name: "changed-after-trust", files: map[string]string{project: "mounts = [\"~/data:/data:ro\"]\n"}, trusted: true, code: 2,
			wants: []string{"changed since you trusted it (2026-12-01 12:00 UTC)"}},
		{name: "user-only-ignored", files: map[string]string{project: "yes = true\nruntime = \"runsc\"\nunprotect = [\".envrc\"]\n[image_defaults]\noci = \"evil/default\"\nuid = 0\n[agents.codex]\nenv_prefixes = [\"\"]\n"},
			wants: []string{"line 1: yes: only your own config may set this (it skips the confirmation); ignored", "line 2: runtime: only your own", "line 3: unprotect", "image_defaults.oci", "image_defaults.uid", "agents.codex.env_prefixes"},
			plan:  []string{`".envrc"`, "nichd-bspc/llm:codex-latest"}, nots: []string{"evil/default", `"runtime": "runsc"`, `"name": "PATH"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := goldenCase{args: []string{"--json", "--backend", "docker", "codex"}, files: tt.files, trusted: tt.trusted}
			if tt.name == "changed-after-trust" {
				// Trusted with this content, then changed by someone.
				c.files = map[string]string{project: "mounts = [\"~/data:/data:ro\"]\n"}
				fs := c.fs()
				fs[project].Data = []byte("mounts = [\"~/data:/data\"]\n")
				out, errs, code := runFS(t, c, fs)
				check(t, out, errs, code, tt.code, tt.wants, tt.plan, tt.nots)
				return
			}
			out, errs, code := runCase(t, c)
			check(t, out, errs, code, tt.code, tt.wants, tt.plan, tt.nots)
		})
	}
}

func check(t *testing.T, out, errs string, code, wantCode int, wants, plan, nots []string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, wantCode, errs)
	}
	for _, w := range wants {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
	for _, w := range plan {
		if !strings.Contains(out, w) {
			t.Errorf("plan lacks %q:\n%s", w, out)
		}
	}
	for _, w := range nots {
		if strings.Contains(out, w) {
			t.Errorf("plan holds %q:\n%s", w, out)
		}
	}
}

// TestTrustCommand: launch trust records the file as it is, launch uses it
// then, a change makes launch refuse it again, --show says so, --revoke
// forgets it. On the real file system, as a user runs it.
func TestTrustCommand(t *testing.T) {
	home, ws := t.TempDir(), t.TempDir()
	h, err := systemHost(false)
	if err != nil {
		t.Fatal(err)
	}
	h.Cwd, h.Home = ws, home
	h.Env = []string{"HOME=" + home, "XDG_STATE_HOME=" + filepath.Join(home, "state")}
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := runApp(context.Background(), iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, h, append([]string{"launch"}, args...))
		return out.String(), errb.String(), code
	}
	file := filepath.Join(ws, ".launch.toml")
	if err := os.WriteFile(file, []byte("mounts = [\""+home+":/h:ro\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	launchArgs := []string{"--json", "--backend", "docker", "--image", "x/y:1", "shell"}
	if _, errs, code := run(launchArgs...); code != 2 || !strings.Contains(errs, "is not trusted") {
		t.Fatalf("untrusted: exit %d, stderr %s", code, errs)
	}
	if _, errs, code := run("trust"); code != 0 || !strings.Contains(errs, "trusted "+file) || !strings.Contains(errs, "from outside the workspace") {
		t.Fatalf("launch trust: exit %d, stderr %s", code, errs)
	}
	if fi, err := os.Stat(filepath.Join(home, "state", "launch", "trust.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("trust store: %v %v", fi, err)
	}
	if out, errs, code := run(launchArgs...); code != 0 || !strings.Contains(out, `"target": "/h"`) {
		t.Fatalf("trusted: exit %d, stdout %s, stderr %s", code, out, errs)
	}
	if err := os.WriteFile(file, []byte("mounts = [\""+home+":/h\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := run(launchArgs...); code != 2 || !strings.Contains(errs, "changed since you trusted it") {
		t.Fatalf("changed: exit %d, stderr %s", code, errs)
	}
	if out, _, code := run("trust", "--show"); code != 0 || !strings.Contains(out, file) || !strings.Contains(out, "CHANGED") {
		t.Fatalf("--show: exit %d, stdout %s", code, out)
	}
	if _, errs, code := run("trust", "--revoke", ws); code != 0 || !strings.Contains(errs, "no longer trusted") {
		t.Fatalf("--revoke: exit %d, stderr %s", code, errs)
	}
	if _, errs, code := run("trust", "--revoke"); code != 2 || !strings.Contains(errs, "is not trusted") {
		t.Fatalf("second --revoke: exit %d, stderr %s", code, errs)
	}
	if _, errs, code := run("trust", filepath.Join(ws, "nope")); code != 2 || !strings.Contains(errs, "nothing to trust") {
		t.Fatalf("trust of a missing file: exit %d, stderr %s", code, errs)
	}
}

// TestProtectedMounts: the protected paths that exist are read-only mounts
// at the place their links lead to; none is added where the workspace is
// read-only already, or under a --ro or --mask; a user config inside the
// workspace is protected too.
func TestProtectedMounts(t *testing.T) {
	protect := func(p plan.Plan) []string {
		var out []string
		for _, m := range p.Mounts {
			if m.Origin == plan.OriginProtect {
				if !m.ReadOnly && path.Base(m.Source) != ".git" {
					t.Errorf("protected mount %+v is writable", m)
				}
				out = append(out, m.Target)
			}
		}
		return out
	}
	tests := []struct {
		name string
		c    goldenCase
		want []string
	}{
		{"default", goldenCase{args: []string{"codex"}}, []string{"/home/ana/proj/.git", "/home/ana/proj/.git/config", "/home/ana/proj/.git/hooks"}},
		{"workspace-read-only", goldenCase{args: []string{"--global-read-only", "codex"}}, nil},
		{"under-mask", goldenCase{args: []string{"--mask", ".git", "codex"}}, nil},
		{"moved-workspace", goldenCase{args: []string{"--workspace-mount", "/w", "codex"}}, []string{"/w/.git", "/w/.git/config", "/w/.git/hooks"}},
		{"user-config-inside", goldenCase{args: []string{"--config", "/home/ana/proj/cfg/launch.toml", "codex"}, files: map[string]string{"home/ana/proj/cfg/launch.toml": "network = \"none\"\n"}},
			[]string{"/home/ana/proj/.git", "/home/ana/proj/.git/config", "/home/ana/proj/.git/hooks", "/home/ana/proj/cfg/launch.toml"}},
		{"unprotect", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "unprotect = [\".git\"]\nprotect = [\"docs\"]\n"}},
			[]string{"/home/ana/proj/docs"}},
		{"git-dir-entries", goldenCase{args: []string{"codex"}, files: map[string]string{
			"home/ana/proj/.git/commondir":          "../elsewhere\n",
			"home/ana/proj/.git/info/exclude":       "*.o\n",
			"home/ana/proj/.git/modules/sub/HEAD":   "ref: refs/heads/main\n",
			"home/ana/proj/.git/modules/sub/config": "[core]\n",
			"home/ana/proj/.git/modules/sub/index":  "DIRC",
			"home/ana/proj/.git/objects/ab/cd":      "blob",
			"home/ana/proj/.git/index":              gitIndex("sub", "vendor/lib"),
			"home/ana/proj/sub/.git":                "gitdir: ../.git/modules/sub\n",
			"home/ana/proj/vendor/lib/.git/HEAD":    "ref: refs/heads/main\n",
			"home/ana/proj/vendor/lib/.git/config":  "[core]\n",
			"home/ana/proj/.git/config":             "[core]\n\thooksPath = .husky/_\n\tfsmonitor = tools/fsmon.sh\n",
			"home/ana/proj/.husky/_/pre-commit":     "#!/bin/sh\n",
			"home/ana/proj/tools/fsmon.sh":          "#!/bin/sh\n",
			"home/ana/.gitconfig":                   "[core]\n\thooksPath = ~/hooks\n",
		}}, []string{"/home/ana/proj/.git", "/home/ana/proj/.git/commondir", "/home/ana/proj/.git/config", "/home/ana/proj/.git/hooks", "/home/ana/proj/.git/info", "/home/ana/proj/.git/modules/sub/config", "/home/ana/proj/sub/.git", "/home/ana/proj/vendor/lib/.git", "/home/ana/proj/vendor/lib/.git/config", "/home/ana/proj/.husky/_", "/home/ana/proj/tools/fsmon.sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := resolveCase(t, tt.c)
			if got := protect(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("protected mounts %q, want %q", got, tt.want)
			}
			if !slices.Contains(p.Protected, ".launch.toml") || !slices.Contains(p.Protected, ".envrc") {
				t.Errorf("Plan.Protected = %q lacks the defaults", p.Protected)
			}
		})
	}
	// An .envrc that is a link to elsewhere in the workspace protects what
	// it points to.
	fsys := goldenCase{}.fs()
	fsys["home/ana/proj/docs/envrc"] = &fstest.MapFile{Data: []byte("x")}
	fsys["home/ana/proj/.envrc"] = &fstest.MapFile{Mode: fs.ModeSymlink, Data: []byte("docs/envrc")}
	out, errs, code := runFS(t, goldenCase{args: []string{"--json", "--backend", "docker", "codex"}}, fsys)
	if code != 0 || !strings.Contains(out, `"source": "/home/ana/proj/docs/envrc",
        "target": "/home/ana/proj/docs/envrc",
        "readonly": true,
        "file": true,
        "origin": "protect"`) {
		t.Errorf("linked .envrc: exit %d, stderr %s, plan %s", code, errs, out)
	}
}

// TestPreviewMarksOutside: the plan shown before a launch names every host
// path outside the workspace that the agent sees, and whether it can write
// there, and lists the protected paths.
func TestPreviewMarksOutside(t *testing.T) {
	p, _ := resolveCase(t, goldenCase{args: []string{"--mount", "~/data:/data:ro", "--mount", "/scratch/shared:/s", "codex"}})
	got := summary(p, backendDocker)
	for _, want := range []string{
		"outside the workspace, the agent sees: /home/ana/.codex (WRITABLE), /home/ana/.codex/config.toml (read-only), /home/ana/.codex/rules (read-only), /home/ana/data (read-only), /scratch/shared (WRITABLE)",
		"protected: .claude/agents",
		".git/hooks",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "/home/ana/proj (") {
		t.Errorf("summary marks the workspace as outside itself:\n%s", got)
	}
}

// TestPreviewShowsPublish: the plan shown before a launch names each
// published port as -p takes it.
func TestPreviewShowsPublish(t *testing.T) {
	p, _ := resolveCase(t, goldenCase{args: []string{"--publish", "8080:80", "--publish", "0.0.0.0:9000:9000", "codex"}})
	if got, want := summary(p, backendDocker), "  publish:  127.0.0.1:8080:80 0.0.0.0:9000:9000\n"; !strings.Contains(got, want) {
		t.Errorf("summary lacks %q:\n%s", want, got)
	}
}

// TestWorktree: a workspace that is a git worktree gets its git
// directories (outside the workspace) mounted at their own paths,
// read-only unless git_dir_writable, and then with hooks and config still
// read-only; a plain repository gets nothing more.
func TestWorktree(t *testing.T) {
	worktree := func() fstest.MapFS {
		fsys := goldenCase{}.fs()
		for k := range fsys {
			if strings.HasPrefix(k, "home/ana/proj/.git/") {
				delete(fsys, k)
			}
		}
		fsys["home/ana/proj/.git"] = &fstest.MapFile{Data: []byte("gitdir: /home/ana/main/.git/worktrees/proj\n")}
		fsys["home/ana/main/.git/worktrees/proj/commondir"] = &fstest.MapFile{Data: []byte("../..\n")}
		fsys["home/ana/main/.git/worktrees/proj/HEAD"] = &fstest.MapFile{Data: []byte("ref: refs/heads/wt\n")}
		fsys["home/ana/main/.git/HEAD"] = &fstest.MapFile{Data: []byte("ref: refs/heads/main\n")}
		fsys["home/ana/main/.git/config"] = &fstest.MapFile{Data: []byte("[core]\n")}
		fsys["home/ana/main/.git/hooks"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		fsys["home/ana/main/.git/objects"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		fsys["home/ana/main/.git/refs/heads"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		fsys["home/ana/main/.git/worktrees/proj/gitdir"] = &fstest.MapFile{Data: []byte("/home/ana/proj/.git\n")}
		return fsys
	}
	gitMountsOf := func(out string) []string {
		var p struct{ Plan plan.Plan }
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var got []string
		for _, m := range p.Plan.Mounts {
			if m.Origin == plan.OriginGit || strings.HasPrefix(m.Source, "/home/ana/main") {
				got = append(got, fmt.Sprintf("%s ro=%v %s", m.Target, m.ReadOnly, m.Origin))
			}
		}
		return got
	}
	out, errs, code := runFS(t, goldenCase{args: []string{"--json", "--backend", "docker", "-v", "codex"}}, worktree())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got, want := gitMountsOf(out), []string{"/home/ana/main/.git ro=true git"}; !reflect.DeepEqual(got, want) {
		t.Errorf("worktree mounts %q, want %q", got, want)
	}
	out, errs, code = runFS(t, goldenCase{args: []string{"--json", "--backend", "docker", "--git-dir-writable", "codex"}}, worktree())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := []string{"/home/ana/main/.git ro=false git", "/home/ana/main/.git/config ro=true protect", "/home/ana/main/.git/hooks ro=true protect", "/home/ana/main/.git/worktrees/proj/commondir ro=true protect", "/home/ana/main/.git/worktrees/proj/gitdir ro=true protect"}
	if got := gitMountsOf(out); !reflect.DeepEqual(got, want) {
		t.Errorf("writable worktree mounts %q, want %q", got, want)
	}
	out, _, _ = runCase(t, goldenCase{args: []string{"--json", "--backend", "docker", "codex"}})
	if got := gitMountsOf(out); len(got) != 0 {
		t.Errorf("a plain repository got %q", got)
	}
}

// trustedStore is the trust store that launch trust writes for the
// project file of ws on the fake file system, trusted on 1 December 2026.
func trustedStore(fsys fstest.MapFS, ws string) *fstest.MapFile {
	l, widens, err := reviewIn(fakeHost(fsys, nil, false), ws)
	if err != nil {
		panic(fmt.Sprintf("review of the fake project file: %v", err))
	}
	s := trust.Store{Files: map[string]trust.Record{trust.Key(ws): {
		SHA256: trust.Sum([]byte(l.text)), Widens: widens, Format: trust.Format,
		Trusted: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
	}}}
	b, err := json.Marshal(&s)
	if err != nil {
		panic(err)
	}
	return &fstest.MapFile{Data: b}
}

// TestGitdirFileRefused: a workspace .git file is the agent's to write,
// and launch mounts what it names: only a real git directory that names
// this workspace back is mounted; a secret store, a system directory, the
// home directory, a directory with a socket or a git directory of another
// worktree is refused before anything starts, with the value and the fix.
func TestGitdirFileRefused(t *testing.T) {
	base := func() fstest.MapFS {
		fsys := goldenCase{}.fs()
		for k := range fsys {
			if strings.HasPrefix(k, "home/ana/proj/.git/") {
				delete(fsys, k)
			}
		}
		dir := &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		fsys["home/ana/.ssh/id_ed25519"] = &fstest.MapFile{Data: []byte("key")}
		fsys["run/docker.sock"] = &fstest.MapFile{Mode: fs.ModeSocket}
		fsys["var/run"] = &fstest.MapFile{Mode: fs.ModeSymlink, Data: []byte("/run")}
		fsys["run/user/1000/podman/podman.sock"] = &fstest.MapFile{Mode: fs.ModeSocket}
		// A look-alike git directory with a socket in it, outside /run.
		fsys["tmp/sockdir/HEAD"] = &fstest.MapFile{Data: []byte("ref: refs/heads/main\n")}
		fsys["tmp/sockdir/objects"], fsys["tmp/sockdir/refs"] = dir, dir
		fsys["tmp/sockdir/gitdir"] = &fstest.MapFile{Data: []byte("/home/ana/proj/.git\n")}
		fsys["tmp/sockdir/agent.sock"] = &fstest.MapFile{Mode: fs.ModeSocket}
		// Another worktree's git directory.
		fsys["home/ana/main/.git/HEAD"] = &fstest.MapFile{Data: []byte("ref: refs/heads/main\n")}
		fsys["home/ana/main/.git/objects"], fsys["home/ana/main/.git/refs"] = dir, dir
		fsys["home/ana/main/.git/worktrees/other/HEAD"] = &fstest.MapFile{Data: []byte("ref: refs/heads/other\n")}
		fsys["home/ana/main/.git/worktrees/other/commondir"] = &fstest.MapFile{Data: []byte("../..\n")}
		fsys["home/ana/main/.git/worktrees/other/gitdir"] = &fstest.MapFile{Data: []byte("/home/ana/other/.git\n")}
		// A submodule's git directory that names the workspace.
		fsys["home/ana/super/.git/modules/proj/HEAD"] = &fstest.MapFile{Data: []byte("ref: refs/heads/main\n")}
		fsys["home/ana/super/.git/modules/proj/objects"], fsys["home/ana/super/.git/modules/proj/refs"] = dir, dir
		fsys["home/ana/super/.git/modules/proj/config"] = &fstest.MapFile{Data: []byte("[core]\n\tworktree = ../../../../proj\n")}
		return fsys
	}
	for _, tt := range []struct{ name, gitdir, want string }{
		{"ssh", "/home/ana/.ssh", `it lies in "/home/ana/.ssh", a store of credentials`},
		{"ssh-relative", "../.ssh", `it lies in "/home/ana/.ssh", a store of credentials`},
		{"var-run", "/var/run", `it lies in "/run", a system directory`},
		{"run-user", "/run/user/1000", `it lies in "/run", a system directory`},
		{"home", "/home/ana", `it is or holds your home directory "/home/ana"`},
		{"root", "/", "it is the root directory"},
		{"socket", "/tmp/sockdir", `it holds a socket, "/tmp/sockdir/agent.sock"`},
		{"not-git", "/home/ana/data", "not a git directory (no HEAD)"},
		{"other-worktree", "/home/ana/main/.git/worktrees/other", "it does not name this workspace as its worktree"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fsys := base()
			fsys["home/ana/proj/.git"] = &fstest.MapFile{Data: []byte("gitdir: " + tt.gitdir + "\n")}
			out, errs, code := runFS(t, goldenCase{args: []string{"--json", "--backend", "docker", "--git-dir-writable", "codex"}}, fsys)
			if code != 2 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "names the git directory") || !strings.Contains(errs, "fix the file") {
				t.Errorf("exit %d, stderr %s; want exit 2 and %q", code, errs, tt.want)
			}
			if out != "" {
				t.Errorf("a plan came out: %s", out)
			}
		})
	}
	fsys := base()
	fsys["home/ana/proj/.git"] = &fstest.MapFile{Data: []byte("gitdir: ../super/.git/modules/proj\n")}
	out, errs, code := runFS(t, goldenCase{args: []string{"--json", "--backend", "docker", "codex"}}, fsys)
	if code != 0 || !strings.Contains(out, `"source": "/home/ana/super/.git/modules/proj"`) {
		t.Errorf("submodule: exit %d, stderr %s, plan %s", code, errs, out)
	}
}

// TestUnprotectInsideGit: .git is guarded as a whole; unprotecting a part
// of it is a usage error that says how to unprotect all of it.
func TestUnprotectInsideGit(t *testing.T) {
	_, errs, code := runCase(t, goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "unprotect = [\".git/hooks\"]\n"}}, "--dry-run")
	if code != 2 || !strings.Contains(errs, `unprotect ".git" to let the agent change all of it`) {
		t.Errorf("exit %d, stderr %s", code, errs)
	}
}

// gitIndex is a version 2 git index (SHA-1) that lists each path as a
// submodule.
func gitIndex(paths ...string) string {
	var b bytes.Buffer
	b.WriteString("DIRC")
	binary.Write(&b, binary.BigEndian, uint32(2))
	binary.Write(&b, binary.BigEndian, uint32(len(paths)))
	for _, p := range paths {
		entry := make([]byte, 62)
		binary.BigEndian.PutUint32(entry[24:], 0o160000)
		binary.BigEndian.PutUint16(entry[60:], uint16(len(p)))
		entry = append(append(entry, p...), make([]byte, 8-(62+len(p))%8)...)
		b.Write(entry)
	}
	return b.String()
}
