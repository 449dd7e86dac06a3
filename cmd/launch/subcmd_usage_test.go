package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	sess "github.com/launchcli/launch/session"
)

// visibleSubcommands are the subcommands a user sees in launch --help.
func visibleSubcommands(t *testing.T) []string {
	t.Helper()
	app := newApp(iostreams.Streams{}, nil, func(context.Context, *flagState, *cli.Command) error { return nil })
	var names []string
	for _, c := range app.Commands {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return names
}

// TestSubcommandBadFlag: a flag a subcommand does not define is a usage
// error (exit 2) in one line naming the command, plus a hint; no help
// text, no second copy of the error (issue 26).
func TestSubcommandBadFlag(t *testing.T) {
	for _, name := range append(visibleSubcommands(t), "") {
		t.Run(name, func(t *testing.T) {
			args := []string{name, "--bogus"}
			full := "launch " + name
			if name == "" {
				args, full = []string{"--bogus", "codex"}, "launch"
			}
			out, errs, code := runCase(t, goldenCase{args: args})
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			want := full + ": flag provided but not defined: -bogus\nRun '" + full + " --help' for usage.\n"
			if errs != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", errs, want)
			}
			if out != "" {
				t.Errorf("stdout: %q", out)
			}
		})
	}
}

// TestSubcommandMissingFlagValue: a flag without its value is a usage
// error too.
func TestSubcommandMissingFlagValue(t *testing.T) {
	_, errs, code := runCase(t, goldenCase{args: []string{"attach", "--detach-keys"}})
	if code != 2 || !strings.HasPrefix(errs, "launch attach: ") || strings.Count(errs, "\n") != 2 {
		t.Errorf("exit %d, stderr:\n%s", code, errs)
	}
}

// TestSubcommandHelpOwnFlags: a subcommand's help lists its own flags,
// not the ~45 flags of a launch.
func TestSubcommandHelpOwnFlags(t *testing.T) {
	for _, name := range visibleSubcommands(t) {
		t.Run(name, func(t *testing.T) {
			out, _, code := runCase(t, goldenCase{args: []string{name, "--help"}})
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			for _, f := range []string{"--sif-path string", "--mount string", "--workspace-mount string", "--isolate ", "GLOBAL OPTIONS"} {
				if strings.Contains(out, f) {
					t.Errorf("launch %s --help lists %s:\n%s", name, f, out)
				}
			}
			if !strings.Contains(out, "--help") {
				t.Errorf("launch %s --help lacks its own --help:\n%s", name, out)
			}
		})
	}
	out, _, _ := runCase(t, goldenCase{args: []string{"ps", "--help"}})
	if !strings.Contains(out, "--all") || !strings.Contains(out, "--json") {
		t.Errorf("launch ps --help lacks its flags:\n%s", out)
	}
}

// TestGlobalFlagsBeforeSubcommand: the launch flags before a subcommand
// still apply where the subcommand uses them (doctor resolves a launch),
// and doctor keeps its --json.
func TestGlobalFlagsBeforeSubcommand(t *testing.T) {
	out, errs, code := runCase(t, goldenCase{args: []string{"--backend", "bogus", "doctor"}})
	if !strings.Contains(out+errs, `--backend: "bogus"`) {
		t.Errorf("--backend bogus doctor: exit %d, stderr:\n%s", code, errs)
	}
	out, errs, code = runCase(t, goldenCase{args: []string{"--backend", "docker", "doctor", "--json"}})
	if code == 2 || !strings.Contains(out, `"default_backend": "docker"`) {
		t.Errorf("--backend docker doctor --json: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// TestHelpAgent: launch help AGENT shows the agent's catalogue entry;
// launch help COMMAND is still the command's help.
func TestHelpAgent(t *testing.T) {
	out, errs, code := runCase(t, goldenCase{args: []string{"help", "codex"}})
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	for _, w := range []string{"codex --sandbox danger-full-access", "ghcr.io/nichd-bspc/llm:codex-latest", "oras://ghcr.io/nichd-bspc/llm-sif:codex-latest",
		"~/.codex", "api.openai.com:443", "allow=@codex", "launch codex ARGS"} {
		if !strings.Contains(out, w) {
			t.Errorf("launch help codex lacks %q:\n%s", w, out)
		}
	}
	out, _, code = runCase(t, goldenCase{args: []string{"help", "shell"}})
	if code != 0 || !strings.Contains(out, "bash -c") {
		t.Errorf("launch help shell: exit %d:\n%s", code, out)
	}
	out, _, code = runCase(t, goldenCase{args: []string{"help", "my-agent"}, files: map[string]string{"home/ana/.config/launch/config.toml": "[agents.my-agent]\ncommand = [\"sh\"]\n"}})
	if code != 0 || !strings.Contains(out, "sh") || !strings.Contains(out, "config.toml") {
		t.Errorf("launch help my-agent: exit %d:\n%s", code, out)
	}
	out, _, code = runCase(t, goldenCase{args: []string{"help", "ps"}})
	if code != 0 || !strings.Contains(out, "launch ps - list your sessions") {
		t.Errorf("launch help ps: exit %d:\n%s", code, out)
	}
	out, _, code = runCase(t, goldenCase{args: []string{"help"}})
	if code != 0 || !strings.Contains(out, "launch [flags] AGENT") {
		t.Errorf("launch help: exit %d:\n%s", code, out)
	}
	_, errs, code = runCase(t, goldenCase{args: []string{"help", "bogus"}})
	if code != 2 || !strings.Contains(errs, "codex, ") || !strings.Contains(errs, "ps") || strings.Count(errs, "\n") > 2 {
		t.Errorf("launch help bogus: exit %d:\n%s", code, errs)
	}
}

// TestCompletionValuesParse: every value completion offers for a flag is
// one the flag accepts.
func TestCompletionValuesParse(t *testing.T) {
	keys := map[string]string{}
	for _, sf := range settingFlags {
		keys[sf.flagName()] = sf.key
	}
	for flag, values := range completionValues {
		key, ok := keys[flag]
		if !ok {
			t.Errorf("completionValues: --%s is not a setting flag", flag)
			continue
		}
		for _, v := range values {
			if v == "@agents" {
				v = "allow=@codex"
			}
			if v == "allow=" {
				v = "allow=example.com"
			}
			var s Settings
			if err := s.setText(key, v); err != nil {
				t.Errorf("--%s %s: %v", flag, v, err)
			}
		}
	}
}

// TestCompletionTopLevelFlags: TAB after launch's flags offers the flags,
// and the values of a flag that takes one of a few, as the completion
// scripts ask (the word before the cursor, then
// --generate-shell-completion).
func TestCompletionTopLevelFlags(t *testing.T) {
	cfg := map[string]string{"home/ana/.config/launch/config.toml": "[agents.my-agent]\ncommand = [\"sh\"]\n"}
	cases := []struct {
		args      []string
		want, not []string
	}{
		{[]string{"--ba"}, []string{"--backend"}, []string{"ps", "codex", "--network"}},
		{[]string{"--"}, []string{"--backend", "--network", "--dry-run", "--mount", "--sif-path"}, []string{"codex"}},
		{[]string{"--backend"}, []string{"docker", "podman", "singularity"}, []string{"--backend", "codex"}},
		{[]string{"--backend=p"}, []string{"--backend=podman"}, nil},
		{[]string{"--network"}, []string{"none", "open", "allow=@codex", "allow=@my-agent"}, []string{"codex"}},
		{[]string{"--network-via"}, []string{"socket", "sidecar"}, nil},
		{[]string{"--runtime"}, []string{"runc", "runsc"}, nil},
		{[]string{"--dry-run", "--backend", "docker", "--pull"}, []string{"missing", "always", "never"}, nil},
		{[]string{"--sif-path"}, nil, []string{"codex", "ps", "--backend"}},
		{[]string{"--backend", "docker"}, []string{"codex", "ps", "my-agent"}, []string{"docker"}},
		{[]string{"codex", "--mo"}, nil, []string{"--mount"}},
	}
	for _, c := range cases {
		out, errs, code := runCase(t, goldenCase{args: append(c.args, "--generate-shell-completion"), files: cfg})
		if code != 0 {
			t.Errorf("%q: exit %d: %s", c.args, code, errs)
		}
		var words []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			w, _, _ := strings.Cut(l, ":")
			words = append(words, w)
		}
		for _, w := range c.want {
			if !slices.Contains(words, w) {
				t.Errorf("launch %s<TAB> offers %q, without %s", strings.Join(c.args, " "), words, w)
			}
		}
		for _, w := range c.not {
			if slices.Contains(words, w) {
				t.Errorf("launch %s<TAB> offers %s: %q", strings.Join(c.args, " "), w, words)
			}
		}
	}
}

// TestTrustShowHeader: launch trust --show names its columns.
func TestTrustShowHeader(t *testing.T) {
	out, errs, code := runCase(t, goldenCase{args: []string{"trust", "--show"}, trusted: true,
		files: map[string]string{"home/ana/proj/.launch.toml": "network = \"none\"\n"}})
	if code != 0 || !strings.HasPrefix(out, "FILE\tSHA256\tTRUSTED\tSTATE\n") || !strings.Contains(out, "/home/ana/proj/.launch.toml\t") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// TestCredsUnknownAgent: the error lists the agents.
func TestCredsUnknownAgent(t *testing.T) {
	_, errs, code := runCase(t, goldenCase{args: []string{"creds", "bogus"}})
	if code != 2 || !strings.Contains(errs, `"bogus"`) || !strings.Contains(errs, "claude, codex, pi, shell") {
		t.Errorf("exit %d, stderr:\n%s", code, errs)
	}
}

// TestGCTotalLine: one item is "1 item"; what has no size is counted as
// such.
func TestGCTotalLine(t *testing.T) {
	var b strings.Builder
	printLeftovers(&b, []sess.Leftover{{Kind: "scratch", Path: "/tmp/x", Why: "gone", Size: 2048}}, true)
	if !strings.Contains(b.String(), "launch gc: would free 2.0 kB in 1 item\n") {
		t.Errorf("one item:\n%s", b.String())
	}
	b.Reset()
	printLeftovers(&b, []sess.Leftover{{Kind: "scratch", Path: "/tmp/x", Size: 2048}, {Kind: "container", Path: "c (docker)", Size: -1}, {Kind: "container", Path: "d (docker)", Size: 4096}}, false)
	if !strings.Contains(b.String(), "in 3 items (1 size unknown, not counted)\n") {
		t.Errorf("three items:\n%s", b.String())
	}
}
