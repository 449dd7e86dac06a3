//go:build integration

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2ECompletionBash runs the script launch completion bash prints in
// bash, as a shell does on TAB (COMP_LINE, COMP_POINT, COMP_WORDS), and
// reads what it offers: subcommands, the built-in agents and one from the
// user's config, and a subcommand's flags.
func TestE2ECompletionBash(t *testing.T) {
	bin := launchBin(t)
	const bc = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bc); err != nil {
		need(t, err) // .ci/run installs bash-completion
	}
	home := t.TempDir()
	cfg := filepath.Join(home, ".config", "launch", "config.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("[agents.my-agent]\ncommand = [\"sh\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(line string) []string {
		t.Helper()
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		script := "source " + bc + "; source <(launch completion bash); " +
			"COMP_LINE='" + line + "'; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(" + strings.Join(quoted, " ") + "); " +
			"COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); __launch_bash_autocomplete; printf '%s\\n' \"${COMPREPLY[@]}\""
		c := exec.Command("bash", "-c", script)
		c.Env = []string{"HOME=" + home, "PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH")}
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v: %s", err, out)
		}
		return strings.Fields(string(out))
	}
	for _, c := range []struct {
		line      string
		want, not []string
	}{
		{"launch ", []string{"ps", "attach", "stop", "logs", "gc", "completion", "help", "codex", "claude", "shell", "my-agent"}, []string{"_watch"}},
		{"launch co", []string{"codex", "completion"}, []string{"ps", "shell", "creds"}},
		{"launch my", []string{"my-agent"}, []string{"codex"}},
		{"launch ps --", []string{"--all", "--json"}, nil},
		{"launch gc --", []string{"--dry-run"}, nil},
	} {
		got := complete(c.line)
		for _, w := range c.want {
			if !contains(got, w) {
				t.Errorf("%q<TAB> offers %q, without %s", c.line, got, w)
			}
		}
		for _, w := range c.not {
			if contains(got, w) {
				t.Errorf("%q<TAB> offers %s: %q", c.line, w, got)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
