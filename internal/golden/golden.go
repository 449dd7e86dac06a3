// Package golden holds what the golden-file tests of cmd/launch and of every
// backend share: the corpus of plans they all render, and the comparison with
// a golden file (rewritten instead when the test runs with -update). It is
// imported by tests only, and imports plan and the standard library.
package golden

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

// CorpusDir is the shared plan corpus, relative to a package two levels
// below the module root (backend/docker, cmd/launch).
const CorpusDir = "../../plan/testdata/plans"

// Plan is one plan of the corpus.
type Plan struct {
	// Name is the file name without .json.
	Name string
	Plan plan.Plan
}

// Corpus loads every plan of the shared corpus, sorted by name. It fails the
// test when the corpus is empty or a plan does not decode or validate.
func Corpus(t testing.TB) []Plan {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(CorpusDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no plans in %s", CorpusDir)
	}
	out := make([]Plan, 0, len(files))
	for _, f := range files {
		out = append(out, Plan{Name: strings.TrimSuffix(filepath.Base(f), ".json"), Plan: Load(t, f)})
	}
	return out
}

// Load decodes and validates one plan file.
func Load(t testing.TB, file string) plan.Plan {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := plan.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return p
}

// Check compares got with the golden file at path, or writes it when update
// is set (the package's -update flag).
func Check(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run make golden to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed (make golden to accept)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
