package podman

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and testdata/*.spec.json")

// corpus is the shared set of plans every backend renders.
const corpus = "../../plan/testdata/plans"

// configs are the two kinds of Podman service a plan is rendered for.
var configs = []struct {
	name string
	cfg  Config
}{
	{"rootless", Config{Rootless: true}},
	{"rootful", Config{Rootless: false}},
}

func loadPlan(t *testing.T, file string) plan.Plan {
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

// TestRender renders every plan of the shared corpus for a rootless and a
// rootful service. testdata/<plan>.<config>.golden holds the printed
// command (or "error: ..." for a plan the backend refuses), and
// testdata/<plan>.<config>.spec.json the API request; together they show
// that both come from one value.
func TestRender(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpus, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no plans in %s", corpus)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		p := loadPlan(t, file)
		for _, c := range configs {
			t.Run(name+"."+c.name, func(t *testing.T) {
				base := filepath.Join("testdata", name+"."+c.name)
				r, err := Render(p, c.cfg)
				if err != nil {
					if !errors.Is(err, plan.ErrUnsupported) {
						t.Errorf("refusal does not wrap plan.ErrUnsupported: %v", err)
					}
					checkGolden(t, base+".golden", []byte("error: "+err.Error()+"\n"))
					checkAbsent(t, base+".spec.json")
					return
				}
				checkGolden(t, base+".golden", []byte(shell.Join(r.Argv)+"\n"))
				spec, err := json.MarshalIndent(r.Spec, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, base+".spec.json", append(spec, '\n'))
				checkRoundTrip(t, r)
				checkNoSecrets(t, p, r)
			})
		}
	}
}

// TestNoOrphanGoldens keeps testdata in step with the corpus: a golden file
// whose plan is gone is removed by -update, and fails the test otherwise.
func TestNoOrphanGoldens(t *testing.T) {
	for _, c := range configs {
		for _, suffix := range []string{".golden", ".spec.json"} {
			suffix = "." + c.name + suffix
			got, err := filepath.Glob("testdata/*" + suffix)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				name := strings.TrimSuffix(filepath.Base(g), suffix)
				if _, err := os.Stat(filepath.Join(corpus, name+".json")); err == nil {
					continue
				}
				if *update {
					if err := os.Remove(g); err != nil {
						t.Error(err)
					}
					continue
				}
				t.Errorf("%s: no plan %s.json in the corpus (-update removes it)", g, name)
			}
		}
	}
}

func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (-update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed (-update to accept)\n got %s\nwant %s", golden, got, want)
	}
}

func checkAbsent(t *testing.T, file string) {
	t.Helper()
	if _, err := os.Stat(file); err != nil {
		return
	}
	if *update {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s exists for a refused plan (-update removes it)", file)
}

// checkNoSecrets makes sure an inherited value reaches the API request only:
// neither the printed snippet nor the notes may hold it.
func checkNoSecrets(t *testing.T, p plan.Plan, r Rendered) {
	t.Helper()
	printed := r.Snippet() + "\n" + strings.Join(r.Notes(), "\n")
	constant := func(v string) bool {
		// A value that the plan also sets openly may be printed.
		for _, e := range p.Env {
			if !e.FromHost && strings.Contains(e.Value, v) {
				return true
			}
		}
		return false
	}
	for _, e := range p.Env {
		if !e.FromHost || e.Value == "" {
			continue
		}
		if strings.Contains(printed, "--env "+e.Name+"=") || strings.Contains(printed, "'"+e.Name+"=") {
			t.Errorf("inherited %s is printed with a value:\n%s", e.Name, printed)
		}
		if strings.Contains(printed, e.Value) && !constant(e.Value) {
			t.Errorf("the value of inherited %s is printed:\n%s", e.Name, printed)
		}
		if r.Spec.Env[e.Name] != e.Value {
			t.Errorf("spec env %s = %q, want the inherited value", e.Name, r.Spec.Env[e.Name])
		}
	}
}
