//go:build integration

package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EPromptAndSkills: a probe standing in for claude (the catalogue's
// claude with only its command replaced, so it receives the same
// arguments) finds the file its --append-system-prompt-file names, owned by
// itself with mode 0600 and holding the prompt, and the skills asked for,
// a project one and a user one, readable and read-only.
func TestE2EPromptAndSkills(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		s.backend.flags = s.backend.debian
		probe := `echo "args: $*"; f="$2"; echo "me: $(id -u)"; echo "file: $(stat -c '%u %a' "$f")"; cat "$f"; ` +
			`for d in "$PWD/.claude/skills/lint" "$HOME/.claude/skills/review"; do ` +
			`if [ -r "$d/SKILL.md" ]; then echo "skill: $(basename "$d") $(cat "$d/SKILL.md")"; fi; ` +
			`if (echo x > "$d/planted") 2>/dev/null; then echo "WRITABLE $d"; else echo "read-only $(basename "$d")"; fi; done; ` +
			`ls "$HOME/.claude/skills"`
		s.write(filepath.Join(s.home, ".config/launch/config.toml"), fmt.Sprintf("[agents.claude]\ncommand = [\"/bin/sh\", \"-c\", %q, \"probe\"]\nskills = [\"review\"]\n", probe))
		s.write(filepath.Join(s.home, ".claude/skills/review/SKILL.md"), "review-manifest\n")
		s.write(filepath.Join(s.home, ".claude/skills/other/SKILL.md"), "other\n")
		s.write(filepath.Join(s.ws, ".claude/skills/lint/SKILL.md"), "lint-manifest\n")
		prompt := filepath.Join(s.home, "prompt.md")
		s.write(prompt, "You are in a test.\nSecond line.\n")

		out, errs, code := s.run("", "--yes", "--prompt", prompt, "--skill", "lint", "claude")
		for _, want := range []string{
			"args: --append-system-prompt-file /etc/launch/prompt.md\n",
			"You are in a test.\nSecond line.\n",
			"skill: lint lint-manifest\n", "read-only lint\n",
			"skill: review review-manifest\n", "read-only review\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in the probe's output; exit %d, stdout:\n%s\nstderr:\n%s", want, code, out, errs)
			}
		}
		var me, owner, mode string
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "me: "); ok {
				me = v
			}
			if v, ok := strings.CutPrefix(l, "file: "); ok {
				owner, mode, _ = strings.Cut(v, " ")
			}
		}
		if me == "" || owner != me || mode != "600" {
			t.Errorf("prompt file: owner %q mode %q, want the agent's uid %q and 600; stdout:\n%s\nstderr:\n%s", owner, mode, me, out, errs)
		}
		if strings.Contains(out, "WRITABLE") || code != 0 {
			t.Errorf("exit %d; stdout:\n%s\nstderr:\n%s", code, out, errs)
		}

		// An unknown skill stops the launch before anything starts and
		// names the skills there are.
		out, errs, code = s.run("", "--yes", "--skill", "nope", "claude")
		if code != 2 || !strings.Contains(errs, `skill "nope": not found`) || !strings.Contains(errs, "lint, other, review") || out != "" {
			t.Errorf("unknown skill: exit %d, stdout %q, stderr:\n%s", code, out, errs)
		}
	})
}
