package creds

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/plan"
)

// TestWatchRestore: keys that name commands in a writable JSON file
// (~/.claude.json's MCP servers) are put back after the session changed
// them, added ones removed; every other change the session made stays;
// the session's version is kept; an unchanged file is not rewritten.
func TestWatchRestore(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".claude.json")
	before := `{"numStartups": 12345678901234567890, "mcpServers": {"mine": {"command": "ok"}}, "projects": {"/p": {"allowedTools": [], "history": [1]}}}`
	if err := os.WriteFile(p, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	files := []plan.WatchedFile{{Path: p, Keys: []string{"mcpServers", "projects.*.mcpServers", "projects.*.allowedTools"}}}
	w := TakeWatch(files)
	if got, err := w.Restore(time.Now()); err != nil || len(got) != 0 {
		t.Fatalf("unchanged: %v %v", got, err)
	}
	if b, _ := os.ReadFile(p); string(b) != before {
		t.Fatalf("an unchanged file was rewritten: %s", b)
	}
	after := `{"numStartups": 12345678901234567891, "mcpServers": {"mine": {"command": "evil"}}, "projects": {"/p": {"allowedTools": ["Bash"], "history": [1, 2], "mcpServers": {"x": {"command": "evil"}}}, "/q": {"mcpServers": {"y": {}}}}}`
	if err := os.WriteFile(p, []byte(after), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := w.Restore(time.Date(2026, 12, 1, 15, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	saved := p + ".launch-quarantine-20261201T150405Z"
	want := []Restored{{p, "mcpServers", saved}, {p, "projects./p.allowedTools", saved}, {p, "projects./p.mcpServers", saved}, {p, "projects./q.mcpServers", saved}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restored %+v\nwant %+v", got, want)
	}
	var doc, wantDoc any
	b, _ := os.ReadFile(p)
	json.Unmarshal(b, &doc)
	json.Unmarshal([]byte(`{"numStartups": 12345678901234567891, "mcpServers": {"mine": {"command": "ok"}}, "projects": {"/p": {"allowedTools": [], "history": [1, 2]}, "/q": {}}}`), &wantDoc)
	if !reflect.DeepEqual(doc, wantDoc) {
		t.Errorf("the file after: %s", b)
	}
	if s, _ := os.ReadFile(saved); string(s) != after {
		t.Errorf("the session's version: %q", s)
	}
	if !strings.Contains(string(b), "12345678901234567891") {
		t.Errorf("a number lost its digits: %s", b)
	}
}
