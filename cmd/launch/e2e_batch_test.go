//go:build integration

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeBatch writes a batch file of n tasks, each in a workspace of its own
// holding a marker only it should see; task i fails with exit 10+i when i
// is a multiple of 5. Every task checks that no other task's workspace is
// visible and prints the secret it was passed by name.
func writeBatch(t *testing.T, s *session, n int) string {
	var b strings.Builder
	b.WriteString("concurrency = 4\n")
	flags := append(append([]string{}, s.backend.flags...), "--env", "BATCH_SECRET")
	q := make([]string, len(flags))
	for i, f := range flags {
		q[i] = strconv.Quote(f)
	}
	for i := range n {
		name := fmt.Sprintf("t%02d", i)
		s.write(filepath.Join(s.ws, name, "mine"), name+"\n")
		exit := 0
		if i%5 == 0 {
			exit = 10 + i
		}
		script := fmt.Sprintf(`cat mine; for d in ../t*; do [ "$d" = ../%s ] || [ ! -e "$d/mine" ] || echo "SEES $d"; done; echo "secret=$BATCH_SECRET"; exit %d`, name, exit)
		fmt.Fprintf(&b, "[[task]]\nname = %q\nworkspace = %q\nagent = \"shell\"\nargs = [%s]\nflags = [%s]\n", name, name, strconv.Quote(script), strings.Join(q, ", "))
	}
	file := filepath.Join(s.ws, "tasks.toml")
	s.write(file, b.String())
	return file
}

// checkBatch reads the results table and every task's log.
func checkBatch(t *testing.T, file string, n int, secret string) {
	t.Helper()
	b, err := os.ReadFile(file + ".results.tsv")
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	if rows[0] != "task\tstate\texit\tseconds\tlog" || len(rows) != n+1 {
		t.Fatalf("results table:\n%s", b)
	}
	seen := map[string]bool{}
	for _, row := range rows[1:] {
		f := strings.Split(row, "\t")
		i, _ := strconv.Atoi(strings.TrimPrefix(f[0], "t"))
		wantState, wantExit := "ok", "0"
		if i%5 == 0 {
			wantState, wantExit = "failed", strconv.Itoa(10+i)
		}
		if f[1] != wantState || f[2] != wantExit || seen[f[0]] {
			t.Errorf("row %q: want %s, exit %s, once", row, wantState, wantExit)
		}
		seen[f[0]] = true
		log, err := os.ReadFile(f[4])
		if err != nil {
			t.Errorf("task %s: log: %v", f[0], err)
			continue
		}
		if !strings.Contains(string(log), f[0]+"\n") || !strings.Contains(string(log), "secret="+secret) || strings.Contains(string(log), "SEES") {
			t.Errorf("task %s: log:\n%s", f[0], log)
		}
	}
}

// TestE2EBatchLocal: without Slurm, the tasks run here, four at a time.
func TestE2EBatchLocal(t *testing.T) {
	for _, b := range e2eBackends {
		if b.name != backendSingularity {
			continue
		}
		s := newSession(t, b)
		const secret = "local-batch-secret"
		s.env = append(s.env, "BATCH_SECRET="+secret)
		file := writeBatch(t, s, 10)
		c := s.command(s.bin, "batch", file)
		var errb bytes.Buffer
		c.Stderr = &errb
		err := c.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("launch batch: %v, want exit 1 (tasks failed on purpose); stderr:\n%s", err, errb.String())
		}
		if !strings.Contains(errb.String(), "8 of 10 tasks ok, 2 failed") {
			t.Errorf("summary:\n%s", errb.String())
		}
		checkBatch(t, file, 10, secret)
	}
}

// TestE2EBatchSlurm: 20 tasks as one Slurm job array complete with a
// correct results table; no secret value appears in the batch script or in
// scontrol's view of the job.
func TestE2EBatchSlurm(t *testing.T) {
	s := slurmSession(t)
	s.extraArgs = nil
	const secret = "slurm-batch-secret"
	s.env = append(s.env, "BATCH_SECRET="+secret)
	file := writeBatch(t, s, 20)
	dry, errs, code := s.run("", "batch", "--slurm", "--dry-run", file)
	if code != 0 || !strings.Contains(dry, "#SBATCH --array=0-19%4") || !strings.Contains(dry, "BATCH_SECRET") || strings.Contains(dry, secret) {
		t.Fatalf("dry run: exit %d, stderr %s, script:\n%s", code, errs, dry)
	}
	c := s.command(s.bin, "batch", "--slurm", file)
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
	var views bytes.Buffer
	for waiting := true; waiting; {
		select {
		case err = <-done:
			waiting = false
		case <-time.After(200 * time.Millisecond):
			out, _ := exec.Command("scontrol", "show", "job", "-dd").CombinedOutput()
			views.Write(out)
			ids, _ := exec.Command("squeue", "-h", "-o", "%A").Output()
			for _, id := range strings.Fields(string(ids)) {
				script, _ := exec.Command("scontrol", "write", "batch_script", id, "-").CombinedOutput()
				views.Write(script)
			}
		}
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("launch batch --slurm: %v, want exit 1 (tasks failed on purpose); stderr:\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "16 of 20 tasks ok, 4 failed") {
		t.Errorf("summary:\n%s", errb.String())
	}
	if !strings.Contains(views.String(), "launch-batch") {
		t.Errorf("the test never saw the job in scontrol; it cannot tell whether a secret leaks there")
	}
	if strings.Contains(views.String(), secret) {
		t.Errorf("a secret value appears in scontrol's view of the job or its script")
	}
	checkBatch(t, file, 20, secret)
}

// TestE2EBatchGlobalFlags: launch's flags before batch (the backend, the
// SIF, --slurm) reach every task of a Slurm job array that sets none of
// its own; without them the tasks would use the default image.
func TestE2EBatchGlobalFlags(t *testing.T) {
	s := slurmSession(t) // s.cmd puts the backend's flags and --slurm before batch
	var b strings.Builder
	// One at a time: concurrent launches in one home race on the agent
	// settings' placeholder mounts (see TestE2EBatchSlurm).
	b.WriteString("concurrency = 1\n")
	for _, name := range []string{"g1", "g2"} {
		s.write(filepath.Join(s.ws, name, "mine"), name+"\n")
		fmt.Fprintf(&b, "[[task]]\nname = %q\nworkspace = %q\nagent = \"shell\"\nargs = [\"cat mine\"]\n", name, name)
	}
	file := filepath.Join(s.ws, "global.toml")
	s.write(file, b.String())
	_, errs, code := s.run("", "batch", file)
	if code != 0 || !strings.Contains(errs, "2 of 2 tasks ok") || !strings.Contains(errs, "Slurm job array") {
		t.Fatalf("exit %d; stderr:\n%s", code, errs)
	}
	for _, name := range []string{"g1", "g2"} {
		if log, _ := os.ReadFile(file + ".logs/" + name + ".log"); !strings.Contains(string(log), name+"\n") {
			t.Errorf("task %s: log:\n%s", name, log)
		}
	}
}
