package creds

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/plan"
)

// jwt makes an unsigned JWT with the given exp.
func jwt(exp time.Time) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none"}) + "." + enc(map[string]any{"exp": exp.Unix()}) + ".c2ln"
}

func write(t *testing.T, home, rel, content string) {
	t.Helper()
	p := filepath.Join(home, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	now := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		rel       string
		content   string // "" = missing
		wantState State
		wantDesc  string
	}{
		{"codex-valid", ".codex/auth.json", fmt.Sprintf(`{"tokens":{"access_token":%q,"refresh_token":"r"}}`, jwt(now.Add(50*time.Hour))), StateValid, "expires in 2d2h (2026-12-03 16:00 UTC)"},
		{"codex-expiring", ".codex/auth.json", fmt.Sprintf(`{"tokens":{"access_token":%q}}`, jwt(now.Add(10*time.Minute))), StateExpiring, "expires in 10m"},
		{"codex-expired", ".codex/auth.json", fmt.Sprintf(`{"tokens":{"id_token":%q}}`, jwt(now.Add(-3*time.Hour))), StateExpired, "expired 3h00m ago"},
		{"codex-api-key", ".codex/auth.json", `{"OPENAI_API_KEY":"sk-x","tokens":null}`, StateNoExpiry, "API key, no expiry"},
		{"codex-garbage", ".codex/auth.json", `{"tokens":{"access_token":"abc"}}`, StateInvalid, "not a JWT"},
		{"codex-missing", ".codex/auth.json", "", StateMissing, "missing"},
		{"claude", ".claude/.credentials.json", fmt.Sprintf(`{"claudeAiOauth":{"expiresAt":%d}}`, now.Add(5*time.Hour).UnixMilli()), StateValid, "expires in 5h00m"},
		{"aws", ".aws/credentials.json", `{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2026-12-01T14:30:00Z"}`, StateExpiring, "expires in 30m"},
		{"aws-long-term", ".aws/credentials.json", `{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S"}`, StateNoExpiry, "long-term keys"},
		{"pi-earliest", ".pi/agent/auth.json", fmt.Sprintf(`{"openai-codex":{"expires":%d},"anthropic":{"expires":%d},"google":{"key":"k"}}`, now.Add(2*time.Hour).UnixMilli(), now.Add(-time.Minute).UnixMilli()), StateExpired, "expired 1m ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if tt.content != "" {
				write(t, home, tt.rel, tt.content)
			}
			var tf TokenFile
			for _, x := range TokenFiles {
				if x.Rel == tt.rel {
					tf = x
				}
			}
			s := Check(tf, home, now, os.ReadFile)
			if s.State != tt.wantState || !strings.Contains(s.Describe(), tt.wantDesc) {
				t.Errorf("state %q, %q; want %q, containing %q", s.State, s.Describe(), tt.wantState, tt.wantDesc)
			}
			if (s.Fix != "") != (s.State != StateValid && s.State != StateNoExpiry) {
				t.Errorf("fix %q for state %q", s.Fix, s.State)
			}
		})
	}
}

// TestPlanStatus: the token files under a plan's credential mounts are
// read from the mounts' host sources; the other mounts are not looked at.
func TestPlanStatus(t *testing.T) {
	now := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	home := t.TempDir()
	write(t, home, ".codex/auth.json", fmt.Sprintf(`{"tokens":{"access_token":%q}}`, jwt(now.Add(10*time.Minute))))
	write(t, home, "ws/.codex/auth.json", fmt.Sprintf(`{"tokens":{"access_token":%q}}`, jwt(now.Add(-time.Hour))))
	p := plan.Plan{
		Agent: "codex",
		User:  plan.User{Home: "/home/devuser"},
		Mounts: []plan.Mount{
			{Kind: plan.MountBind, Source: filepath.Join(home, "ws"), Target: "/ws", Origin: plan.OriginWorkspace},
			{Kind: plan.MountBind, Source: filepath.Join(home, ".codex"), Target: "/home/devuser/.codex", Origin: plan.OriginCredential},
			{Kind: plan.MountBind, Source: filepath.Join(home, ".claude.json"), Target: "/home/devuser/.claude.json", Origin: plan.OriginCredential, File: true},
		},
	}
	st := PlanStatus(p, now, os.ReadFile)
	if len(st) != 1 || st[0].File != filepath.Join(home, ".codex/auth.json") || st[0].State != StateExpiring || strings.Join(st[0].Agents, ",") != "codex" {
		t.Fatalf("status = %+v, want the one expiring ~/.codex/auth.json", st)
	}
	if got := Expiring(st); len(got) != 1 {
		t.Errorf("Expiring = %+v", got)
	}
	b, err := json.Marshal(st[0])
	if err != nil || !strings.Contains(string(b), `"left_seconds":600`) || !strings.Contains(string(b), `"state":"expiring"`) {
		t.Errorf("json = %s (%v)", b, err)
	}
}

func TestTokenFilesUnder(t *testing.T) {
	var got []string
	for _, tf := range TokenFilesUnder([]string{".claude", ".claude.json", ".aws"}) {
		got = append(got, tf.Rel)
	}
	if strings.Join(got, " ") != ".claude/.credentials.json .aws/credentials.json" {
		t.Errorf("got %q", got)
	}
}
