package main

import (
	"strings"
	"testing"
)

// TestNewcomerFindings: what a new user met on the way (issue 16), one
// case each; every one failed before its fix.
func TestNewcomerFindings(t *testing.T) {
	const user = "home/ana/.config/launch/config.toml"
	tests := []struct {
		name      string
		c         goldenCase
		code      int
		out, errs []string
	}{
		{name: "singularity-with-oci-image", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "--image", "foo/bar:1", "shell"}}, code: 2,
			errs: []string{`--image "foo/bar:1": an OCI image, which the singularity backend does not run`, "--sif-path docker://foo/bar:1"}},
		{name: "missing-sif-path-in-dry-run", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "--sif-path", "/nope.sif", "shell"}}, code: 2,
			errs: []string{`--sif-path "/nope.sif": no such file or directory`}},
		{name: "sif-path-tilde", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "--sif-path", "~/images/llm.sif", "shell"}},
			out: []string{"\t/home/ana/images/llm.sif /bin/bash\n"}},
		{name: "one-dashdash-dropped", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "shell", "--", "--", "echo", "hi"}},
			out: []string{`/bin/bash -c '-- echo hi'`}},
		{name: "dashdash-in-the-command-kept", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "shell", "echo", "--", "hi"}},
			out: []string{`/bin/bash -c 'echo -- hi'`}},
		{name: "shell-help", c: goldenCase{args: []string{"--backend", "docker", "shell", "-h"}},
			out: []string{"launch shell runs bash in the container", "launch -h lists them"}},
		{name: "user-config-mask-of-absent-path", c: goldenCase{args: []string{"--dry-run", "-v", "--backend", "docker", "codex"}, files: map[string]string{user: "mask = [\".env.local\", \"secrets\"]\n"}},
			errs: []string{`config.toml: line 1: mask ".env.local": not in this workspace; skipped`}, out: []string{"target=/home/ana/proj/secrets"}},
		// The printed command decides -t where it runs, on every backend
		// (| sh, eval); the dry run's own terminal changes nothing.
		{name: "dry-run-terminal-decided-when-run-docker", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "shell"}},
			out: []string{"launch_tty=; if [ -t 0 ] && [ -t 1 ]; then launch_tty=-t; fi\n", " -i $launch_tty --name "}},
		{name: "dry-run-terminal-decided-when-run-podman", c: goldenCase{args: []string{"--dry-run", "--backend", "podman", "shell"}, terminal: true},
			out: []string{"exec </dev/tty", " -i $launch_tty --name "}},
		{name: "dry-run-terminal-decided-when-run-apptainer", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "shell"}},
			out: []string{"(\ncase $- in *i*) ;; *s*) if [ -t 1 ] && { true </dev/tty; } 2>/dev/null; then exec </dev/tty; else exec </dev/null; fi ;; esac\n"}},
		{name: "flag-mask-of-absent-path", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "--mask", ".env.local", "codex"}}, code: 2,
			errs: []string{"--mask", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runCase(t, tt.c)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errs)
			}
			for _, w := range tt.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.errs {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}
