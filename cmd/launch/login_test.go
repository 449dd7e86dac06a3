package main

import (
	"strings"
	"testing"
)

// TestLogin runs launch login on the fake host with --dry-run: what each
// backend would run, and the refusals.
func TestLogin(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     []string
		code    int
		out     []string // in stdout, in order
		err     string   // in stderr
		notWant string   // not in stdout
	}{
		{
			name: "docker relays the callback", args: []string{"--dry-run", "--backend", "docker", "login", "--no-browser-check", "codex"},
			out: []string{"-p 127.0.0.1:1455:1456", "--mount type=bind,source=/usr/local/bin/launch,target=/.launch/launch,readonly", "/.launch/launch _relay --listen 0.0.0.0:1456 --to 127.0.0.1:1455 -- codex login\n"},
		},
		{
			name: "podman with another host port", args: []string{"--dry-run", "--backend", "podman", "login", "--no-browser-check", "--port", "21455", "codex"},
			out: []string{"-p 127.0.0.1:21455:1456", "/.launch/launch _relay --listen 0.0.0.0:1456 --to 127.0.0.1:1455 -- codex login"},
		},
		{
			name: "login arguments follow the agent", args: []string{"--dry-run", "--backend", "docker", "login", "--no-browser-check", "codex", "--device-auth"},
			out: []string{"-- codex login --device-auth\n"},
		},
		{
			name: "apptainer: the host's own port, no relay", args: []string{"--dry-run", "--backend", "singularity", "login", "--no-browser-check", "codex"},
			out: []string{"codex login"}, notWant: "_relay",
			err: "publish 127.0.0.1:1455:1455: apptainer shares the host's network",
		},
		{
			name: "apptainer refuses another host port", args: []string{"--dry-run", "--backend", "singularity", "login", "--no-browser-check", "--port", "21455", "codex"},
			code: 2, err: "cannot map ports",
		},
		{
			name: "network none is opened for the login", args: []string{"--dry-run", "--backend", "docker", "--network", "none", "login", "--no-browser-check", "codex"},
			out: []string{"-p 127.0.0.1:1455:1456"}, notWant: "--network none", err: "warning: login: network open for the login",
		},
		{
			name: "no browser points to launch refresh", args: []string{"--dry-run", "--backend", "docker", "login", "codex"},
			code: 2, err: "no browser on this machine (no DISPLAY or WAYLAND_DISPLAY)",
		},
		{
			name: "over ssh points to launch refresh", args: []string{"--dry-run", "--backend", "docker", "login", "codex"}, env: []string{"DISPLAY=:0", "SSH_CONNECTION=10.0.0.1 22 10.0.0.2 22"},
			code: 2, err: "launch refresh --kind codex",
		},
		{
			name: "an agent without a login", args: []string{"--dry-run", "--backend", "docker", "login", "pi"},
			code: 2, err: "login pi: the agent has no login command",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCase(t, goldenCase{args: tt.args, env: tt.env,
				// launch's own binary, which the relay runs in the container.
				files: map[string]string{"usr/local/bin/launch": "\x7fELF"}})
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			rest := out
			for _, w := range tt.out {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order)\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if tt.notWant != "" && strings.Contains(out, tt.notWant) {
				t.Errorf("stdout has %q:\n%s", tt.notWant, out)
			}
			if !strings.Contains(errOut, tt.err) {
				t.Errorf("stderr lacks %q:\n%s", tt.err, errOut)
			}
		})
	}
}
