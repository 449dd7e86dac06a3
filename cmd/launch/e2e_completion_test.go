//go:build integration

package main

import (
	"fmt"
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
	home := completionHome(t)
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
	checkCompletion(t, complete)
}

// completionCases are what TAB offers after each line, in every shell.
var completionCases = []struct {
	line      string
	want, not []string
}{
	{"launch ", []string{"ps", "attach", "stop", "logs", "gc", "completion", "help", "codex", "claude", "shell", "my-agent"}, []string{"_watch"}},
	{"launch co", []string{"codex", "completion"}, []string{"ps", "shell", "creds"}},
	{"launch my", []string{"my-agent"}, []string{"codex"}},
	{"launch ps --", []string{"--all", "--json"}, nil},
	{"launch gc --", []string{"--dry-run", "--images"}, nil},
	{"launch --ba", []string{"--backend"}, []string{"--network", "codex"}},
	{"launch --backend ", []string{"docker", "podman", "singularity"}, []string{"codex", "ps"}},
	{"launch --network ", []string{"none", "open", "allow=@codex", "allow=@my-agent"}, []string{"codex"}},
	{"launch --backend docker --runtime ", []string{"runc", "runsc"}, []string{"codex"}},
	{"launch --backend docker ", []string{"codex", "ps"}, []string{"docker"}},
}

// checkCompletion checks completionCases with complete, which returns the
// words a shell offers after a line.
func checkCompletion(t *testing.T, complete func(line string) []string) {
	t.Helper()
	for _, c := range completionCases {
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

// completionHome is a home whose config adds the agent my-agent.
func completionHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	cfg := filepath.Join(home, ".config", "launch", "config.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("[agents.my-agent]\ncommand = [\"sh\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return home
}

// TestE2ECompletionFish loads the script launch completion fish prints in
// fish and asks fish what TAB offers (complete -C, fish's own scripted
// completion): "word<TAB>description" lines.
func TestE2ECompletionFish(t *testing.T) {
	bin := launchBin(t)
	if _, err := exec.LookPath("fish"); err != nil {
		need(t, err) // .ci/run installs fish
	}
	home := completionHome(t)
	checkCompletion(t, func(line string) []string {
		t.Helper()
		c := exec.Command("fish", "--no-config", "-c", "source (launch completion fish | psub); complete -C "+shellQuote(line))
		c.Env = []string{"HOME=" + home, "PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH")}
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v: %s", err, out)
		}
		var words []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			w, _, _ := strings.Cut(l, "\t")
			words = append(words, w)
		}
		return words
	})
}

// zshCapture types a line and TAB in an interactive zsh under zpty, with
// compinit (the completion system) and launch's script loaded, and writes
// every candidate the completion system adds (compadd, wrapped) to a file:
// the technique of zsh-capture-completion (github.com/Valodim/zsh-capture-completion).
const zshCapture = `zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PROMPT= ; RPROMPT= ; unsetopt zle_bracketed_paste'
zpty -w z 'autoload -U compinit && compinit -u'
zpty -w z 'source <(launch completion zsh)'
zpty -w z "__out=${(q)2}"
zpty -w z 'compadd () { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi; typeset -a __hits; builtin compadd -A __hits "$@"; (( $#__hits )) && print -rl -- $__hits >> $__out; builtin compadd "$@" }'
zpty -n -w z "$1"$'\t'
for i in {1..100}; do [[ -s $2 ]] && break; sleep 0.1; done
sleep 0.3
zpty -d z
`

// TestE2ECompletionZsh loads the script launch completion zsh prints into
// zsh's completion system (compinit) in an interactive zsh and reads what
// TAB offers (zshCapture).
func TestE2ECompletionZsh(t *testing.T) {
	bin := launchBin(t)
	if _, err := exec.LookPath("zsh"); err != nil {
		need(t, err) // .ci/run installs zsh
	}
	home := completionHome(t)
	script := filepath.Join(home, "capture.zsh")
	if err := os.WriteFile(script, []byte(zshCapture), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	checkCompletion(t, func(line string) []string {
		t.Helper()
		n++
		out := filepath.Join(home, fmt.Sprintf("hits-%d", n))
		c := exec.Command("zsh", "-f", script, line, out)
		c.Env = []string{"HOME=" + home, "PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH"), "TERM=dumb"}
		if b, err := c.CombinedOutput(); err != nil {
			t.Fatalf("zsh: %v: %s", err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("zsh offered nothing after %q: %v", line, err)
		}
		return strings.Fields(string(b))
	})
}

// shellQuote quotes s for fish and POSIX shells alike (no ' inside).
func shellQuote(s string) string { return "'" + s + "'" }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
