package plan

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCorpusIsValid keeps the shared plans that every backend's golden tests
// render (testdata/plans) valid, so that a backend's render error is the
// backend's own.
func TestCorpusIsValid(t *testing.T) {
	files, err := filepath.Glob("testdata/plans/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no plans in testdata/plans")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
