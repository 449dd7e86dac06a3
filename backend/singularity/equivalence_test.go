package singularity

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/golden"
	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

// unsupportedCorpus are the corpus plans this backend refuses, with the
// exact error each gets. Every other plan of the corpus must render.
var unsupportedCorpus = map[string]string{
	"limits-per-agent":   `privileges image: not supported by the singularity backend for an unprivileged user: apptainer runs your container with no capabilities and no new privileges, and mounts images nosuid, so sudo in the image cannot work; leave privileges at least (install what the agent needs into the image), or use --backend docker or --backend podman`,
	"privileges-image":   `privileges image: not supported by the singularity backend for an unprivileged user: apptainer runs your container with no capabilities and no new privileges, and mounts images nosuid, so sudo in the image cannot work; leave privileges at least (install what the agent needs into the image), or use --backend docker or --backend podman`,
	"runsc-network-none": `runtime "runsc": not supported by the singularity backend (apptainer has no gVisor runtime); use --backend docker or --backend podman`,
	"runtime-runsc":      `runtime "runsc": not supported by the singularity backend (apptainer has no gVisor runtime); use --backend docker or --backend podman`,
	"publish":            `publish "127.0.0.1:8080:80": apptainer shares the host's network and cannot map ports: the agent's port 80 is the host's port 80; publish 80:80, or use --backend docker or --backend podman`,
	"network-sidecar":    `network "allow=api.openai.com:443,github.com:22" through a proxy sidecar: a sidecar is a container of an engine, which Apptainer has not; use network_via = "socket" (the default on Linux)`,
}

// renderCorpus renders one corpus plan with c. A plan listed in
// unsupportedCorpus must fail with exactly that error, wrapping
// plan.ErrUnsupported (ok is false then); any other error fails the test.
func renderCorpus(t *testing.T, cp golden.Plan, c Config) (r Rendered, ok bool) {
	t.Helper()
	r, err := Render(cp.Plan, c)
	want, refused := unsupportedCorpus[cp.Name]
	switch {
	case refused && err == nil:
		t.Fatalf("%s: rendered, want the error %q", cp.Name, want)
	case refused:
		if err.Error() != want || !errors.Is(err, plan.ErrUnsupported) {
			t.Fatalf("%s: error %q (ErrUnsupported: %v), want %q wrapping plan.ErrUnsupported", cp.Name, err, errors.Is(err, plan.ErrUnsupported), want)
		}
		return Rendered{}, false
	case err != nil:
		t.Fatalf("%s: %v", cp.Name, err)
	}
	return r, true
}

// TestSnippetIsExec: for every plan of the corpus, the runtime's argv and
// environment that the printed snippet would produce (parsed from it: the
// VAR=value prefix lines, env -u NAME, the argv) equal, entry by entry,
// what Exec hands to its runner; so does the pull's argv. Inherited values
// appear by name in the snippet and by value in Exec's environment.
func TestSnippetIsExec(t *testing.T) {
	for _, cp := range golden.Corpus(t) {
		t.Run(cp.Name, func(t *testing.T) {
			c := goldenConfig()
			c.CacheDir = t.TempDir()
			c.ScratchDir = t.TempDir()
			p := cp.Plan
			arch := p.Image.Platform.Arch
			if arch == "" {
				arch = runtime.GOARCH
			}
			if !strings.Contains(p.Image.SIF, "://") {
				// Exec inspects a local image: give it one that exists.
				p.Image.SIF = filepath.Join(t.TempDir(), "local.sif")
				makeSIF(t, p.Image.SIF, arch, `{}`)
			}
			r, ok := renderCorpus(t, golden.Plan{Name: cp.Name, Plan: p}, c)
			if !ok {
				return
			}

			// The host: the variables the golden Config clears, a PATH,
			// and the values the plan inherits.
			host := map[string]string{
				"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "http_proxy": "http://p:3128",
				"HTTPS_PROXY": "http://p:3128", "APPTAINERENV_FOO": "1", "APPTAINER_BIND": "/data",
				"APPTAINER_CACHEDIR": "/data/ana/.apptainer",
			}
			for _, e := range p.Env {
				if e.FromHost {
					host[e.Name] = e.Value
				}
			}
			s := newStub(t)
			s.environ = environ(host)

			var got struct {
				exec, pull *proc
				dir        string // the run's scratch directory
			}
			if r.pull != nil && r.pull.never {
				// Cached: Exec does not pull, and neither does the snippet.
				os.MkdirAll(filepath.Dir(r.Image()), 0o755)
				makeSIF(t, r.Image(), arch, `{}`)
			} else if r.pull != nil {
				s.register([]string{"apptainer", "pull"}, 0, func(pr proc) {
					got.pull = &pr
					dst := pr.Argv[len(pr.Argv)-2]
					os.Remove(dst)
					makeSIF(t, dst, arch, `{}`)
				})
			}
			s.register([]string{"apptainer", "exec"}, 0, func(pr proc) {
				got.exec = &pr
				if ents, _ := os.ReadDir(c.ScratchDir); len(ents) == 1 {
					got.dir = filepath.Join(c.ScratchDir, ents[0].Name())
				}
			})
			if _, err := r.Exec(context.Background(), s, iostreams.Streams{}); err != nil {
				t.Fatalf("Exec: %v", err)
			}
			if got.exec == nil {
				t.Fatal("Exec ran no runtime")
			}

			snip, err := parseSnippet(r.Snippet(), r.binary)
			if err != nil {
				t.Fatalf("%v\n%s", err, r.Snippet())
			}
			resolve := func(name string) (string, bool) {
				switch name {
				case shScratch:
					return got.dir, got.dir != ""
				case shPart:
					if got.pull == nil {
						return "", false
					}
					return got.pull.Argv[len(got.pull.Argv)-2], true
				}
				v, ok := host[name]
				return v, ok
			}

			// Inherited values: by name in the snippet, by value in Exec's
			// environment.
			prefix := c.Flavour.EnvPrefix()
			for _, e := range p.Env {
				if !e.FromHost || e.Name == "HOME" {
					continue
				}
				w, ok := snip.assign[prefix+e.Name]
				if !ok || len(w) != 1 || !w[0].isRef || w[0].ref != e.Name {
					t.Errorf("snippet sets %s to %v, want \"$%s\" (by name)", prefix+e.Name, w, e.Name)
				}
				if !contains(got.exec.Env, prefix+e.Name+"="+e.Value) {
					t.Errorf("Exec's environment lacks %s with the inherited value", prefix+e.Name)
				}
			}

			env, err := snip.environ(host, resolve)
			if err != nil {
				t.Fatal(err)
			}
			argv, err := resolveWords(snip.argv, resolve)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffExec(argv, env, *got.exec) {
				t.Error(d)
			}

			switch {
			case got.pull == nil && snip.pull != nil:
				t.Errorf("the snippet pulls (%v), Exec did not", snip.pull)
			case got.pull != nil && snip.pull == nil:
				t.Errorf("Exec pulled (%q), the snippet does not", got.pull.Argv)
			case got.pull != nil:
				pull, err := resolveWords(snip.pull, resolve)
				if err != nil {
					t.Fatal(err)
				}
				if d := diffList("pull argv", pull, got.pull.Argv); d != nil {
					t.Error(strings.Join(d, "\n"))
				}
				// The pull runs in the caller's environment, as the
				// snippet's pull runs in the shell's.
				if d := diffList("pull env", environ(host), sorted(got.pull.Env)); d != nil {
					t.Error(strings.Join(d, "\n"))
				}
			}
		})
	}
}

// TestDiffExec: the comparison behind TestSnippetIsExec reports a dropped,
// an added and a changed entry on either side.
func TestDiffExec(t *testing.T) {
	argv := []string{"apptainer", "exec", "--cleanenv", "/i.sif", "sh"}
	env := map[string]string{"APPTAINERENV_A": "1", "APPTAINERENV_B": "x y", "PATH": "/bin"}
	same := proc{Argv: append([]string(nil), argv...), Env: environ(env)}
	if d := diffExec(argv, env, same); len(d) != 0 {
		t.Fatalf("equal sides differ: %q", d)
	}
	tests := []struct {
		name   string
		change func(*proc)
	}{
		{"exec drops a variable", func(p *proc) { p.Env = p.Env[1:] }},
		{"exec adds a variable", func(p *proc) { p.Env = append(p.Env, "TERM=xterm") }},
		{"exec changes a value", func(p *proc) { p.Env[1] = "APPTAINERENV_B=x" }},
		{"exec repeats a name", func(p *proc) { p.Env = append(p.Env, "PATH=/bin") }},
		{"exec drops an argument", func(p *proc) { p.Argv = p.Argv[:4] }},
		{"exec changes an argument", func(p *proc) { p.Argv[2] = "--contain" }},
		{"exec adds an argument", func(p *proc) { p.Argv = append(p.Argv, "-l") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proc{Argv: append([]string(nil), argv...), Env: environ(env)}
			tt.change(&p)
			if d := diffExec(argv, env, p); len(d) == 0 {
				t.Errorf("no difference reported")
			}
			// The same change on the snippet's side.
			if tt.name != "exec repeats a name" {
				m := map[string]string{}
				for _, kv := range p.Env {
					k, v, _ := strings.Cut(kv, "=")
					m[k] = v
				}
				if d := diffExec(p.Argv, m, same); len(d) == 0 {
					t.Errorf("no difference reported with the change on the snippet's side")
				}
			}
		})
	}
}

// diffExec lists the differences between the snippet's argv and child
// environment and what Exec ran.
func diffExec(argv []string, env map[string]string, got proc) []string {
	out := diffList("argv", argv, got.Argv)
	execEnv := map[string]string{}
	for _, kv := range got.Env {
		name, v, _ := strings.Cut(kv, "=")
		if _, dup := execEnv[name]; dup {
			out = append(out, fmt.Sprintf("env: Exec sets %s twice", name))
		}
		execEnv[name] = v
	}
	for _, kv := range environ(env) {
		name, v, _ := strings.Cut(kv, "=")
		switch ev, ok := execEnv[name]; {
		case !ok:
			out = append(out, fmt.Sprintf("env %s: snippet %q, Exec does not set it", name, v))
		case ev != v:
			out = append(out, fmt.Sprintf("env %s: snippet %q, Exec %q", name, v, ev))
		}
	}
	for _, kv := range sorted(got.Env) {
		if name, v, _ := strings.Cut(kv, "="); !hasKey(env, name) {
			out = append(out, fmt.Sprintf("env %s: Exec %q, the snippet does not set it", name, v))
		}
	}
	return out
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// diffList compares two lists entry by entry and says where they differ.
func diffList(what string, snippet, exec []string) []string {
	var out []string
	for i := 0; i < len(snippet) || i < len(exec); i++ {
		switch {
		case i >= len(exec):
			out = append(out, fmt.Sprintf("%s[%d]: snippet %q, Exec has nothing", what, i, snippet[i]))
		case i >= len(snippet):
			out = append(out, fmt.Sprintf("%s[%d]: Exec %q, snippet has nothing", what, i, exec[i]))
		case snippet[i] != exec[i]:
			out = append(out, fmt.Sprintf("%s[%d]: snippet %q, Exec %q", what, i, snippet[i], exec[i]))
		}
	}
	return out
}

// environ is m in os.Environ() form, sorted.
func environ(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// snippetRun is what a snippet runs the runtime with, parsed from its text.
type snippetRun struct {
	assign map[string]shWord // VAR=value prefix assignments
	order  []string          // their names, in order
	unset  []string          // env -u NAME
	argv   []shWord          // the runtime's argv, binary first
	pull   []shWord          // the pull's argv; nil when it does not pull
}

// environ is the runtime's environment when the snippet runs in a shell
// whose environment is host: the shell exports the prefix assignments to
// env, which removes the -u names and runs the runtime.
func (s snippetRun) environ(host map[string]string, resolve func(string) (string, bool)) (map[string]string, error) {
	env := map[string]string{}
	for k, v := range host {
		env[k] = v
	}
	for _, name := range s.order {
		v, err := s.assign[name].resolve(resolve)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		env[name] = v
	}
	for _, n := range s.unset {
		delete(env, n)
	}
	return env, nil
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// parseSnippet finds the runtime's command line in a snippet (the one
// whose command is binary exec) and the pull (binary pull).
func parseSnippet(src, binary string) (snippetRun, error) {
	lines, err := parseShell(src)
	if err != nil {
		return snippetRun{}, err
	}
	var run snippetRun
	found := false
	var noTerminal []string // unset when the shell has no terminal, as here
	for _, line := range lines {
		var words []string
		for _, w := range line {
			words = append(words, w.literal())
		}
		if l := strings.Join(words, " "); strings.HasPrefix(l, "[ -t 0 ] && [ -t 1 ] || unset ") {
			noTerminal = append(noTerminal, strings.Fields(strings.TrimPrefix(l, "[ -t 0 ] && [ -t 1 ] || unset "))...)
			continue
		}
		assign := map[string]shWord{}
		var order, unset []string
		i := 0
		for ; i < len(line); i++ {
			w := line[i]
			if len(w) == 0 || w[0].isRef || !assignment.MatchString(w[0].lit) {
				break
			}
			name, rest, _ := strings.Cut(w[0].lit, "=")
			val := append(shWord{{lit: rest}}, w[1:]...)
			if rest == "" {
				val = w[1:]
			}
			if _, dup := assign[name]; dup {
				return snippetRun{}, fmt.Errorf("%s assigned twice on one line", name)
			}
			assign[name] = val
			order = append(order, name)
		}
		if i < len(line) && line[i].literal() == "env" {
			for i++; i+1 < len(line) && line[i].literal() == "-u"; i += 2 {
				unset = append(unset, line[i+1].literal())
			}
		}
		if i+1 >= len(line) || line[i].literal() != binary {
			continue
		}
		switch line[i+1].literal() {
		case "exec":
			if found {
				return snippetRun{}, errors.New("the snippet runs the runtime twice")
			}
			found = true
			run.assign, run.order, run.unset, run.argv = assign, order, unset, line[i:]
		case "pull":
			if run.pull != nil {
				return snippetRun{}, errors.New("the snippet pulls twice")
			}
			pull := line[i:]
			if n := len(pull); pull[n-1].literal() == ">&2" {
				pull = pull[:n-1]
			}
			run.pull = pull
		}
	}
	if !found {
		return snippetRun{}, fmt.Errorf("no %s exec line in the snippet", binary)
	}
	run.unset = append(run.unset, noTerminal...)
	return run, nil
}

// shWordPart is a piece of a shell word: literal text, or the value of a
// variable ($NAME, "${NAME}"), or a command substitution (ref "$(...)").
type shWordPart struct {
	lit   string
	ref   string
	isRef bool
}

type shWord []shWordPart

// literal is the word's text when it holds no expansion, else "".
func (w shWord) literal() string {
	var b strings.Builder
	for _, p := range w {
		if p.isRef {
			return ""
		}
		b.WriteString(p.lit)
	}
	return b.String()
}

func (w shWord) resolve(lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for _, p := range w {
		if !p.isRef {
			b.WriteString(p.lit)
			continue
		}
		v, ok := lookup(p.ref)
		if !ok {
			return "", fmt.Errorf("$%s: no value", p.ref)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func resolveWords(ws []shWord, lookup func(string) (string, bool)) ([]string, error) {
	out := make([]string, len(ws))
	for i, w := range ws {
		v, err := w.resolve(lookup)
		if err != nil {
			return nil, fmt.Errorf("word %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// parseShell splits POSIX shell text into lines of words, with the quoting
// the snippet uses: '...', "..." with $NAME and ${...} inside, backslash
// escapes, backslash-newline continuations, # comments and $(...). It does
// not know operators: ( ; > stay parts of words.
func parseShell(src string) ([][]shWord, error) {
	var (
		lines  [][]shWord
		line   []shWord
		w      shWord
		inWord bool
	)
	endWord := func() {
		if inWord {
			line = append(line, w)
		}
		w, inWord = nil, false
	}
	endLine := func() {
		endWord()
		if len(line) > 0 {
			lines = append(lines, line)
		}
		line = nil
	}
	lit := func(s string) {
		inWord = true
		if n := len(w); n > 0 && !w[n-1].isRef {
			w[n-1].lit += s
		} else {
			w = append(w, shWordPart{lit: s})
		}
	}
	ref := func(name string) {
		inWord = true
		w = append(w, shWordPart{ref: name, isRef: true})
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\' && i+1 < len(src):
			i++
			if src[i] != '\n' {
				lit(string(src[i]))
			}
		case c == ' ' || c == '\t':
			endWord()
		case c == '\n':
			endLine()
		case c == '#' && !inWord:
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case c == '\'':
			j := strings.IndexByte(src[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			lit(src[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			lit("")
			for i++; ; i++ {
				if i >= len(src) {
					return nil, errors.New(`unterminated "`)
				}
				switch c := src[i]; {
				case c == '"':
				case c == '\\' && i+1 < len(src) && strings.IndexByte("$`\"\\\n", src[i+1]) >= 0:
					i++
					if src[i] != '\n' {
						lit(string(src[i]))
					}
					continue
				case c == '$':
					n, name, ok := dollar(src[i:])
					if ok {
						ref(name)
						i += n - 1
					} else {
						lit("$")
					}
					continue
				default:
					lit(string(c))
					continue
				}
				break
			}
		case c == '$':
			n, name, ok := dollar(src[i:])
			if !ok {
				lit("$")
				continue
			}
			ref(name)
			i += n - 1
		default:
			lit(string(c))
		}
	}
	endLine()
	return lines, nil
}

// dollar reads the expansion at the start of s ("$NAME", "${...}" or
// "$(...)"): its length and the name it refers to.
func dollar(s string) (n int, name string, ok bool) {
	if len(s) < 2 {
		return 0, "", false
	}
	switch s[1] {
	case '{':
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return 0, "", false
		}
		return j + 1, s[2:j], true
	case '(':
		depth := 0
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\'', '"':
				if j := strings.IndexByte(s[i+1:], s[i]); j >= 0 {
					i += j + 1
				}
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return i + 1, s[:i+1], true
				}
			}
		}
		return 0, "", false
	}
	j := 1
	for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || j > 1 && s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j == 1 {
		return 0, "", false
	}
	return j, s[1:j], true
}
