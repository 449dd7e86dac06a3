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
