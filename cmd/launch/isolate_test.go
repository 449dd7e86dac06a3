package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

// TestIsolateFinishKeepsCopy: when the copy of a workspace that is not a
// git repository cannot come back (its result directory exists), the copy
// and its record stay, and the error says how to go on or remove them.
func TestIsolateFinishKeepsCopy(t *testing.T) {
	dir := t.TempDir()
	iso := &plan.Isolation{Session: "codex-20261201-154233-4242", Source: filepath.Join(dir, "ws"),
		Copy: filepath.Join(dir, "copy"), Result: filepath.Join(dir, "ws.launch-x")}
	for _, d := range []string{iso.Copy, iso.Result} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(recordPath(iso), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := isolateFinish(context.Background(), io.Discard, iso, sessionRecord{})
	if err == nil || !strings.Contains(err.Error(), "--resume "+iso.Session) || !strings.Contains(err.Error(), iso.Result+" exists") {
		t.Fatalf("error %v: want the result's clash and how to resume", err)
	}
	for _, p := range []string{iso.Copy, recordPath(iso)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v; the kept copy and its record must stay", p, err)
		}
	}
}
