package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// batchCase writes a batch file of the given text into a real directory
// with workspaces a and b (batch.Load reads the real file system), and the
// same workspaces into the fake host's.
func batchCase(t *testing.T, text string, args ...string) (out, errs string, code int, dir string) {
	t.Helper()
	dir = t.TempDir()
	c := goldenCase{files: map[string]string{}}
	for _, ws := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, ws), 0o755); err != nil {
			t.Fatal(err)
		}
		c.files[strings.TrimPrefix(filepath.Join(dir, ws, "README"), "/")] = "x\n"
	}
	file := filepath.Join(dir, "tasks.toml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, a := range args {
		if a == "FILE" {
			a = file
		}
		c.args = append(c.args, a)
	}
	out, errs, code = runCase(t, c)
	return out, errs, code, dir
}

// TestBatchGlobalFlags: launch's flags given to launch batch itself reach
// every task, before the task's own, unless the task sets the same flag;
// under Slurm the array tasks get them too.
func TestBatchGlobalFlags(t *testing.T) {
	const text = "[[task]]\nname = \"one\"\nworkspace = \"a\"\nagent = \"shell\"\n" +
		"[[task]]\nname = \"two\"\nworkspace = \"b\"\nagent = \"shell\"\nflags = [\"--backend\", \"docker\"]\n"
	out, errs, code, dir := batchCase(t, text, "--backend", "singularity", "--network", "none", "--env", "A", "--env", "B", "batch", "--dry-run", "FILE")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		"(cd " + filepath.Join(dir, "a") + " && /usr/local/bin/launch --yes --backend=singularity --env=A --env=B --network=none shell)",
		"(cd " + filepath.Join(dir, "b") + " && /usr/local/bin/launch --yes --env=A --env=B --network=none --backend docker shell)",
	}
	if len(lines) != 2 || lines[0] != want[0] || lines[1] != want[1] {
		t.Errorf("dry run:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	out, errs, code, dir = batchCase(t, text, "--backend", "singularity", "--slurm", "batch", "--dry-run", "FILE")
	if code != 0 || !strings.Contains(out, "exec /usr/local/bin/launch --backend=singularity batch --task "+filepath.Join(dir, "tasks.toml")) {
		t.Errorf("slurm dry run: exit %d, stderr %s; script:\n%s", code, errs, out)
	}
	if _, errs, code, _ = batchCase(t, text, "--detach", "batch", "FILE"); code != 2 || !strings.Contains(errs, "--detach: the batch waits for its tasks") {
		t.Errorf("--detach: exit %d; stderr:\n%s", code, errs)
	}
}

// TestBatchChecksFirst: a bad task anywhere in the file fails the batch
// before any task runs or anything is queued, naming the task and the
// problem, with exit 2; the dry run refuses the same.
func TestBatchChecksFirst(t *testing.T) {
	for _, c := range []struct{ name, task, want string }{
		{"unknown-agent", "agent = \"codx\"\n", `task two: unknown agent "codx"`},
		{"bad-flag", "agent = \"shell\"\nflags = [\"--pids\", \"lots\"]\n", "task two: --pids"},
		{"unknown-flag", "agent = \"shell\"\nflags = [\"--bogus\"]\n", "task two: "},
	} {
		for _, mode := range [][]string{{"batch", "FILE"}, {"batch", "--dry-run", "FILE"}, {"batch", "--slurm", "FILE"}, {"batch", "--slurm", "--dry-run", "FILE"}} {
			t.Run(c.name+"/"+strings.Join(mode, "_"), func(t *testing.T) {
				text := "[[task]]\nname = \"one\"\nworkspace = \"a\"\nagent = \"shell\"\n[[task]]\nname = \"two\"\nworkspace = \"b\"\n" + c.task
				out, errs, code, dir := batchCase(t, text, append([]string{"--backend", "singularity"}, mode...)...)
				if code != 2 || !strings.Contains(errs, c.want) || !strings.Contains(errs, "nothing was run") || out != "" {
					t.Errorf("exit %d, want 2 and %q; stdout %q; stderr:\n%s", code, c.want, out, errs)
				}
				if _, err := os.Stat(filepath.Join(dir, "tasks.toml.logs")); err == nil {
					t.Errorf("a task ran (or the logs were made) before the file was checked")
				}
			})
		}
	}
}
