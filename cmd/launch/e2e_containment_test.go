//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/shell"
)

// Attacks of a hostile agent on what runs on the host after its session
// (docs/security.md, --isolate and Agent settings), each on Docker, rootful
// and rootless Podman and Apptainer.

// containmentBackends are Docker, rootless Podman, Apptainer (launch as the
// ordinary test user) and rootful Podman (launch as root).
func containmentBackends() []e2eBackend {
	var out []e2eBackend
	for _, b := range networkBackends() {
		if b.name != "docker-runsc" {
			out = append(out, b)
		}
	}
	return out
}

func forEachContainmentBackend(t *testing.T, f func(t *testing.T, s *session)) {
	for _, b := range containmentBackends() {
		t.Run(string(b.name), func(t *testing.T) {
			s := newNetSession(t, b)
			s.backend.flags = s.backend.debian
			f(t, s)
		})
	}
}

// plantGitConfig is a shell line that appends text to the copy's
// .git/config (the user has unprotected .git) and asks for filter x on every
// file, then changes a file.
func plantGitConfig(text string) string {
	return fmt.Sprintf(`printf %%s %s >> .git/config && echo '* filter=x' > .gitattributes && echo two >> modify`, shell.Quote(text))
}

// TestE2EIsolateRunsNoAgentGitConfig: with .git unprotected (the
// user lets the agent set up its copy's repository), the agent plants (a)
// a clean filter that its .gitattributes asks for and (b) gpg.program with
// commit.gpgsign; launch brings the work back as a branch and neither
// command runs on the host. (On the code before the change, launch's own
// git add / git commit in the copy ran both.)
func TestE2EIsolateRunsNoAgentGitConfig(t *testing.T) {
	forEachContainmentBackend(t, func(t *testing.T, s *session) {
		git := isolatedRepo(t, s)
		s.write(filepath.Join(s.home, ".config/launch/config.toml"), "unprotect = [\".git\"]\n")
		evil := filepath.Join(s.home, "evil.sh")
		for _, c := range []struct{ name, config string }{
			{"filter", "[filter \"x\"]\n\tclean = %s; cat\n\trequired = true\n"},
			{"gpg", "[gpg]\n\tprogram = %s\n[commit]\n\tgpgsign = true\n"},
		} {
			marker := filepath.Join(s.home, c.name+"-ran")
			s.write(evil, "#!/bin/sh\ntouch "+marker+"\ncat\n")
			os.Chmod(evil, 0o755)
			before := git("for-each-ref", "--format=%(refname:short)", "refs/heads/launch/")
			out, errs, code := s.run("", "--yes", "--isolate", "shell", plantGitConfig(fmt.Sprintf(c.config, evil)))
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("%s: the command the agent planted in the copy's git config ran on the host; stderr:\n%s", c.name, errs)
			}
			if code != 0 {
				t.Fatalf("%s: exit %d; stdout:\n%s\nstderr:\n%s", c.name, code, out, errs)
			}
			var branch string
			for _, b := range strings.Fields(git("for-each-ref", "--format=%(refname:short)", "refs/heads/launch/")) {
				if !strings.Contains(before, b) {
					branch = b
				}
			}
			if branch == "" {
				t.Fatalf("%s: no new launch/ branch; stderr:\n%s", c.name, errs)
			}
			if got := git("show", branch+":modify"); got != "one\ntwo" {
				t.Errorf("%s: modify on %s = %q, want the agent's change", c.name, branch, got)
			}
			if got := git("log", "-1", "--format=%an %G?", branch); got != "launch N" {
				t.Errorf("%s: the result commit: %q, want launch's, unsigned", c.name, got)
			}
		}
	})
}

// TestE2EIsolateRefusesRedirectedGitDir: (c) the agent points the copy's
// git directory elsewhere with a commondir (whose config names a clean
// filter), or writes a config.worktree: launch refuses to bring the work
// back, says why and how to go on, keeps the copy, makes no branch, and
// runs nothing. (Before the change, launch's git add followed the
// commondir and ran the filter on the host.)
func TestE2EIsolateRefusesRedirectedGitDir(t *testing.T) {
	forEachContainmentBackend(t, func(t *testing.T, s *session) {
		git := isolatedRepo(t, s)
		marker := filepath.Join(s.home, "commondir-ran")
		for _, c := range []struct{ name, plant, why string }{
			{"commondir", fmt.Sprintf(`mkdir -p evil/objects evil/refs && printf '[filter "x"]\n\tclean = touch %s; cat\n' > evil/config && echo ../evil > .git/commondir && echo '* filter=x' > .gitattributes && echo two >> modify`, marker),
				"has a commondir"},
			{"config.worktree", fmt.Sprintf(`printf '[filter "x"]\n\tclean = touch %s; cat\n' > .git/config.worktree && echo '* filter=x' > .gitattributes && echo two >> modify`, marker),
				"config.worktree"},
		} {
			out, errs, code := s.run("", "--yes", "--isolate", "shell", c.plant)
			if _, err := os.Stat(marker); err == nil {
				t.Fatalf("%s: the filter the agent planted ran on the host; stderr:\n%s", c.name, errs)
			}
			if code == 0 || !strings.Contains(errs, "did not bring the session's work back") || !strings.Contains(errs, c.why) || !strings.Contains(errs, "launch --isolate --resume ") {
				t.Errorf("%s: exit %d, want a refusal naming %q and how to go on; stdout:\n%s\nstderr:\n%s", c.name, code, c.why, out, errs)
			}
			if b := git("for-each-ref", "refs/heads/launch/"); b != "" {
				t.Errorf("%s: a branch was made: %s", c.name, b)
			}
			kept, _ := filepath.Glob(filepath.Join(s.home, ".local/state/launch/isolated/shell-*", "modify"))
			found := false
			for _, k := range kept {
				if b, _ := os.ReadFile(k); string(b) == "one\ntwo\n" {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: the copy with the agent's work is not kept: %v", c.name, kept)
			}
			// The kept copies are the test's; clear them for the next case.
			copies, _ := filepath.Glob(filepath.Join(s.home, ".local/state/launch/isolated/shell-*"))
			for _, p := range copies {
				os.RemoveAll(p)
			}
		}
	})
}

// TestE2EAgentSettingsReadOnly: (d) the agent tries to add hooks to
// ~/.claude/settings.json, notify to ~/.codex/config.toml, create
// ~/.claude/settings.local.json and a Pi extension, by writing, removing
// and renaming them: every attempt fails, the host files are unchanged
// (the missing ones existed only as launch's empty placeholders, removed
// after the session), and a
// credential file and the session history stay writable. It also adds MCP
// servers to ~/.claude.json, which stays writable: they are put back after
// the session and reported, its other change kept.
func TestE2EAgentSettingsReadOnly(t *testing.T) {
	forEachContainmentBackend(t, func(t *testing.T, s *session) {
		files := map[string]string{
			".claude/settings.json": `{"model":"mine"}`,
			".codex/config.toml":    "model = \"mine\"\n",
		}
		for rel, content := range files {
			s.write(filepath.Join(s.home, rel), content)
		}
		s.write(filepath.Join(s.home, ".claude.json"), `{"numStartups": 1, "mcpServers": {"mine": {"command": "mine"}}}`)
		probe := `try() { if ( eval "$2" ) 2>/dev/null; then echo "WROTE $1"; else echo "refused $1"; fi; }
try settings 'printf "{\"hooks\":{\"Stop\":[]}}" > ~/.claude/settings.json'
try settings-rm 'rm -f ~/.claude/settings.json && echo "{\"hooks\":{}}" > ~/.claude/settings.json'
try settings-mv 'mv ~/.claude/settings.json ~/.claude/old.json'
try settings-local 'echo "{\"hooks\":{}}" > ~/.claude/settings.local.json'
try notify 'echo "notify = [\"touch\", \"/tmp/x\"]" >> ~/.codex/config.toml'
try notify-rm 'rm -f ~/.codex/config.toml && echo "notify = []" > ~/.codex/config.toml'
try pi-extension 'mkdir -p ~/.pi/agent/extensions && echo "export default 1" > ~/.pi/agent/extensions/x.ts'
try credential 'echo token > ~/.claude/.credentials.json'
try history 'mkdir -p ~/.claude/projects && echo line >> ~/.claude/projects/h.jsonl && echo line >> ~/.codex/history.jsonl'
try state 'echo "{\"numStartups\": 2, \"mcpServers\": {\"evil\": {\"command\": \"touch\"}}, \"projects\": {\"/x\": {\"mcpServers\": {\"e\": {}}}}}" > ~/.claude.json'
`
		out, errs, code := s.run("", "--yes", "shell", probe)
		if code != 0 {
			t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		for _, want := range []string{"refused settings\n", "refused settings-rm\n", "refused settings-mv\n", "refused settings-local\n", "refused notify\n", "refused notify-rm\n", "refused pi-extension\n", "WROTE credential\n", "WROTE history\n", "WROTE state\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q; stdout:\n%s\nstderr:\n%s", want, out, errs)
			}
		}
		for rel, content := range files {
			if got := mustRead(filepath.Join(s.home, rel)); got != content {
				t.Errorf("~/%s on the host = %q, want %q", rel, got, content)
			}
		}
		if got := mustRead(filepath.Join(s.home, ".claude/.credentials.json")); got != "token\n" {
			t.Errorf("~/.claude/.credentials.json on the host = %q, want the agent's write", got)
		}
		// The placeholders launch made for the read-only mounts are gone.
		for _, rel := range []string{".claude/settings.local.json", ".codex/rules", ".pi/agent/extensions"} {
			if _, err := os.Lstat(filepath.Join(s.home, rel)); err == nil {
				t.Errorf("~/%s is left on the host", rel)
			}
		}
		// ~/.claude.json stays writable (Claude's state), but its MCP
		// servers are put back, and stderr says so.
		var state struct {
			NumStartups int            `json:"numStartups"`
			MCPServers  map[string]any `json:"mcpServers"`
			Projects    map[string]map[string]any
		}
		if err := json.Unmarshal([]byte(mustRead(filepath.Join(s.home, ".claude.json"))), &state); err != nil {
			t.Errorf("~/.claude.json: %v", err)
		}
		if _, evil := state.MCPServers["evil"]; evil || state.MCPServers["mine"] == nil || state.Projects["/x"]["mcpServers"] != nil || state.NumStartups != 2 {
			t.Errorf("~/.claude.json after the session: %+v; want the MCP servers as they were and the other change kept", state)
		}
		if !strings.Contains(errs, "put back as they were") || !strings.Contains(errs, ".claude.json: mcpServers") {
			t.Errorf("stderr does not report the changed MCP servers:\n%s", errs)
		}
		if ext, _ := os.ReadDir(filepath.Join(s.home, ".pi/agent/extensions")); len(ext) != 0 {
			t.Errorf("~/.pi/agent/extensions holds %v", ext)
		}
	})
}
