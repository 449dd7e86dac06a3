package docker

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const modPath = "github.com/launchcli/launch"

// allowedImports are the direct imports the package doc allows besides the
// standard library.
var allowedImports = []string{
	modPath + "/plan",
	modPath + "/internal/",
	modPath + "/session",
	"github.com/moby/moby/api/",
	"github.com/moby/moby/client",
	"github.com/containerd/errdefs",
	"github.com/opencontainers/image-spec/specs-go/",
	"golang.org/x/term",
}

// badImports returns what in imports (direct) and deps (everything the
// package depends on) breaks the rule: a direct import outside
// allowedImports, and anywhere in the graph another backend or cmd.
func badImports(imports, deps []string) []string {
	var bad []string
	for _, imp := range imports {
		if !strings.Contains(strings.Split(imp, "/")[0], ".") {
			continue // standard library
		}
		if !slices.ContainsFunc(allowedImports, func(a string) bool { return imp == a || strings.HasPrefix(imp, a) }) {
			bad = append(bad, imp+" (not in the package doc's list)")
		}
	}
	for _, d := range deps {
		own := d == modPath+"/backend/docker"
		if !own && (strings.HasPrefix(d, modPath+"/backend/") || strings.HasPrefix(d, modPath+"/cmd/")) {
			bad = append(bad, d+" (another backend or cmd)")
		}
	}
	return bad
}

// TestImports keeps the package's imports to what its doc comment allows:
// plan, internal/*, the Docker SDK and the standard library, and never,
// directly or through another package, another backend or cmd.
func TestImports(t *testing.T) {
	list := func(format string, deps bool) []string {
		args := []string{"list", "-f", format}
		if deps {
			args = append(args, "-deps")
		}
		out, err := exec.Command("go", append(args, ".")...).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))
	}
	imports := list(`{{join .Imports "\n"}}`, false)
	if !slices.Contains(imports, "github.com/moby/moby/client") {
		t.Fatalf("go list shows no import of the Docker client: %q", imports)
	}
	deps := list(`{{.ImportPath}}`, true)
	if !slices.Contains(deps, modPath+"/plan") {
		t.Fatalf("go list -deps shows no plan: %q", deps)
	}
	for _, b := range badImports(imports, deps) {
		t.Errorf("backend/docker imports %s; see the package doc for what it may import", b)
	}
	// The control: the rule sees a backend or cmd, direct or not.
	for _, imp := range []string{modPath + "/backend/podman", modPath + "/backend/singularity", modPath + "/cmd/launch"} {
		if len(badImports([]string{imp}, nil)) == 0 || len(badImports(nil, []string{imp})) == 0 {
			t.Errorf("the rule lets backend/docker import %s", imp)
		}
	}
}
