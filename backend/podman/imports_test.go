package podman

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImports keeps the package's direct imports to what its doc comment
// allows: plan, internal/*, Podman's packages, the OCI runtime-spec types
// and Podman's network types,
// a TOML decoder and the standard library, never another backend or cmd.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "remote exclude_graphdriver_btrfs containers_image_openpgp",
		"-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{
		"github.com/launchcli/launch/plan",
		"github.com/launchcli/launch/internal/",
		"github.com/launchcli/launch/session",
		"go.podman.io/podman/v6/",
		"github.com/opencontainers/runtime-spec/specs-go",
		"go.podman.io/common/libnetwork/types", // specgen's port mappings
		"github.com/BurntSushi/toml",           // containers.conf, for the connection
	}
	imports := strings.Fields(string(out))
	if !slices.Contains(imports, "go.podman.io/podman/v6/pkg/specgen") {
		t.Fatalf("go list shows no import of podman's specgen: %q", imports)
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
		if strings.HasPrefix(imp, "github.com/launchcli/launch/backend/") || strings.HasPrefix(imp, "github.com/launchcli/launch/cmd/") {
			ok = false
		}
		if !ok {
			t.Errorf("backend/podman imports %s; see the package doc for what it may import", imp)
		}
	}
}
