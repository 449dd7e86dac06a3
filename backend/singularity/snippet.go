package singularity

import (
	"path"
	"slices"
	"strings"

	"github.com/launchcli/launch/internal/shell"
)

// Shell variables the snippet uses. They are set (to empty) before the EXIT
// trap that removes them is installed, so that a variable of the same name in
// the user's environment can never be removed.
const (
	shScratch = "launch_tmp"
	shPart    = "launch_part"
	shSum     = "launch_sum"
)

// Snippet is the POSIX shell text --dry-run prints. Run as printed, in sh or
// bash, it does what a real run does: it creates the Plan's host paths
// (shell.Prepare; a real run has cmd/launch do that before Exec), and then
// what Exec does: it pulls the image into the cache when needed, creates the empty mask sources in a
// directory it removes afterwards, and runs the runtime with the same argv and
// environment. Values inherited from the host appear by name only
// (APPTAINERENV_NAME="$NAME"), so the snippet never shows a secret; they are
// read from the shell that runs it. It runs in a subshell, so that it
// changes nothing in the calling shell; one that does more than run the
// runtime runs under `set -e`, so that it stops at the first failure. Its
// first lines decide where the runtime's stdin comes from when the snippet
// is itself read from stdin (shell.Terminal; `launch --dry-run ... | sh`):
// Apptainer takes the terminal from its streams and has no flag for it.
func (r Rendered) Snippet() string {
	var b strings.Builder
	line := func(parts ...string) {
		b.WriteString(strings.Join(parts, " "))
		b.WriteByte('\n')
	}
	wrap := len(r.prepare) > 0 || r.pull != nil || r.needsScratch() || r.sandbox != nil
	// Always a subshell: the terminal lines may redirect its stdin.
	line("(")
	for _, l := range shell.Terminal("") {
		line(l)
	}
	unset := r.unset
	if i := slices.Index(unset, "TERM"); i >= 0 {
		// A real run passes TERM when it has a terminal (plan.Plan.TTY);
		// the snippet decides that when it runs: Apptainer passes the
		// shell's TERM through, unless there is no terminal.
		unset = slices.Delete(slices.Clone(unset), i, i+1)
		line("[ -t 0 ] && [ -t 1 ] || unset TERM")
	}
	if wrap {
		line("set -e")
		line("umask 077")
		if (r.pull != nil && !r.pull.never) || r.needsScratch() || r.sandbox != nil {
			line(shScratch+"=", shPart+"=")
			// chmod first: an unsquashed image interrupted half-way can
			// leave directories without write permission.
			line("trap", shell.Quote(`chmod -R u+w "$`+shScratch+`" 2>/dev/null || :; rm -rf "$`+shScratch+`" "$`+shPart+`"`), "EXIT")
			// The agent gets the terminal's signals itself; the shell only
			// waits for it, then cleans up and exits with its status.
			line("trap : HUP INT TERM")
		}
	}
	// The host preparation every backend's snippet starts with; a real
	// run does the same in cmd/launch before Exec.
	for _, l := range shell.Prepare(r.prepare) {
		line(l)
	}
	if p := r.pull; p != nil {
		link := shell.Quote(p.link)
		switch {
		case p.never:
			line("if [ ! -e", link, "]; then echo", shell.Quote("launch: "+p.missing()), ">&2; exit 1; fi")
		default:
			indent := ""
			if !p.always {
				line("if [ ! -e", link, "]; then")
				indent = "\t"
			}
			part := `"$` + shPart + `"`
			digestFile := `"` + p.store + `/$` + shSum + `.sif"`
			if strings.ContainsAny(p.store, "\"$`\\") {
				// Not reachable from Render's cache keys unless CacheDir
				// itself holds such characters; quote the directory apart.
				digestFile = shell.Quote(p.store+"/") + `"$` + shSum + `".sif`
			}
			line(indent+"mkdir -p", shell.Quote(p.store), shell.Quote(path.Dir(p.link)))
			line(indent + shPart + "=$(mktemp " + shell.Quote(p.store+"/.pull.XXXXXX") + ")")
			// The pull's progress goes to stderr, as in Exec.
			line(indent+shell.Quote(r.binary), shell.Join(p.args), part, shell.Quote(p.ref), ">&2")
			line(indent + shSum + "=$(sha256sum " + part + " | cut -d ' ' -f 1)")
			line(indent+"mv -f", part, digestFile)
			line(indent+"ln -sfn", digestFile, link)
			if !p.always {
				line("fi")
			}
		}
	}
	if r.sandbox != nil {
		for _, l := range r.sandbox.snippetLines(r.binary, r.image) {
			line(l)
		}
	}
	if r.needsScratch() {
		parent := `"${TMPDIR:-/tmp}"`
		if r.scratch != "" {
			parent = shell.Quote(r.scratch)
		}
		line(shScratch + "=$(mktemp -d " + parent + "/launch.XXXXXX)")
		for _, m := range r.masks {
			src := `"$` + shScratch + `"/` + m.name
			if m.file {
				line(":", ">"+src)
			} else {
				line("mkdir", src)
			}
		}
	}
	// The environment: prefix assignments, so that values go into the
	// environment of env and the runtime, never onto a command line.
	for _, v := range r.env {
		val := shell.Quote(v.value)
		if v.fromHost {
			val = shell.Var(v.host)
		}
		line(v.name + "=" + val + ` \`)
	}
	if r.tmpdirVar != "" {
		line(r.tmpdirVar + `="$` + shScratch + `" \`)
	}
	if len(unset) > 0 {
		parts := []string{"env"}
		for _, n := range unset {
			parts = append(parts, "-u", shell.Quote(n))
		}
		line(strings.Join(parts, " ") + ` \`)
	} else if len(r.env) > 0 {
		line(`env \`)
	}
	b.WriteString(r.commandLine())
	b.WriteByte('\n')
	line(")")
	return b.String()
}

// commandLine prints the runtime's argv: the options on the first line, one
// bind per line, the image and the agent's argv on the last.
func (r Rendered) commandLine() string {
	var lines []string
	cur := []string{shell.Quote(r.binary)}
	for i := 0; i < len(r.args); i++ {
		switch {
		case i == r.imageAt:
			lines = append(lines, strings.Join(cur, " "))
			cur = nil
			if r.sandbox != nil {
				cur = []string{`"$` + shBox + `"`}
				continue
			}
		case i < r.imageAt && r.args[i].word == "--bind":
			lines = append(lines, strings.Join(cur, " "))
			cur = []string{"--bind", quoteArg(r.args[i+1])}
			i++
			continue
		}
		cur = append(cur, quoteArg(r.args[i]))
	}
	lines = append(lines, strings.Join(cur, " "))
	return strings.Join(lines, " \\\n\t")
}

func quoteArg(a arg) string {
	if a.scratch {
		return `"$` + shScratch + `"/` + shell.Quote(a.word)
	}
	return shell.Quote(a.word)
}
