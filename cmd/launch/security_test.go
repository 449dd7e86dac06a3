package main

import (
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

// TestPreviewNamesPrivilegesLimitsExposure: the plan a person confirms says
// what the agent may do, its limits, and what an allowed workspace exposes.
func TestPreviewNamesPrivilegesLimitsExposure(t *testing.T) {
	p, _ := resolveCase(t, goldenCase{args: []string{"--allow-secrets", "--memory", "1g", "codex"}, cwd: "/home/ana"})
	got := summary(p, backendDocker)
	for _, w := range []string{
		"privileges: no capabilities; no new privileges (setuid, sudo do not raise)",
		"limits:   memory 1g, pids 4096 (default)",
		"exposes:  /home/ana /home/ana/.aws (--allow-secrets)",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("preview lacks %q:\n%s", w, got)
		}
	}
	p, _ = resolveCase(t, goldenCase{args: []string{"--privileges", "image", "--cap-add", "net_raw", "--pids", "none", "shell"}})
	got = summary(p, backendPodman)
	for _, w := range []string{"privileges: the engine's default capabilities + CAP_NET_RAW; setuid and sudo work", "limits:   none"} {
		if !strings.Contains(got, w) {
			t.Errorf("preview lacks %q:\n%s", w, got)
		}
	}
}

func TestKilledNote(t *testing.T) {
	if n := killedNote(plan.Limits{Memory: 512 << 20}); !strings.Contains(n, "exit 137") || !strings.Contains(n, "memory limit of 512m") {
		t.Errorf("with a memory limit: %q", n)
	}
	if n := killedNote(plan.Limits{}); !strings.Contains(n, "exit 137") || strings.Contains(n, "limit of") {
		t.Errorf("without a memory limit: %q", n)
	}
}
