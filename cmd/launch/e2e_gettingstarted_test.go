//go:build integration

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestE2EGettingStarted runs, for real, every launch command that
// docs/getting-started.md shows in its sh blocks, and those of the README's
// first run and platform examples, as written, in a fresh
// home and project, on the backend the command names (the default backend
// when it names none), and under Slurm where it says --slurm. The only
// difference from a newcomer's machine is the user's config file: it points
// launch at the test image (no registry is reachable here), makes the codex
// agent's command `true`, so that a session starts and ends at once, and
// for a command that names no backend picks Podman, the default on a Mac
// (this Linux machine's own choice depends on who runs the test).
// Each command must exit 0; a command whose backend is missing here skips
// (fails under LAUNCH_REQUIRE_ENGINES=1).
func TestE2EGettingStarted(t *testing.T) {
	var lines [][]string
	for _, src := range []struct{ file, section string }{
		{"docs/getting-started.md", ""},
		{"README.md", "## First run"},
		{"README.md", "## One example per platform"},
	} {
		raw, err := os.ReadFile("../../" + src.file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		if src.section != "" {
			_, after, ok := strings.Cut(text, "\n"+src.section+"\n")
			if !ok {
				t.Fatalf("%s: no section %s", src.file, src.section)
			}
			text, _, _ = strings.Cut(after, "\n## ")
		}
		n := len(lines)
		for _, b := range docBlocks(src.file, strings.Split(text, "\n")) {
			if b.lang != "sh" {
				continue
			}
			for _, l := range b.body {
				if w := docCommand(l); w != nil {
					lines = append(lines, w)
				}
			}
		}
		if len(lines) == n {
			t.Fatalf("%s %s: no launch command found", src.file, src.section)
		}
	}
	for _, words := range lines {
		t.Run(strings.Join(words[1:], "_"), func(t *testing.T) {
			name, config := backendPodman, "backend = \"podman\"\n"
			if i := slices.Index(words, "--backend"); i >= 0 && i+1 < len(words) {
				name, config = backendName(words[i+1]), ""
			}
			b := backendNamed(name)
			if slices.Contains(words, "--slurm") {
				need(t, slurmReady())
			}
			s := newSession(t, b)
			config += "[agents.codex]\ncommand = [\"true\"]\n"
			switch name {
			case backendSingularity:
				config = "sif_path = \"" + ciImages + "/busybox.sif\"\n" + config
			case backendPodman:
				config = "image = \"localhost/launch-test/busybox:latest\"\n" + config
			default:
				config = "image = \"launch-test/busybox:latest\"\n" + config
			}
			s.write(filepath.Join(s.home, ".config", "launch", "config.toml"), config)
			// The README's Linux example masks a directory of the project.
			s.write(filepath.Join(s.ws, "secrets", "token"), "x\n")
			c := s.command(s.bin, words[1:]...)
			var out, errb strings.Builder
			c.Stdout, c.Stderr = &out, &errb
			if err := c.Run(); err != nil {
				t.Errorf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(words, " "), err, out.String(), errb.String())
			}
		})
	}
}
