package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/launchcli/launch/"

// root is the module root, two levels up.
const root = "../.."

// packages returns every package directory of the module, relative to the
// root ("plan", "backend/docker", ...), and the Go files in each.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// imports returns the packages that the files import, test files included.
func imports(t *testing.T, files []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			out[p] = f
		}
	}
	return out
}

func isStd(p string) bool { return !strings.Contains(strings.Split(p, "/")[0], ".") }

// TestImportRules: plan imports only the standard library; mounts, creds
// and internal/naming only plan besides; internal/runner (the session
// logic Docker and Podman share) only internal/iostreams of this module;
// supervisor (launch's own sessions: Apptainer's supervisor, the watcher)
// only the session state and internal/runner; no
// package imports cmd; a backend never imports another backend; internal
// packages and the shared parts never import a backend.
func TestImportRules(t *testing.T) {
	pkgs := packages(t)
	for _, want := range []string{"plan", "mounts", "creds", "guard", "internal/naming", "internal/runner", "backend/docker", "backend/podman", "backend/singularity", "cmd/launch", "supervisor"} {
		if _, ok := pkgs[want]; !ok {
			t.Fatalf("package %s not found; the layout changed: update this test", want)
		}
	}
	leaves := map[string][]string{
		"plan":            nil,
		"mounts":          {"plan"},
		"internal/fakefs": nil,
		"creds":           {"plan"},
		"internal/naming": {"plan"},
		"internal/shell":  {"plan"},
		"guard":           nil,
		"trust":           nil,
		"slurm":           nil,
		"session":         {"internal/naming", "plan"},
	}
	// libraries a leaf may import besides: creds signs the Bedrock key with
	// the AWS SDK's SigV4 signer (its root module only, no service client);
	// guard moves a changed path aside with openat2 (RESOLVE_BENEATH) on Linux.
	libraries := map[string][]string{
		"creds": {"github.com/aws/aws-sdk-go-v2/aws"},
		"guard": {"golang.org/x/sys/unix"},
	}
	// ownOnly: packages that may import SDKs, but of this module only these.
	ownOnly := map[string][]string{
		"internal/runner": {"internal/iostreams"},
		"supervisor":      {"session", "internal/runner"},
	}
	for dir, files := range pkgs {
		for imp, file := range imports(t, files) {
			own, ours := strings.CutPrefix(imp, module)
			if allowed, leaf := leaves[dir]; leaf && !isStd(imp) {
				ok := ours && (own == dir || contains(allowed, own) || testHelper(own) && strings.HasSuffix(file, "_test.go")) || library(libraries[dir], imp)
				if !ok {
					t.Errorf("%s imports %s (in %s); it may import only the standard library and %v", dir, imp, file, allowed)
				}
			}
			if !ours {
				continue
			}
			if allowed, ok := ownOnly[dir]; ok && own != dir && !contains(allowed, own) {
				t.Errorf("%s imports %s (in %s); of this module it may import only %v", dir, imp, file, allowed)
			}
			if strings.HasPrefix(own, "cmd/") && own != dir {
				t.Errorf("%s imports %s (in %s): nothing imports a command", dir, imp, file)
			}
			if strings.HasPrefix(own, "backend/") && strings.HasPrefix(dir, "backend/") && own != dir {
				t.Errorf("%s imports %s (in %s): a backend never imports another", dir, imp, file)
			}
			if strings.HasPrefix(own, "backend/") && !strings.HasPrefix(dir, "backend/") && !strings.HasPrefix(dir, "cmd/") {
				t.Errorf("%s imports %s (in %s): only cmd chooses a backend", dir, imp, file)
			}
		}
	}
}

// testHelper reports whether pkg is a helper that any test may import.
func testHelper(pkg string) bool { return pkg == "internal/golden" || pkg == "internal/fakefs" }

// library reports whether imp is one of the packages (or under one of them).
func library(allowed []string, imp string) bool {
	for _, a := range allowed {
		if imp == a || strings.HasPrefix(imp, a+"/") {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestFunctionSize: no function of cmd/launch (the CLI's face) is over 80
// lines; a longer one does several things and is split by question.
func TestFunctionSize(t *testing.T) {
	fset := token.NewFileSet()
	for _, f := range packages(t)["cmd/launch"] {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > 80 {
					t.Errorf("%s: %s is %d lines; split it (80 at most)", f, fd.Name.Name, n)
				}
			}
		}
	}
}
