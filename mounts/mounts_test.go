package mounts

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/launchcli/launch/internal/fakefs"
	"github.com/launchcli/launch/plan"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name, in string
		want     Spec
		wantErr  string
	}{
		{name: "host-only", in: "/data", want: Spec{Host: "/data"}},
		{name: "relative", in: "data", want: Spec{Host: "data"}},
		{name: "host-ctr", in: "/data:/d", want: Spec{Host: "/data", Container: "/d"}},
		{name: "ro", in: "/data:/d:ro", want: Spec{Host: "/data", Container: "/d", ReadOnly: true}},
		{name: "rw", in: "/data:/d:rw", want: Spec{Host: "/data", Container: "/d"}},
		{name: "same-path-ro", in: "/data::ro", want: Spec{Host: "/data", ReadOnly: true}},
		{name: "tilde", in: "~/x:/x", want: Spec{Host: "~/x", Container: "/x"}},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "blank", in: "  ", wantErr: "empty"},
		{name: "no-host", in: ":/d", wantErr: "empty host path"},
		{name: "relative-ctr", in: "/data:d", wantErr: "must be absolute"},
		{name: "bad-option", in: "/data:/d:rx", wantErr: `option "rx"`},
		{name: "too-many", in: "/a:/b:ro:x", wantErr: "too many ':'"},
		{name: "comma", in: "/a,b:/c", wantErr: "','"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSpec(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrSpec) {
					t.Fatalf("ParseSpec(%q) = %v, %v; want ErrSpec mentioning %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			again, err := ParseSpec(got.String())
			if err != nil || again != got {
				t.Errorf("round trip of %q via %q = %+v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{name: "empty", in: "", want: []string{}},
		{name: "two", in: "/a /b:/c:ro", want: []string{"/a", "/b:/c:ro"}},
		{name: "blanks", in: "  /a\t\n/b  ", want: []string{"/a", "/b"}},
		{name: "single-quotes", in: "'/my dir:/d:ro' /b", want: []string{"/my dir:/d:ro", "/b"}},
		{name: "double-quotes", in: `"/my \"x\" dir"`, want: []string{`/my "x" dir`}},
		{name: "backslash", in: `/my\ dir`, want: []string{"/my dir"}},
		{name: "unterminated", in: "'/a", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs, err := ParseList(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseList(%q) passed", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, s := range specs {
				got = append(got, s.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseList(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// mapFS serves a fake file system rooted at /, links included.
func mapFS(fsys fstest.MapFS) FS {
	return FS{Stat: fakefs.Stat(fsys), EvalSymlinks: fakefs.EvalSymlinks(fsys)}
}

var host = fstest.MapFS{
	"home/ana/proj/docs/a.md":   {},
	"home/ana/proj/secrets/key": {},
	"home/ana/proj/.env":        {},
	"home/ana/data/x":           {},
	"home/ana/.codex":           {Mode: fs.ModeDir},
	"home/ana/proj/out":         {Mode: fs.ModeSymlink, Data: []byte("../data")},
	"home/ana/proj/abs":         {Mode: fs.ModeSymlink, Data: []byte("/home/ana/data")},
	"home/ana/proj/manual":      {Mode: fs.ModeSymlink, Data: []byte("docs")},
	"home/ana/proj/here":        {Mode: fs.ModeSymlink, Data: []byte(".")},
	"home/ana/proj/loop":        {Mode: fs.ModeSymlink, Data: []byte("loop")},
	"home/ana/link-to-data":     {Mode: fs.ModeSymlink, Data: []byte("data")},
}

func TestResolve(t *testing.T) {
	stat := mapFS(host)
	tests := []struct {
		name, spec string
		want       plan.Mount
		wantErr    string
	}{
		{name: "relative", spec: "../data", want: plan.Mount{Kind: plan.MountBind, Source: "/home/ana/data", Target: "/home/ana/data", Origin: plan.OriginUser}},
		{name: "tilde-ro", spec: "~/data:/d:ro", want: plan.Mount{Kind: plan.MountBind, Source: "/home/ana/data", Target: "/d", ReadOnly: true, Origin: plan.OriginUser}},
		{name: "file", spec: "/home/ana/proj/.env:/e", want: plan.Mount{Kind: plan.MountBind, Source: "/home/ana/proj/.env", Target: "/e", File: true, Origin: plan.OriginUser}},
		{name: "missing", spec: "/nope", wantErr: `mount "/nope": no such file or directory`},
		{name: "link-rendered-resolved", spec: "~/link-to-data", want: plan.Mount{Kind: plan.MountBind, Source: "/home/ana/data", Target: "/home/ana/link-to-data", Origin: plan.OriginUser}},
		{name: "loop", spec: "loop:/l", wantErr: "too many levels"},
		{name: "root-target", spec: "/home/ana/data:/", wantErr: "over /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := ParseSpec(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Resolve(sp, "/home/ana/proj", "/home/ana", stat)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve(%q) = %v, %v; want error %q", tt.spec, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestSub(t *testing.T) {
	fsys := mapFS(host)
	ws := Workspace{Host: "/home/ana/proj", Real: "/home/ana/proj", Target: "/ws"}
	tests := []struct {
		name, path, wantHost, wantTarget, wantErr string
		wantDir                                   bool
	}{
		{name: "relative-dir", path: "docs", wantHost: "/home/ana/proj/docs", wantTarget: "/ws/docs", wantDir: true},
		{name: "absolute-file", path: "/home/ana/proj/.env", wantHost: "/home/ana/proj/.env", wantTarget: "/ws/.env"},
		{name: "link-inside", path: "manual", wantHost: "/home/ana/proj/docs", wantTarget: "/ws/docs", wantDir: true},
		{name: "outside", path: "../data", wantErr: "not inside the workspace"},
		{name: "prefix-trick", path: "/home/ana/project2", wantErr: "not inside the workspace"},
		{name: "workspace-itself", path: ".", wantErr: "the workspace itself"},
		{name: "link-to-workspace", path: "here", wantErr: "the workspace itself"},
		{name: "relative-link-leaves", path: "out", wantErr: `a symbolic link makes it "/home/ana/data", outside the workspace`},
		{name: "absolute-link-leaves", path: "abs/x", wantErr: `a symbolic link makes it "/home/ana/data/x", outside the workspace`},
		{name: "loop", path: "loop", wantErr: "too many levels"},
		{name: "missing", path: "nope", wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, target, isDir, err := Sub("--mask", tt.path, ws, fsys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--mask") {
					t.Fatalf("Sub(%q) = %q, %v; want error %q naming --mask", tt.path, target, err, tt.wantErr)
				}
				if !errors.Is(err, ErrSpec) {
					t.Errorf("Sub(%q): %v does not wrap ErrSpec", tt.path, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if host != tt.wantHost || target != tt.wantTarget || isDir != tt.wantDir {
				t.Errorf("Sub(%q) = %q, %q dir=%v, want %q, %q dir=%v", tt.path, host, target, isDir, tt.wantHost, tt.wantTarget, tt.wantDir)
			}
		})
	}
}

func TestList(t *testing.T) {
	ws := plan.Mount{Kind: plan.MountBind, Source: "/p", Target: "/p", Origin: plan.OriginWorkspace}
	mask := plan.Mount{Kind: plan.MountMask, Target: "/p/s", ReadOnly: true, Origin: plan.OriginMask}
	data := plan.Mount{Kind: plan.MountBind, Source: "/data", Target: "/d", Origin: plan.OriginUser}
	inner := plan.Mount{Kind: plan.MountBind, Source: "/other", Target: "/p/o", Origin: plan.OriginUser}

	var l List
	for _, m := range []plan.Mount{ws, data, data, inner, mask} {
		if err := l.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	got := l.Mounts()
	want := []plan.Mount{ws, data, inner, mask}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Mounts() =\n%+v\nwant\n%+v", got, want)
	}
	w := l.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], `"/other" at "/p/o" lies inside mount "/p"`) {
		t.Errorf("Warnings() = %q, want one about /p/o inside /p", w)
	}

	roAgain := data
	roAgain.ReadOnly = true
	if err := l.Add(roAgain); err != nil {
		t.Fatal(err)
	}
	if m := l.Mounts()[1]; !m.ReadOnly {
		t.Errorf("the same bind asked for read-only did not become read-only: %+v", m)
	}

	clash := plan.Mount{Kind: plan.MountBind, Source: "/elsewhere", Target: "/d", Origin: plan.OriginUser}
	err := l.Add(clash)
	if err == nil || !strings.Contains(err.Error(), `mount conflict at "/d"`) || !strings.Contains(err.Error(), `"/data"`) || !strings.Contains(err.Error(), `"/elsewhere"`) {
		t.Errorf("Add(clash) = %v, want a conflict naming both sources", err)
	}
}

// TestShadowing: one rule for every backend. A later mount at or above an
// earlier one's target hides it, and the hidden one is not rendered; read-only
// re-mounts and masks on the workspace are not reported as nesting.
func TestShadowing(t *testing.T) {
	cred := plan.Mount{Kind: plan.MountBind, Source: "/h/.codex", Target: "/home/u/.codex", Origin: plan.OriginCredential}
	home := plan.Mount{Kind: plan.MountBind, Source: "/h/other", Target: "/home/u", Origin: plan.OriginUser}
	ws := plan.Mount{Kind: plan.MountBind, Source: "/src/p", Target: "/w", Origin: plan.OriginWorkspace}
	ro := plan.Mount{Kind: plan.MountBind, Source: "/src/p/docs", Target: "/w/docs", ReadOnly: true, Origin: plan.OriginReadOnly}
	mask := plan.Mount{Kind: plan.MountMask, Target: "/w/.env", ReadOnly: true, File: true, Origin: plan.OriginMask}
	var l List
	for _, m := range []plan.Mount{ws, cred, home, ro, mask} {
		if err := l.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := l.Mounts(), []plan.Mount{ws, home, ro, mask}; !reflect.DeepEqual(got, want) {
		t.Errorf("Mounts() =\n%+v\nwant\n%+v", got, want)
	}
	hidden, by := l.Shadowed()
	if len(hidden) != 1 || hidden[0] != cred || by[0] != home {
		t.Errorf("Shadowed() = %+v by %+v, want the credential hidden by the home mount", hidden, by)
	}
	w := l.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], `"/h/.codex" at "/home/u/.codex" is hidden by the later mount "/h/other" at "/home/u"`) {
		t.Errorf("Warnings() = %q, want only the hidden credential", w)
	}
	// The same mounts in another order: the child after its parent stays.
	var l2 List
	for _, m := range []plan.Mount{home, cred} {
		if err := l2.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	if got := l2.Mounts(); len(got) != 2 {
		t.Errorf("child after parent: Mounts() = %+v, want both", got)
	}
}

func TestResolveOnRealFS(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := Resolve(Spec{Host: "d", ReadOnly: true}, dir, "/nonexistent", OS)
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != filepath.Join(dir, "d") || m.Target != m.Source || m.File || !m.ReadOnly {
		t.Errorf("Resolve = %+v", m)
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"/a", "/a:/b", "/a:/b:ro", "a::ro", ":", "/a:/b:ro:x", "~/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("error %v does not wrap ErrSpec", err)
			}
			return
		}
		if sp.Host == "" || strings.Contains(sp.Host, ":") {
			t.Fatalf("ParseSpec(%q) accepted host %q", s, sp.Host)
		}
		again, err := ParseSpec(sp.String())
		if err != nil || again != sp {
			t.Fatalf("round trip %q -> %q -> %+v, %v", s, sp.String(), again, err)
		}
	})
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{"/a /b", `'/a b' "/c"`, `\ `, `"`, "''"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		specs, err := ParseList(s)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("error %v does not wrap ErrSpec", err)
			}
			return
		}
		for _, sp := range specs {
			if sp.Host == "" {
				t.Fatalf("ParseList(%q) gave an empty host", s)
			}
		}
	})
}

// FuzzSubSymlinks builds a random tree of directories, files and links
// (absolute, relative, with "..", loops) in and next to a workspace, then
// checks Sub on a random path: whatever it accepts is, with every link
// resolved, strictly inside the workspace, and its container path is that
// place in the workspace. Nothing outside is ever rendered as inside.
func FuzzSubSymlinks(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{0, 1})
	f.Add([]byte{2, 0, 1, 2, 1, 0, 2, 3, 3, 2, 4, 4}, []byte{0, 0, 1})
	f.Add([]byte{2, 5, 2, 2, 6, 0, 2, 7, 1}, []byte{2, 5, 1, 0})
	f.Fuzz(func(t *testing.T, tree, query []byte) {
		root := t.TempDir()
		ws := filepath.Join(root, "ws")
		nodes := []string{ws, filepath.Join(root, "out")}
		for _, d := range nodes {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		byteAt := func(b []byte, i int) int {
			if len(b) == 0 {
				return 0
			}
			return int(b[i%len(b)])
		}
		for i := 0; i+2 < len(tree) && len(nodes) < 24; i += 3 {
			parent := nodes[byteAt(tree, i)%len(nodes)]
			if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
				continue
			}
			name := filepath.Join(parent, "n"+strconv.Itoa(len(nodes)))
			var err error
			switch kind := tree[i+1] % 6; kind {
			case 0:
				err = os.Mkdir(name, 0o755)
			case 1:
				err = os.WriteFile(name, nil, 0o644)
			case 2: // absolute link to any node
				err = os.Symlink(nodes[int(tree[i+2])%len(nodes)], name)
			case 3: // relative link to any node
				rel, rerr := filepath.Rel(parent, nodes[int(tree[i+2])%len(nodes)])
				if rerr != nil {
					t.Fatal(rerr)
				}
				err = os.Symlink(rel, name)
			case 4: // climbing link
				err = os.Symlink("."+strings.Repeat("/..", int(tree[i+2])%4), name)
			case 5: // loop
				err = os.Symlink(filepath.Base(name), name)
			}
			if err != nil {
				continue // the parent leads through a loop, or to a name that exists
			}
			nodes = append(nodes, name)
		}
		// The path asked for: node names and "..", relative to the workspace.
		var parts []string
		for i, b := range query {
			if i >= 6 {
				break
			}
			if b%4 == 0 {
				parts = append(parts, "..")
				continue
			}
			parts = append(parts, filepath.Base(nodes[int(b)%len(nodes)]))
		}
		p := filepath.Join(parts...)
		if p == "" {
			p = "."
		}
		w := Workspace{Host: ws, Real: ws, Target: "/ctr/ws"}
		host, target, _, err := Sub("--ro", p, w, OS)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("Sub(%q): %v does not wrap ErrSpec", p, err)
			}
			return
		}
		real, err := filepath.EvalSymlinks(filepath.Join(ws, p))
		if err != nil {
			t.Fatalf("Sub(%q) accepted a path that does not resolve: %v", p, err)
		}
		if host != real {
			t.Fatalf("Sub(%q) renders %q, but the path resolves to %q", p, host, real)
		}
		if !strings.HasPrefix(host, ws+"/") {
			t.Fatalf("Sub(%q) accepted %q, outside the workspace %q", p, host, ws)
		}
		if want := filepath.Join("/ctr/ws", strings.TrimPrefix(host, ws+"/")); target != want {
			t.Fatalf("Sub(%q) target %q, want %q", p, target, want)
		}
	})
}

// TestAddOverHidden: a mount at the target of one that a later mount hides
// is not merged into the hidden one: it goes on top, where it is seen.
func TestAddOverHidden(t *testing.T) {
	var l List
	for _, m := range []plan.Mount{
		{Kind: plan.MountBind, Source: "/p/.git/hooks", Target: "/p/.git/hooks"},
		{Kind: plan.MountBind, Source: "/p/.git", Target: "/p/.git"},
		{Kind: plan.MountBind, Source: "/p/.git/hooks", Target: "/p/.git/hooks", ReadOnly: true},
	} {
		if err := l.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	got := l.Mounts()
	if len(got) != 2 || got[1].Target != "/p/.git/hooks" || !got[1].ReadOnly {
		t.Errorf("Mounts() = %+v; want /p/.git, then /p/.git/hooks read-only on it", got)
	}
}
