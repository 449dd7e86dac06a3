package supervisor

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestImports: the supervisor imports no backend and no command, on Linux
// and on macOS alike.
func TestImports(t *testing.T) {
	const mod = "github.com/launchcli/launch/"
	for _, goos := range []string{"linux", "darwin"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOOS=%s): %v", goos, err)
		}
		for _, p := range strings.Fields(string(out)) {
			if strings.HasPrefix(p, mod+"backend") || strings.HasPrefix(p, mod+"cmd") {
				t.Errorf("GOOS=%s: supervisor imports %s; it may import no backend and no command", goos, p)
			}
		}
	}
}
