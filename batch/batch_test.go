package batch

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "a"), 0o755)
	f, err := Load(writeFile(t, dir, "ok.toml", "[[task]]\nworkspace = \"a\"\nagent = \"codex\"\nargs = [\"exec\", \"x y\"]\nflags = [\"--network\", \"none\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tk := f.Tasks[0]
	if tk.Name != "task-1" || tk.Workspace != filepath.Join(dir, "a") || f.Concurrency != DefaultConcurrency {
		t.Errorf("Load = %+v", f)
	}
	if got := tk.Argv("/bin/launch"); !reflect.DeepEqual(got, []string{"/bin/launch", "--yes", "--network", "none", "codex", "--", "exec", "x y"}) {
		t.Errorf("Argv = %q", got)
	}
	if f.ResultsPath() != filepath.Join(dir, "ok.toml.results.tsv") || f.LogPath(tk) != filepath.Join(dir, "ok.toml.logs", "task-1.log") {
		t.Errorf("paths %s %s", f.ResultsPath(), f.LogPath(tk))
	}
	for _, c := range []struct{ text, want string }{
		{"", "no [[task]]"},
		{"[[task]]\nworkspace = \"a\"\n", "no agent"},
		{"[[task]]\nagent = \"x\"\n", "no workspace"},
		{"[[task]]\nagent = \"x\"\nworkspace = \"nope\"\n", `workspace "` + filepath.Join(dir, "nope") + `": not a directory`},
		{"[[task]]\nname = \"a\"\nagent = \"x\"\nworkspace = \"a\"\n[[task]]\nname = \"a\"\nagent = \"x\"\nworkspace = \"a\"\n", "name used twice"},
		{"[[task]]\nname = \"a b\"\nagent = \"x\"\nworkspace = \"a\"\n", "name: want"},
		{"[[task]]\nagent = \"x\"\nworkspace = \"a\"\nflags = [\"--slurm\"]\n", "--slurm: the batch decides"},
		{"[[task]]\nagent = \"x\"\nworkspace = \"a\"\nflags = [\"exec\"]\n", "the agent's arguments go in args"},
		{"[[task]]\nagent = \"x\"\nworkspace = \"a\"\nwrkspace = 1\n", `unknown key "task.wrkspace"`},
		{"concurrency = -1\n[[task]]\nagent = \"x\"\nworkspace = \"a\"\n", "concurrency = -1: want at least 1"},
		// 0 is no concurrency at all, not the default: refused, not silently 4.
		{"concurrency = 0\n[[task]]\nagent = \"x\"\nworkspace = \"a\"\n", "concurrency = 0: want at least 1 (tasks at once); leave it out for 4"},
	} {
		_, err := Load(writeFile(t, dir, "bad.toml", c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q) = %v, want %q", c.text, err, c.want)
		}
	}
}

// TestRun runs a fake launch (a shell script) over six tasks, two at a
// time: every task runs in its own workspace with its arguments, the table
// gets a row each, and no more than two ever run at once.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	var text strings.Builder
	text.WriteString("concurrency = 2\n")
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		os.Mkdir(filepath.Join(dir, n), 0o755)
		exit := "0"
		if n == "c" {
			exit = "4"
		}
		text.WriteString("[[task]]\nname = \"" + n + "\"\nworkspace = \"" + n + "\"\nagent = \"shell\"\nargs = [\"" + exit + "\"]\n")
	}
	f, err := Load(writeFile(t, dir, "b.toml", text.String()))
	if err != nil {
		t.Fatal(err)
	}
	// The fake launch counts who runs at once in a directory of its own.
	running := filepath.Join(dir, "running")
	os.Mkdir(running, 0o755)
	exe := writeFile(t, dir, "launch", `#!/bin/sh
touch "`+running+`/$$"; n=$(ls "`+running+`" | wc -l); echo "max $n" >> "`+dir+`/max"
echo "in $(basename "$PWD") args $*"; sleep 0.2; rm "`+running+`/$$"; eval "exit \$$#"
`)
	if err := f.Reset(); err != nil {
		t.Fatal(err)
	}
	results, err := f.Run(context.Background(), exe, os.Environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 6 {
		t.Fatalf("results %+v", results)
	}
	for _, r := range results {
		log, _ := os.ReadFile(r.Log)
		if !strings.Contains(string(log), "in "+r.Task+" args --yes shell -- ") {
			t.Errorf("task %s log %q", r.Task, log)
		}
		if (r.Task == "c") != (r.State == "failed" && r.Exit == 4) {
			t.Errorf("task %s: %+v", r.Task, r)
		}
	}
	table, _ := os.ReadFile(f.ResultsPath())
	if lines := strings.Split(strings.TrimSpace(string(table)), "\n"); len(lines) != 7 || lines[0]+"\n" != Header {
		t.Errorf("results table:\n%s", table)
	}
	max, _ := os.ReadFile(filepath.Join(dir, "max"))
	if strings.Contains(string(max), "max 3") || !strings.Contains(string(max), "max 2") {
		t.Errorf("concurrency: %s", max)
	}
}
