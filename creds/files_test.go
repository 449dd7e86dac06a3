package creds

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestUpsertProfile: each testdata/TestUpsertProfile/CASE.ini, with the
// llm-export profile upserted, is CASE.golden; upserting again changes
// nothing.
func TestUpsertProfile(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", t.Name(), "*.ini"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".ini")
		t.Run(name, func(t *testing.T) {
			before, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := UpsertProfile(before, ExportProfile, "credential_process", CredentialProcess)
			golden.Check(t, strings.TrimSuffix(in, ".ini")+".golden", got, *update)
			if again := UpsertProfile(got, ExportProfile, "credential_process", CredentialProcess); string(again) != string(got) {
				t.Errorf("not idempotent: second upsert gives\n%s", again)
			}
			// Every line of the input that is not the key is still there.
			for _, l := range strings.Split(string(before), "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "credential_process") && !strings.HasPrefix(l, "    sh -c") && !strings.Contains(string(got), l) {
					t.Errorf("line %q was lost", l)
				}
			}
		})
	}
}

// TestPiFromCodex: each testdata/TestPiFromCodex/CASE (codex.json and,
// when present, pi.json) gives pi.golden, or error.golden for a refusal.
func TestPiFromCodex(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", t.Name(), "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			codex, err := os.ReadFile(filepath.Join(dir, "codex.json"))
			if err != nil {
				t.Fatal(err)
			}
			pi, err := os.ReadFile(filepath.Join(dir, "pi.json"))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			got, err := PiFromCodex(codex, pi)
			if err != nil {
				golden.Check(t, filepath.Join(dir, "error.golden"), []byte(err.Error()+"\n"), *update)
				return
			}
			golden.Check(t, filepath.Join(dir, "pi.golden"), got, *update)
			if _, err := orderedObject(got); err != nil {
				t.Errorf("output is not a JSON object: %v", err)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	tests := []struct {
		kind     Kind
		auth     []string
		fullHead string
	}{
		{KindCodex, []string{".codex/auth.json"}, ".codex/config.toml"},
		{KindPi, []string{".pi/agent/auth.json"}, ".pi/agent/settings.json"},
		{KindBedrock, []string{".aws/credentials.json", ".aws/config"}, ""},
		{KindClaude, []string{".claude/.credentials.json", ".aws/credentials.json", ".aws/config"}, ".claude/settings.json"},
		{KindAll, []string{".codex/auth.json", ".claude/.credentials.json", ".aws/credentials.json", ".aws/config", ".pi/agent/auth.json"}, ".codex/config.toml"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			auth, full := Files(tt.kind)
			if !reflect.DeepEqual(auth, tt.auth) {
				t.Errorf("auth = %q, want %q", auth, tt.auth)
			}
			if (len(full) == 0) != (tt.fullHead == "") || len(full) > 0 && full[0] != tt.fullHead {
				t.Errorf("full = %q, want it to start with %q", full, tt.fullHead)
			}
		})
	}
}

func TestRsyncArgv(t *testing.T) {
	got := RsyncArgv("/home/ana/", []string{".codex/auth.json", ".aws/config"}, "biowulf", "ana2")
	want := []string{"rsync", "-arv", "--relative", "--chmod=go-rwx", "/home/ana/./.codex/auth.json", "/home/ana/./.aws/config", "ana2@biowulf:~/"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("argv = %q, want %q", got, want)
	}
}

func TestValidRemote(t *testing.T) {
	for _, ok := range [][2]string{{"biowulf", ""}, {"biowulf.nih.gov", "ana"}, {"ana@biowulf", ""}} {
		if err := ValidRemote(ok[0], ok[1]); err != nil {
			t.Errorf("ValidRemote(%q, %q) = %v", ok[0], ok[1], err)
		}
	}
	for _, bad := range [][2]string{{"", ""}, {"-oProxyCommand=x", ""}, {"host:/etc", ""}, {"ana@host", "bob"}, {"host", "-x"}, {"a b", ""}} {
		if err := ValidRemote(bad[0], bad[1]); err == nil {
			t.Errorf("ValidRemote(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestParseKind(t *testing.T) {
	if k, err := ParseKind("bedrock"); err != nil || k != KindBedrock {
		t.Errorf("ParseKind(bedrock) = %q, %v", k, err)
	}
	if _, err := ParseKind("gemini"); err == nil || !strings.Contains(err.Error(), "claude, codex, pi, all, bedrock") {
		t.Errorf("ParseKind(gemini) = %v", err)
	}
}
