package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/iostreams"
)

// TestBadInput checks that each kind of bad input gives one line naming the
// value at fault, and exit code 2.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		c     goldenCase
		wants []string // all must appear in stderr
	}{
		{"unknown-agent", goldenCase{args: []string{"kodex"}}, []string{`unknown agent "kodex"`, "codex, pi, shell"}},
		{"unknown-flag", goldenCase{args: []string{"--bogus", "codex"}}, []string{"-bogus", "launch --help"}},
		{"no-agent", goldenCase{args: []string{}}, []string{"no AGENT given"}},
		{"mount-spec", goldenCase{args: []string{"--mount", "/a:/b:rx", "codex"}}, []string{"--mount", `"/a:/b:rx"`, `option "rx"`}},
		{"mount-missing", goldenCase{args: []string{"--mount", "/nope:/x", "codex"}}, []string{`"/nope"`, "no such file"}},
		{"mount-conflict", goldenCase{args: []string{"--mount", "/opt/tools:/x", "--mount", "/scratch/shared:/x", "codex"}}, []string{`mount conflict at "/x"`, `"/opt/tools"`, `"/scratch/shared"`}},
		{"mounts-env-list", goldenCase{args: []string{"codex"}, env: []string{"LLM_DEVCONTAINER_MOUNTS='/a"}}, []string{"LLM_DEVCONTAINER_MOUNTS", "unterminated"}},
		{"ro-outside", goldenCase{args: []string{"--ro", "/opt/tools", "codex"}}, []string{"--ro", `"/opt/tools"`, "not inside the workspace"}},
		{"ro-link-leaves", goldenCase{args: []string{"--ro", "data-link", "codex"}}, []string{"--ro", `"/home/ana/proj/data-link"`, `a symbolic link makes it "/home/ana/data", outside the workspace`}},
		{"mask-link-leaves", goldenCase{args: []string{"--mask", "data-link/ref.txt", "codex"}}, []string{"--mask", `"/home/ana/data/ref.txt"`, "outside the workspace"}},
		{"agent-named-trust", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "[agents.trust]\ncommand = [\"x\"]\n"}}, []string{`agent name "trust"`, "launch trust"}},
		{"unprotect-project-config", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "unprotect = [\".launch.toml\"]\n"}}, []string{"unprotect", "cannot be unprotected"}},
		{"protect-outside", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "protect = [\"../x\"]\n"}}, []string{`"../x"`, "inside it"}},
		{"ro-workspace", goldenCase{args: []string{"--ro", ".", "codex"}}, []string{"--ro", "--global-read-only"}},
		{"mask-missing", goldenCase{args: []string{"--mask", "nope", "codex"}}, []string{"--mask", "nope", "no such file"}},
		{"env-bad", goldenCase{args: []string{"--env", "1X=2", "codex"}}, []string{"--env", `"1X=2"`, "NAME=VALUE"}},
		{"env-empty-name", goldenCase{args: []string{"--env", "=x", "codex"}}, []string{"--env", `"=x"`}},
		{"workspace-mount-relative", goldenCase{args: []string{"--workspace-mount", "ws", "codex"}}, []string{"--workspace-mount", `"ws"`, "absolute"}},
		{"certs-missing", goldenCase{args: []string{"--certs", "/nope.pem", "codex"}}, []string{"--certs", `"/nope.pem"`}},
		{"certs-dir", goldenCase{args: []string{"--certs", "/opt/tools", "codex"}}, []string{"--certs", "not a file"}},
		{"path-prepend-unmounted", goldenCase{args: []string{"--path-prepend", "/opt/tools/bin", "codex"}}, []string{"--path-prepend", `"/opt/tools/bin"`, "not under any mount"}},
		{"conda-macho", goldenCase{args: []string{"--conda-env", "macenv", "codex"}}, []string{"--conda-env", "Mach-O", "linux"}},
		{"conda-unknown", goldenCase{args: []string{"--conda-env", "nope", "codex"}}, []string{"--conda-env", `"nope"`, "no such conda environment"}},
		{"conda-no-bin", goldenCase{args: []string{"--conda-env", "/opt", "codex"}}, []string{"--conda-env", "no bin directory"}},
		{"bedrock-no-creds", goldenCase{args: []string{"claude"}, env: []string{"CLAUDE_CODE_USE_BEDROCK=1"}}, []string{"bedrock", "AWS_PROFILE", "credentials.json"}},
		{"network", goldenCase{args: []string{"--network", "host", "codex"}}, []string{"--network", `"host"`, "allow=HOST"}},
		{"network-port", goldenCase{args: []string{"--network", "allow=a.com:99999", "codex"}}, []string{"--network", `"99999"`}},
		{"runtime", goldenCase{args: []string{"--runtime", "kata", "codex"}}, []string{"--runtime", `"kata"`, "runc or runsc"}},
		{"pull", goldenCase{args: []string{"--pull", "sometimes", "codex"}}, []string{"--pull", `"sometimes"`}},
		{"gpus", goldenCase{args: []string{"--gpus", "device=0", "codex"}}, []string{"--gpus", `"device=0"`}},
		{"tag", goldenCase{args: []string{"--tag", "a:b", "codex"}}, []string{"--tag", `"a:b"`}},
		{"arch", goldenCase{args: []string{"--arch", "x86", "codex"}}, []string{"--arch", `"x86"`}},
		{"backend", goldenCase{args: []string{"--backend", "lxc", "--dry-run", "codex"}}, []string{"--backend", `"lxc"`}},
		{"config-missing", goldenCase{args: []string{"--config", "/nope.toml", "codex"}}, []string{`"/nope.toml"`}},
		{"config-unknown-key", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "network = \"none\"\nnetwrk = \"open\"\n"}}, []string{".launch.toml", "line 2", `unknown key "netwrk"`}},
		{"config-type", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "\nmounts = \"/data\"\n"}}, []string{"config.toml", "line 2", "mounts"}},
		{"config-syntax", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "yes = \n"}}, []string{".launch.toml", "line 1"}},
		{"config-agent-key", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "[agents.codex]\ncomand = [\"x\"]\n"}}, []string{"line 2", `unknown key "agents.codex.comand"`}},
		{"config-agent-creds", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "[agents.x]\ncredentials = [{ path = \"/etc\" }]\n"}}, []string{"[agents.x]", `"/etc"`}},
		{"prompt-no-way", goldenCase{args: []string{"--prompt", "/home/ana/ca.pem", "shell"}}, []string{`agent "shell" takes no system prompt file`, "prompt_args"}},
		{"prompt-missing", goldenCase{args: []string{"--prompt", "nope.md", "claude"}}, []string{`prompt file "/home/ana/proj/nope.md"`, "does not exist"}},
		{"prompt-empty", goldenCase{args: []string{"--prompt", "docs/readme.md", "claude"}}, []string{`prompt file "/home/ana/proj/docs/readme.md": empty`}},
		{"prompt-args-no-file", goldenCase{args: []string{"claude"}, files: map[string]string{"home/ana/.config/launch/config.toml": "[agents.claude]\nprompt_args = [\"--x\"]\n"}}, []string{"[agents.claude]", "prompt_args", "{file} exactly once"}},
		{"skill-unknown", goldenCase{args: []string{"--skill", "nope", "claude"}, files: map[string]string{"home/ana/.claude/skills/a/SKILL.md": "", "home/ana/proj/.claude/skills/b/SKILL.md": "", "home/ana/.claude/skills/c/README": ""}}, []string{`skill "nope": not found for agent "claude"`, "skills there: a, b\n"}},
		{"skill-no-manifest", goldenCase{args: []string{"--skill", "a", "claude"}, files: map[string]string{"home/ana/.claude/skills/a/README": ""}}, []string{`skill "a"`, "has no SKILL.md"}},
		{"skill-path", goldenCase{args: []string{"--skill", "../x", "claude"}}, []string{`skill "../x"`, "no '/'"}},
		{"skill-no-dirs", goldenCase{args: []string{"--skill", "a", "shell"}}, []string{`agent "shell": launch does not know where it looks for skills`}},
		{"isolate-too-large", goldenCase{args: []string{"--isolate", "--isolate-max", "10", "codex"}}, []string{"--isolate", `"/home/ana/proj" holds`, "--isolate-max"}},
		{"resume-without-isolate", goldenCase{args: []string{"--resume", "codex-20261201-154233-4242", "codex"}}, []string{"--resume", "only with --isolate"}},
		{"resume-nothing-kept", goldenCase{args: []string{"--isolate", "--resume", "codex-20261201-154233-4242", "codex"}}, []string{"--resume", "no kept copy"}},
		{"ssh-host-unknown", goldenCase{args: []string{"--ssh-host", "nowhere", "codex"}, files: map[string]string{"home/ana/.ssh/config": "Host work\n  HostName w.example\nHost *.x\n  User a\n"}}, []string{`ssh host "nowhere"`, "hosts in your config: work"}},
		{"ssh-host-pattern", goldenCase{args: []string{"--ssh-host", "*", "codex"}}, []string{`ssh host "*"`, "without blanks or patterns"}},
		{"ssh-agent-alone", goldenCase{args: []string{"--ssh-agent", "codex"}}, []string{"--ssh-agent", "no SSH host"}},
		{"ssh-agent-no-sock", goldenCase{args: []string{"--ssh-agent", "--ssh-host", "work", "codex"}, files: map[string]string{"home/ana/.ssh/config": "Host work\n"}}, []string{"SSH_AUTH_SOCK is not set"}},
		{"gpus-repeated", goldenCase{args: []string{"--gpus", "0,0,-1", "codex"}}, []string{"--gpus", `"0,0,-1"`, `"0" is listed twice`}},
		{"gpus-negative", goldenCase{args: []string{"--gpus", "1,-1", "codex"}}, []string{"--gpus", `device "-1"`}},
		{"gpus-word", goldenCase{args: []string{"--gpus", "xyz", "codex"}}, []string{"--gpus", `"xyz"`, "GPU UUIDs"}},
		{"tag-and-tagged-image", goldenCase{args: []string{"--image", "foo:1", "--tag", "bar", "codex"}}, []string{"--tag", `"bar"`, `--image "foo:1"`, "drop one"}},
		{"certs-not-pem", goldenCase{args: []string{"--certs", "/home/ana/.claude.json", "codex"}}, []string{"--certs", "not a PEM bundle"}},
		{"json-backend", goldenCase{args: []string{"--json", "--backend", "bogus", "codex"}}, []string{"--backend", `"bogus"`}},
		{"config-backend-from-project", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "# a comment\nbackend = \"dokcer\"\n"}}, []string{"/home/ana/proj/.launch.toml: line 2: backend", `"dokcer"`, "want docker, podman or singularity"}},
		{"config-gpus-from-user", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "gpus = \"0,x\"\n"}}, []string{"config.toml: line 1: gpus", `"x"`}},
		{"config-type-in-words", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "\nmounts = { a = 1 }\n"}}, []string{".launch.toml: line 2: mounts: want a list, not a table"}},
		{"config-ro-outside", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "ro = [\"/opt/tools\"]\n"}}, []string{".launch.toml: line 1: ro", `"/opt/tools"`, "not inside the workspace"}},
		{"env-backend", goldenCase{args: []string{"codex"}, env: []string{"LAUNCH_BACKEND=lxc"}}, []string{"LAUNCH_BACKEND", `"lxc"`}},
		{"cap-unknown", goldenCase{args: []string{"--cap-add", "FLY", "codex"}}, []string{"--cap-add", `"FLY"`, "NET_BIND_SERVICE"}},
		{"cap-all", goldenCase{args: []string{"--cap-add", "ALL", "codex"}}, []string{"--cap-add", `"ALL"`, "--privileges image"}},
		{"privileges-word", goldenCase{args: []string{"--privileges", "root", "codex"}}, []string{"--privileges", `"root"`, "least", "image"}},
		{"memory-word", goldenCase{args: []string{"--memory", "lots", "codex"}}, []string{"--memory", `"lots"`, "512m"}},
		{"memory-tiny", goldenCase{args: []string{"--memory", "1m", "codex"}}, []string{"--memory", `"1m"`, "below 6m"}},
		{"cpus-zero", goldenCase{args: []string{"--cpus", "0", "codex"}}, []string{"--cpus", `"0"`}},
		{"pids-tiny", goldenCase{args: []string{"--pids", "4", "codex"}}, []string{"--pids", `"4"`, "at least 16"}},
		{"config-memory", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "[agents.codex]\nmemory = \"4x\"\n"}}, []string{"config.toml", "memory", `"4x"`}},
		{"config-cap", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "cap_add = [\"SYS_FLY\"]\n"}}, []string{"config.toml: line 1: cap_add", `"SYS_FLY"`}},
		{"workspace-home", goldenCase{args: []string{"codex"}, cwd: "/home/ana"}, []string{`workspace "/home/ana" is your home directory`, `"/home/ana/.aws"`, "--allow-secrets", "project directory"}},
		{"workspace-above-home", goldenCase{args: []string{"codex"}, cwd: "/home"}, []string{`workspace "/home" contains your home directory /home/ana`, "--allow-secrets"}},
		{"workspace-root", goldenCase{args: []string{"codex"}, cwd: "/"}, []string{`workspace "/" contains your home directory`}},
		{"workspace-holds-ssh", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.ssh/id_ed25519": "key", "home/ana/proj/.docker/config.json": "{}"}}, []string{`workspace "/home/ana/proj" holds "/home/ana/proj/.ssh", "/home/ana/proj/.docker/config.json"`, "--mask .ssh", "--allow-secrets"}},
		{"config-bad-mount", goldenCase{args: []string{"codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "mounts = [\"/a:b\"]\n"}}, []string{".launch.toml", "mounts", "must be absolute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCase(t, tt.c, "--dry-run")
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout holds %q; a failed launch prints nothing there", out)
			}
			// One line, and for a command line the parser refused, the
			// hint where its usage is.
			msg, _, _ := strings.Cut(errOut, "\nRun 'launch --help' for usage.\n")
			if n := strings.Count(strings.TrimSuffix(msg, "\n"), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one:\n%s", n+1, errOut)
			}
			for _, w := range tt.wants {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not mention %q", errOut, w)
				}
			}
		})
	}
}

// TestDryRunCreatesNothing runs launch on the real file system: neither a
// dry run nor a rejected launch may create anything in the home directory or
// the workspace.
func TestDryRunCreatesNothing(t *testing.T) {
	home, ws := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(ws, "secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	h, err := systemHost(false)
	if err != nil {
		t.Fatal(err)
	}
	h.Home, h.Cwd = home, ws
	h.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
	before := listTree(t, home, ws)
	for _, args := range [][]string{
		{"--dry-run", "--mask", "secrets", "--backend", "docker", "shell"},
		{"--dry-run", "--mask", "secrets", "--backend", "podman", "claude"},
		{"--dry-run", "--mask", "secrets", "--backend", "singularity", "--singularity-bin", "/bin/true", "--sif-path", "/x.sif", "pi"},
		{"--json", "codex"},
		{"--mask", "nope", "codex"},
		{"--network", "allow=", "codex"},
	} {
		s := iostreams.Streams{In: strings.NewReader(""), Out: &strings.Builder{}, Err: &strings.Builder{}}
		runApp(context.Background(), s, h, append([]string{"launch"}, args...))
	}
	if after := listTree(t, home, ws); after != before {
		t.Errorf("the file system changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func listTree(t *testing.T, roots ...string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range roots {
		err := filepath.Walk(r, func(p string, _ os.FileInfo, err error) error {
			b.WriteString(p + "\n")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestHelp: -h before the agent is launch's help, after it the agent's.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-h", "codex"}, {"--network", "none", "--help", "codex", "x"}} {
		out, errOut, code := runCase(t, goldenCase{args: args})
		if code != 0 || !strings.Contains(out, "USAGE:") || errOut != "" {
			t.Errorf("launch %q: exit %d, stdout %.40q, stderr %q; want launch's help", args, code, out, errOut)
		}
	}
	out, _, code := runCase(t, goldenCase{args: []string{"--json", "codex", "-h"}})
	if code != 0 || !strings.Contains(out, `"-h"`) {
		t.Errorf("launch --json codex -h: exit %d; want -h passed to codex:\n%s", code, out)
	}
}
