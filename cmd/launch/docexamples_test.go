package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/launchcli/launch/mounts"
)

// exampleMarker precedes a generated block in the docs:
//
//	<!-- example stdout: launch --dry-run --backend docker codex -->
//	```
//	...what that command prints on the golden host...
//	```
//
// The command runs on the fake host of the golden tests (workspace
// /home/ana/proj, home /home/ana); stdout or stderr is the block.
var exampleMarker = regexp.MustCompile("(?m)^<!-- example (stdout|stderr): launch (.*?) -->\n```([a-z]*)\n((?s:.*?))```\n")

// TestDocExamples: every example the docs show with a marker is what launch
// prints now; make docs (or -update) regenerates them.
func TestDocExamples(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	found := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		changed := false
		out := exampleMarker.ReplaceAllStringFunc(text, func(block string) string {
			m := exampleMarker.FindStringSubmatch(block)
			found++
			args, err := mounts.Words(m[2])
			if err != nil {
				t.Errorf("%s: example %q: %v", file, m[2], err)
				return block
			}
			stdout, stderr, code := runCase(t, goldenCase{args: args, env: []string{"OPENAI_API_KEY=sk-example"}})
			if code != 0 {
				t.Errorf("%s: example launch %s: exit %d\n%s", file, m[2], code, stderr)
			}
			got := stdout
			if m[1] == "stderr" {
				got = stderr
			}
			if got != m[4] {
				changed = true
				if !*update {
					t.Errorf("%s: example launch %s is out of date (go test ./cmd/launch -run TestDocExamples -update):\n--- the docs\n%s--- launch prints\n%s", file, m[2], m[4], got)
				}
			}
			return "<!-- example " + m[1] + ": launch " + m[2] + " -->\n```" + m[3] + "\n" + got + "```\n"
		})
		if changed && *update {
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if found == 0 {
		t.Error("no generated example found in the docs: the marker or this test changed")
	}
}
