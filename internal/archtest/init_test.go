package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"strconv"
	"strings"
	"testing"
)

// expensiveAtInit are the calls that no package of the module makes while
// it is initialised: every launch process, --version and --help included,
// would pay for them (a regular expression costs from 20 µs to over 300 µs
// to compile, and allocates). A package-level value that needs one is built
// on first use: sync.OnceValue(func() *regexp.Regexp { ... }).
var expensiveAtInit = map[string][]string{
	"regexp":        {"MustCompile", "Compile", "MustCompilePOSIX", "CompilePOSIX"},
	"text/template": {"Must", "New"},
	"html/template": {"Must", "New"},
}

// TestNothingExpensiveAtInit: no package-level variable's initial value and
// no init function compiles a regular expression or a template (outside a
// function literal, which runs when it is called).
func TestNothingExpensiveAtInit(t *testing.T) {
	fset := token.NewFileSet()
	for _, files := range packages(t) {
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			names := importNames(af)
			check := func(n ast.Node) {
				ast.Inspect(n, func(n ast.Node) bool {
					if _, ok := n.(*ast.FuncLit); ok {
						return false
					}
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					x, ok := sel.X.(*ast.Ident)
					if !ok {
						return true
					}
					if p, ok := names[x.Name]; ok && contains(expensiveAtInit[p], sel.Sel.Name) {
						t.Errorf("%s: %s.%s runs at package initialisation, in every launch process; build it on first use (sync.OnceValue)",
							fset.Position(call.Pos()), x.Name, sel.Sel.Name)
					}
					return true
				})
			}
			for _, d := range af.Decls {
				switch d := d.(type) {
				case *ast.GenDecl:
					if d.Tok == token.VAR {
						check(d)
					}
				case *ast.FuncDecl:
					if d.Recv == nil && d.Name.Name == "init" {
						check(d.Body)
					}
				}
			}
		}
	}
}

// importNames maps the names a file refers to its imports by to their paths,
// for the packages in expensiveAtInit.
func importNames(af *ast.File) map[string]string {
	out := map[string]string{}
	for _, im := range af.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if _, ok := expensiveAtInit[p]; !ok {
			continue
		}
		name := path.Base(p)
		if im.Name != nil {
			name = im.Name.Name
		}
		out[name] = p
	}
	return out
}
