package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCredsCommand: the table names each token file once with the agents
// that use it, its state and expiry, and the fix of what expires soon;
// --json carries the same.
func TestCredsCommand(t *testing.T) {
	e := newRefreshEnv(t)
	e.codexAuth(time.Now().Add(30*time.Minute + 30*time.Second))
	e.write(".aws/credentials.json", fmt.Sprintf(`{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","Expiration":%q}`, time.Now().Add(-90*time.Minute).UTC().Format(time.RFC3339)))
	e.write(".claude/.credentials.json", fmt.Sprintf(`{"claudeAiOauth":{"expiresAt":%d}}`, time.Now().Add(70*time.Hour+30*time.Minute).UnixMilli()))
	out, errOut, code := e.run("creds")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, re := range []string{
		"FILE                         AGENTS             STATE     EXPIRES",
		"~/.codex/auth.json           codex, shell       expiring  expires in 30m",
		"~/.claude/.credentials.json  claude, shell      valid     expires in 2d22h",
		"~/.pi/agent/auth.json        pi, shell          missing   -",
		"~/.aws/credentials.json      claude, pi, shell  expired   expired 1h30m ago",
		"to renew ~/.codex/auth.json: launch refresh --kind codex",
		"to renew ~/.aws/credentials.json: launch refresh --kind bedrock",
	} {
		if !strings.Contains(out, re) {
			t.Errorf("output lacks %q:\n%s", re, out)
		}
	}
	if strings.Contains(out, "to renew ~/.pi") {
		t.Errorf("a missing file is not something to renew:\n%s", out)
	}

	out, _, code = e.run("creds", "--json", "codex")
	var st []struct {
		Agents []string `json:"agents"`
		File   string   `json:"file"`
		State  string   `json:"state"`
		Left   int      `json:"left_seconds"`
		Fix    string   `json:"fix"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if len(st) != 1 || st[0].State != "expiring" || st[0].Left < 1790 || st[0].Left > 1830 || st[0].Fix != "launch refresh --kind codex" || strings.Join(st[0].Agents, ",") != "codex" {
		t.Errorf("--json codex = %+v", st)
	}
	if _, errOut, code := e.run("creds", "gemini"); code != 2 || !strings.Contains(errOut, `unknown agent "gemini"`) {
		t.Errorf("unknown agent: exit %d, %s", code, errOut)
	}
}

// TestSubcommandNamesReserved: no agent may be called refresh, creds or
// doctor.
func TestSubcommandNamesReserved(t *testing.T) {
	for _, name := range []string{"refresh", "creds", "doctor"} {
		if _, err := decodeConfig("config.toml", "[agents."+name+"]\ncommand = [\"x\"]\n"); err == nil {
			t.Errorf("an agent called %s was accepted", name)
		}
	}
}
