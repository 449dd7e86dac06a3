package main

import (
	"strings"
	"testing"
)

// TestNetworkPolicies: what a user sees for each way of naming a policy:
// agent lists, unknown agents, macOS.
func TestNetworkPolicies(t *testing.T) {
	tests := []struct {
		name  string
		c     goldenCase
		goos  string
		code  int
		wants []string // in stdout+stderr
		nots  []string
	}{
		{name: "agent-list", c: goldenCase{args: []string{"--json", "--network", "allow=@codex,*.github.com", "codex"}},
			wants: []string{`"host": "api.openai.com"`, `"host": "*.github.com"`, `"binary": "/usr/local/bin/launch"`, `"port": 3128`}},
		{name: "agent-list-in-config", c: goldenCase{args: []string{"--json", "codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "network = \"allow=@claude\"\n[agents.claude]\nnetwork_allow = [\"api.anthropic.com:443\"]\n"}},
			wants: []string{`"host": "api.anthropic.com"`}, nots: []string{"statsig"}},
		{name: "unknown-agent-list", c: goldenCase{args: []string{"--network", "allow=@nope", "codex"}}, code: 2,
			wants: []string{`network: @nope: no agent "nope" with a suggested allowlist (network_allow); have @claude, @codex, @pi`}},
		{name: "bad-agent-ref", c: goldenCase{args: []string{"--network", "allow=@No!", "codex"}}, code: 2,
			wants: []string{`--network: network "allow=@No!": "@No!": want @AGENT`}},
		{name: "macos-refused", goos: "darwin", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "--network", "allow=github.com", "codex"}}, code: 2,
			wants: []string{`network "allow=github.com": the allowlist needs launch's host proxy, which shares a Unix socket with the container (Linux only); use --network none or open`}},
		{name: "dry-run-notes", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "--network", "allow=github.com:22", "codex"}},
			wants: []string{"launch: network allow=github.com:22: the container has no network (only lo)", "launch proxy --socket /tmp/launch-net-4242/proxy.sock", "--net --network none", "/.launch/launch _forward"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			goos := tt.goos
			if goos == "" {
				goos = "linux"
			}
			out, errOut, code := runCaseOn(t, tt.c, goos)
			all := out + errOut
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, all)
			}
			for _, w := range tt.wants {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, n := range tt.nots {
				if strings.Contains(all, n) {
					t.Errorf("output has %q:\n%s", n, all)
				}
			}
		})
	}
}
