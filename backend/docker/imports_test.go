package docker

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImports keeps the package's direct imports to what its doc comment
// allows: plan, internal/*, the Docker SDK and the standard library, never
// another backend or cmd.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{
		"github.com/launchcli/launch/plan",
		"github.com/launchcli/launch/internal/",
		"github.com/moby/moby/api/",
		"github.com/moby/moby/client",
		"github.com/containerd/errdefs",
		"github.com/opencontainers/image-spec/specs-go/",
		"golang.org/x/term",
	}
	imports := strings.Fields(string(out))
	if !slices.Contains(imports, "github.com/moby/moby/client") {
		t.Fatalf("go list shows no import of the Docker client: %q", imports)
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
			t.Errorf("backend/docker imports %s; see the package doc for what it may import", imp)
		}
	}
}
