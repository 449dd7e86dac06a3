package singularity

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImports keeps the package's direct imports to what its doc comment
// allows: plan, internal/*, the SIF library and the standard library, never
// another backend or cmd.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{
		"github.com/launchcli/launch/plan",
		"github.com/launchcli/launch/internal/",
		"github.com/sylabs/sif/v2/",
	}
	imports := strings.Fields(string(out))
	// The list is the package's own: without these it read something else.
	for _, want := range []string{"github.com/launchcli/launch/plan", "github.com/sylabs/sif/v2/pkg/sif"} {
		if !slices.Contains(imports, want) {
			t.Fatalf("go list shows no import of %s: %q", want, imports)
		}
	}
	for _, imp := range imports {
		if !strings.Contains(strings.Split(imp, "/")[0], ".") {
			continue // standard library
		}
		ok := false
		for _, a := range allowed {
			if imp == a || strings.HasPrefix(imp, a) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("backend/singularity imports %s; see the package doc for what it may import", imp)
		}
	}
}
