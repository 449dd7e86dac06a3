package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/mounts"
)

// exampleMarker precedes a generated block in the docs, at the block's
// indentation:
//
//	<!-- example stdout: launch --dry-run --backend docker codex -->
//	```
//	...what that command prints on the golden host...
//	```
//
// The command runs on the fake host of the golden tests (workspace
// /home/ana/proj, home /home/ana); stdout or stderr is the block. A name in
// parentheses picks a fixture of docFixtures (a project file, macOS, a
// filter on the lines), as in "stderr (project-typo)". The stream
// "confirmation" is what a real run asks on a terminal (summary), for the
// Plan the command makes.
var exampleMarker = regexp.MustCompile(`^(\s*)<!-- example (stdout|stderr|confirmation)(?: \(([a-z0-9-]+)\))?: launch (.*?) -->$`)

// fence opens or closes a fenced block: its indentation and language.
var fence = regexp.MustCompile("^(\\s*)```([a-z]*)\\s*$")

// docFixture is what an example needs beyond the golden host.
type docFixture struct {
	c    goldenCase  // files, env, terminal (args come from the marker)
	host func(*Host) // changes to the fake host
	code int         // the exit code the example shows
	keep string      // a regexp: only the lines that match are the example
}

const docProject = "home/ana/proj/.launch.toml"

var docFixtures = map[string]docFixture{
	// docs/config.md: a typo in a project file.
	"project-typo": {c: goldenCase{files: map[string]string{docProject: "network = \"none\"\nnetwrk = \"open\"\n"}}, code: 2},
	// docs/config.md, docs/security.md: a project file that widens.
	"project-untrusted": {c: goldenCase{files: map[string]string{docProject: "mounts = [\"~/.ssh\"]\n"}}, code: 2},
	"project-untrusted-two": {c: goldenCase{files: map[string]string{
		docProject: "mounts = [\"~/.ssh\"]\nro = [\"docs\"]\nenv = [\"AWS_SECRET_ACCESS_KEY\"]\n"}}, code: 2},
	// docs/network.md: an allowlist on a Mac.
	"macos": {host: func(h *Host) { h.GOOS = "darwin" }, code: 2},
	// docs/getting-started.md: a first dry run on a Mac (Podman, the default).
	"macos-podman": {host: func(h *Host) { h.GOOS = "darwin" }},
	// docs/network.md: the proxy sidecar on a Mac, with the Linux
	// launch binary it runs in the cache.
	"macos-sidecar": {host: func(h *Host) { h.GOOS = "darwin" },
		c: goldenCase{files: map[string]string{"home/ana/.cache/launch/bin/launch-linux-amd64": "\x7fELF"}}},
	// docs/hpc.md: Apptainer on a host where it cannot apply limits.
	"no-cgroup-limits": {host: func(h *Host) {
		h.CgroupLimits = func(string) string {
			return "this host has cgroup v1, and apptainer applies limits for an unprivileged user only with cgroup v2"
		}
	}, code: 2},
	// docs/docker.md: the terminal lines of a printed command.
	"terminal-lines": {keep: `^(launch_tty=|case )`},
	// docs/credentials.md: token files against the golden host's clock
	// (2026-12-01 15:42:33 UTC).
	"creds": {c: goldenCase{files: map[string]string{
		"home/ana/.codex/auth.json":          `{"tokens":{"access_token":"x.` + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1796141583}`)) + `.s","refresh_token":"r"}}`,
		"home/ana/.claude/.credentials.json": `{"claudeAiOauth":{"expiresAt":1796393553000}}`,
		"home/ana/.aws/credentials.json":     `{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"2026-12-01T14:12:33Z"}`,
	}}},
	// docs/agents.md: the prompt's line of the confirmation.
	"prompt": {c: goldenCase{files: map[string]string{"home/ana/prompt.md": "You work in a container.\nBe brief and careful.\n"}}, keep: `^  prompt:`},
	// docs/security.md: what the confirmation says of the host.
	"outside": {c: goldenCase{files: map[string]string{"home/ana/data/x": "x"}}, keep: `^  (outside the workspace|protected:)`},
}

// exemptBlocks are the sample-output blocks of the docs that no test
// generates, each with why: the test fails on any other unmarked block that
// shows what launch prints, and on an entry here that no longer matches.
var exemptBlocks = []struct{ file, first, why string }{
	{"docs/security.md", "launch: /home/ana/proj/.git names the git directory", "needs a .git file naming ~/.ssh (TestGitdirFileRefused, TestE2EGitdirFileRefused check the message)"},
	{"docs/agents.md", "launch: the agent's work is on the branch", "printed when a real --isolate session ends (TestE2EIsolate)"},
	{"docs/agents.md", "launch: the session's copy is kept at", "printed when a real --isolate session is interrupted (TestE2EIsolateInterrupted)"},
	{"docs/security.md", "launch: --isolate: launch did not bring the session's work back", "printed when a real --isolate session ends with a redirected git directory (TestIsolateFinishRefuses, TestE2EIsolateRefusesRedirectedGitDir)"},
	{"docs/security.md", "launch: warning: the session changed agent settings", "printed after a real session that changed ~/.claude.json's MCP servers (TestE2EAgentSettingsReadOnly)"},
	{"docs/credentials.md", "launch: warning: /home/ana/.codex/auth.json", "printed before a real launch only, against the clock"},
	{"docs/network.md", "launch: example.com:443 is not in the network allowlist", "the body of the proxy's 403, at run time (netpolicy tests)"},
	{"docs/network.md", "launch: db.example.com:5432 resolves to 127.0.0.1 (loopback)", "the body of the proxy's 403 for a name that resolves to a refused address, at run time (netpolicy TestProxyRefusesAttacks)"},
	{"docs/network.md", "launch: network forwarder: the proxy's socket", "printed by the forwarder at run time under runsc without --host-uds=open (TestE2EForwarderRefusedSocket)"},
	{"docs/podman.md", "launch: warning: mount \"/Volumes/data/proj\"", "needs a Mac with a podman machine"},
	{"docs/podman.md", "launch: warning: platform linux/amd64 on a arm64 podman machine", "needs a Mac with an arm64 podman machine"},
	{"docs/podman.md", "launch: podman: cannot reach the service at ssh://", "needs a remote host whose service does not answer"},
	{"docs/podman.md", "launch: podman: the podman machine \"podman-machine-default\" is not running", "a real run with the machine stopped, on a port of its own (TestE2EPodmanMachine; TestMachineStopped)"},
	{"docs/podman.md", "launch: user namespace keep-id: not supported", "only backend/podman's Config forces keep-id (render tests); no flag does"},
	{"docs/podman.md", "launch: the podman service at unix:///run/podman/podman.sock (rootful socket) is rootful", "a real run against a service of the other kind than the dry run guessed"},
	{"docs/podman.md", "launch: runtime \"runsc\": the podman service", "a real run against a Podman 4 service (backend/podman exec tests, with a fake engine)"},
	{"docs/hpc.md", "launch: FUSE is not usable here", "a real run on a host without FUSE (singularity sandbox tests)"},
	{"docs/security.md", "launch: warning: the session changed protected workspace paths", "printed after a real session (e2e_untrusted_test.go)"},
	{"docs/sessions.md", "$ launch --detach codex", "a transcript of real detached sessions (e2e sessions tests)"},
}

// docBlock is one fenced block of a doc.
type docBlock struct {
	file            string
	open, close     int // line indices of the fences
	indent, lang    string
	body            []string // without the indentation
	stream, fixture string   // from the marker; stream empty when unmarked
	args            string
}

// docBlocks parses the fenced blocks of a doc, with their markers.
func docBlocks(file string, lines []string) []docBlock {
	var out []docBlock
	for i := 0; i < len(lines); i++ {
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		b := docBlock{file: file, open: i, indent: m[1], lang: m[2]}
		for j := i + 1; j < len(lines); j++ {
			if strings.TrimSpace(lines[j]) == "```" {
				b.close = j
				break
			}
			b.body = append(b.body, strings.TrimPrefix(lines[j], b.indent))
		}
		if b.close == 0 {
			break // an unclosed fence: the rest is not ours to parse
		}
		if i > 0 {
			if mm := exampleMarker.FindStringSubmatch(lines[i-1]); mm != nil {
				b.stream, b.fixture, b.args = mm[2], mm[3], mm[4]
			}
		}
		out = append(out, b)
		i = b.close
	}
	return out
}

// showsOutput reports whether an unmarked block shows what launch prints:
// a transcript, a note or error, a printed command, or the confirmation.
func showsOutput(b docBlock) bool {
	if b.lang == "console" {
		return true
	}
	for _, l := range b.body {
		l = strings.TrimSpace(l)
		for _, p := range []string{"launch: ", "launch plan:", "docker run ", "podman run ", "apptainer exec ", "srun ", "sbatch ", "launch_tty=", "prompt: ", "outside the workspace, the agent sees", "network \"allow"} {
			if strings.HasPrefix(l, p) {
				return true
			}
		}
		if l == "(" {
			return true
		}
	}
	return false
}

// runDocExample runs the example's command on the golden host.
func runDocExample(t *testing.T, b docBlock) (string, error) {
	t.Helper()
	fx, ok := docFixtures[b.fixture]
	if b.fixture != "" && !ok {
		return "", fmt.Errorf("no fixture %q in docFixtures", b.fixture)
	}
	args, err := mounts.Words(b.args)
	if err != nil {
		return "", err
	}
	c := fx.c
	c.env = append([]string{"OPENAI_API_KEY=sk-example"}, c.env...)
	h := fakeHost(c.fs(), c.env, c.terminal)
	if fx.host != nil {
		fx.host(h)
	}
	var out, errb bytes.Buffer
	s := iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}
	var code int
	if b.stream == "confirmation" {
		app := newApp(s, h, func(ctx context.Context, f *flagState, cmd *cli.Command) error {
			o, err := buildOptions(h, f, cmd)
			if err != nil {
				return err
			}
			r, err := resolve(o, h)
			if err != nil {
				return err
			}
			b, _ := chooseBackend(o, h)
			_, err = fmt.Fprint(&out, summary(r.Plan, b))
			return err
		})
		if err := app.Run(context.Background(), append([]string{"launch"}, args...)); err != nil {
			return "", fmt.Errorf("%v\n%s", err, errb.String())
		}
	} else {
		code = runApp(context.Background(), s, h, append([]string{"launch"}, args...))
	}
	if code != fx.code {
		return "", fmt.Errorf("exit %d, want %d\n%s", code, fx.code, errb.String())
	}
	got := out.String()
	if b.stream == "stderr" {
		got = errb.String()
	}
	if fx.keep != "" {
		keep := regexp.MustCompile(fx.keep)
		var lines []string
		for _, l := range strings.SplitAfter(got, "\n") {
			if keep.MatchString(l) {
				lines = append(lines, l)
			}
		}
		got = strings.Join(lines, "")
	}
	return got, nil
}

// docFiles are the docs whose examples are checked: the README and docs/,
// less the generated reference and the design notes (no output there).
func docFiles(t *testing.T) []string {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"../../README.md"}
	for _, f := range files {
		switch filepath.Base(f) {
		case "cli.md", "design.md":
			continue
		}
		out = append(out, f)
	}
	return out
}

// TestDocExamples: every example the docs show with a marker is what launch
// prints now; make docs (or -update) regenerates them. Every other block
// that shows launch's output is on exemptBlocks, with the reason it is not
// generated.
func TestDocExamples(t *testing.T) {
	found := 0
	used := map[int]bool{}
	for _, file := range docFiles(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(file, "../../")
		lines := strings.Split(string(raw), "\n")
		blocks := docBlocks(name, lines)
		changed := false
		// From the last block up, so that earlier line indices hold.
		for i := len(blocks) - 1; i >= 0; i-- {
			b := blocks[i]
			if b.stream == "" {
				if !showsOutput(b) {
					continue
				}
				exempt := false
				for k, e := range exemptBlocks {
					if e.file == name && len(b.body) > 0 && strings.HasPrefix(strings.TrimSpace(b.body[0]), e.first) {
						exempt, used[k] = true, true
					}
				}
				if !exempt {
					t.Errorf("%s:%d: a block shows what launch prints but no test makes it: put <!-- example stdout|stderr|confirmation: launch ARGS --> before it (a fixture in docFixtures if it needs one), or add it to exemptBlocks with the reason", name, b.open+1)
				}
				continue
			}
			found++
			got, err := runDocExample(t, b)
			if err != nil {
				t.Errorf("%s:%d: example launch %s: %v", name, b.open, b.args, err)
				continue
			}
			want := strings.Join(b.body, "\n")
			if len(b.body) > 0 {
				want += "\n"
			}
			if got == want {
				continue
			}
			changed = true
			if !*update {
				t.Errorf("%s:%d: example launch %s is out of date (make docs, or go test ./cmd/launch -run TestDocExamples -update):\n--- the docs\n%s--- launch prints\n%s", name, b.open, b.args, want, got)
			}
			var body []string
			for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if l != "" {
					l = b.indent + l
				}
				body = append(body, l)
			}
			lines = append(append(append([]string{}, lines[:b.open+1]...), body...), lines[b.close:]...)
		}
		if changed && *update {
			if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if found == 0 {
		t.Error("no generated example found in the docs: the marker or this test changed")
	}
	for k, e := range exemptBlocks {
		if !used[k] {
			t.Errorf("exemptBlocks: no block of %s starts with %q any more: drop the entry", e.file, e.first)
		}
	}
}

// TestDocCommands: every launch command that a doc shows in a block of sh,
// of no language, or after "$ " in a console transcript (the root command:
// flags, an agent, its arguments; a subcommand with its flags) is one launch
// accepts on the golden host: its flags exist and their values parse. A
// subcommand's action does not run (its own tests run it); a line with
// shell syntax is checked up to it.
func TestDocCommands(t *testing.T) {
	checked := 0
	for _, file := range docFiles(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(file, "../../")
		for _, b := range docBlocks(name, strings.Split(string(raw), "\n")) {
			if (b.lang != "sh" && b.lang != "" && b.lang != "console") || b.stream != "" {
				continue
			}
			for i, line := range b.body {
				if b.lang == "console" {
					var ok bool
					if line, ok = strings.CutPrefix(line, "$ "); !ok {
						continue // output
					}
				}
				words := docCommand(line)
				if len(words) == 0 {
					continue
				}
				checked++
				var errb bytes.Buffer
				h := fakeHost(goldenCase{}.fs(), []string{"OPENAI_API_KEY=sk-example"}, false)
				s := iostreams.Streams{In: strings.NewReader(""), Out: io.Discard, Err: &errb}
				app := newApp(s, h, func(ctx context.Context, f *flagState, cmd *cli.Command) error {
					_, err := buildOptions(h, f, cmd)
					return err
				})
				app.ExitErrHandler = func(context.Context, *cli.Command, error) {}
				// A subcommand's flags and arguments are parsed; its
				// action (a login, a remote copy, an engine) does not run.
				noActions(app.Commands)
				if err := app.Run(context.Background(), slurmFlag(words)); err != nil {
					t.Errorf("%s:%d: %s: %v\n%s", name, b.open+2+i, line, err, errb.String())
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no launch command found in the docs' sh blocks")
	}
	t.Logf("%d launch commands checked", checked)
}

// docCommand is the launch command of a line of an sh block, up to a
// comment or shell syntax; nil when the line is no launch command.
func docCommand(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "launch ") {
		return nil
	}
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	for _, op := range []string{" | ", " && ", " || ", "; ", " > ", " < ", "$("} {
		if i := strings.Index(line, op); i >= 0 {
			line = line[:i]
		}
	}
	words, err := mounts.Words(line)
	if err != nil {
		return nil
	}
	return words
}

// noActions replaces the actions of the commands and of theirs by no-ops.
func noActions(cmds []*cli.Command) {
	for _, c := range cmds {
		c.Action = func(context.Context, *cli.Command) error { return nil }
		c.Before = nil
		noActions(c.Commands)
	}
}
