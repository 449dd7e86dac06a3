package creds

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

func TestResolve(t *testing.T) {
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, ".claude"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".aws"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []Path{
		{Rel: ".claude", Create: true, Dir: true},
		{Rel: ".claude.json", Create: true, Init: "{}"},
		{Rel: ".codex", Create: true, Dir: true},
		{Rel: ".config/extra"},
		{Rel: ".aws", Bedrock: true},
	}
	tests := []struct {
		name        string
		bedrock     bool
		wantTargets []string
		wantPrepare []plan.HostPath
		wantSkipped []string
	}{
		{
			name:        "no-bedrock",
			wantTargets: []string{"/home/devuser/.claude", "/home/devuser/.claude.json", "/home/devuser/.codex"},
			wantPrepare: []plan.HostPath{{Path: filepath.Join(home, ".claude.json"), Content: "{}"}, {Path: filepath.Join(home, ".codex"), Dir: true}},
			wantSkipped: []string{filepath.Join(home, ".config/extra")},
		},
		{
			name:        "bedrock",
			bedrock:     true,
			wantTargets: []string{"/home/devuser/.claude", "/home/devuser/.claude.json", "/home/devuser/.codex", "/home/devuser/.aws"},
			wantPrepare: []plan.HostPath{{Path: filepath.Join(home, ".claude.json"), Content: "{}"}, {Path: filepath.Join(home, ".codex"), Dir: true}},
			wantSkipped: []string{filepath.Join(home, ".config/extra")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(paths, home, "/home/devuser", tt.bedrock, os.Stat)
			if err != nil {
				t.Fatal(err)
			}
			var targets []string
			for _, m := range r.Mounts {
				targets = append(targets, m.Target)
				if m.Kind != plan.MountBind || m.ReadOnly || m.Origin != plan.OriginCredential {
					t.Errorf("mount %+v: want a read-write credential bind", m)
				}
			}
			if !reflect.DeepEqual(targets, tt.wantTargets) {
				t.Errorf("targets = %q, want %q", targets, tt.wantTargets)
			}
			if !reflect.DeepEqual(r.Prepare, tt.wantPrepare) {
				t.Errorf("prepare = %+v, want %+v", r.Prepare, tt.wantPrepare)
			}
			if !reflect.DeepEqual(r.Skipped, tt.wantSkipped) {
				t.Errorf("skipped = %q, want %q", r.Skipped, tt.wantSkipped)
			}
			if r.Mounts[1].File != true || r.Mounts[0].File != false {
				t.Errorf("file flags wrong: %+v", r.Mounts)
			}
		})
	}
}

func TestResolveRejectsEscapes(t *testing.T) {
	for _, rel := range []string{"", "/etc", "..", "../x", "."} {
		_, err := Resolve([]Path{{Rel: rel}}, "/h", "/c", false, func(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist })
		if err == nil || !strings.Contains(err.Error(), "relative to the home") {
			t.Errorf("Resolve(%q) = %v, want a refusal", rel, err)
		}
	}
}

// TestResolveSettings: an agent's settings under a mounted credential
// directory are mounted read-only where their links lead; a missing one
// with create is prepared and mounted; a missing one without create, and
// one under no credential directory mount (or only under a file mount),
// is left out.
func TestResolveSettings(t *testing.T) {
	home := t.TempDir()
	for _, d := range []string{".claude/hooks", "real"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, "real", "settings.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(home, "real", "settings.json"), filepath.Join(home, ".claude", "settings.json")); err != nil {
		t.Fatal(err)
	}
	have := []plan.Mount{
		{Kind: plan.MountBind, Source: filepath.Join(home, ".claude"), Target: "/home/u/.claude", Origin: plan.OriginCredential},
		{Kind: plan.MountBind, Source: filepath.Join(home, ".claude.json"), Target: "/home/u/.claude.json", File: true, Origin: plan.OriginCredential},
	}
	paths := []Path{
		{Rel: ".claude/settings.json", Create: true, Init: "{}"},
		{Rel: ".claude/settings.local.json", Create: true, Init: "{}"},
		{Rel: ".claude/hooks", Dir: true},
		{Rel: ".claude/plugins", Dir: true},
		{Rel: ".codex/config.toml", Create: true},
		{Rel: ".claude.json/x", Create: true},
	}
	r, err := ResolveSettings(paths, have, home, "/home/u", os.Stat, filepath.EvalSymlinks)
	if err != nil {
		t.Fatal(err)
	}
	want := []plan.Mount{
		{Kind: plan.MountBind, Source: filepath.Join(home, "real", "settings.json"), Target: "/home/u/.claude/settings.json", ReadOnly: true, File: true, Origin: plan.OriginAgentSettings},
		{Kind: plan.MountBind, Source: filepath.Join(home, ".claude", "settings.local.json"), Target: "/home/u/.claude/settings.local.json", ReadOnly: true, File: true, Origin: plan.OriginAgentSettings},
		{Kind: plan.MountBind, Source: filepath.Join(home, ".claude", "hooks"), Target: "/home/u/.claude/hooks", ReadOnly: true, Origin: plan.OriginAgentSettings},
	}
	if !reflect.DeepEqual(r.Mounts, want) {
		t.Errorf("mounts:\n%+v\nwant\n%+v", r.Mounts, want)
	}
	if wantP := []plan.HostPath{{Path: filepath.Join(home, ".claude", "settings.local.json"), Content: "{}", Placeholder: true}}; !reflect.DeepEqual(r.Prepare, wantP) {
		t.Errorf("prepare %+v, want %+v", r.Prepare, wantP)
	}
	if _, err := ResolveSettings([]Path{{Rel: "../x"}}, have, home, "/home/u", os.Stat, filepath.EvalSymlinks); err == nil {
		t.Error("a path outside the home: no error")
	}
}
