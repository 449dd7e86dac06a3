//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/shell"
)

// slurmReady says whether the one-node cluster of .ci/slurm.sh answers.
func slurmReady() error {
	out, err := exec.Command("sinfo", "-h", "-o", "%t").CombinedOutput()
	if err != nil {
		return fmt.Errorf("slurm missing (run .ci/slurm.sh): %v: %s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "idle" && s != "mix" && s != "alloc" {
		return fmt.Errorf("slurm node is %q, not idle (run .ci/slurm.sh)", s)
	}
	return nil
}

// slurmSession is an Apptainer session whose launches go through Slurm.
func slurmSession(t *testing.T) *session {
	need(t, slurmReady())
	for _, b := range e2eBackends {
		if b.name == backendSingularity {
			s := newSession(t, b)
			s.extraArgs = []string{"--slurm"}
			return s
		}
	}
	t.Fatal("no singularity backend under test")
	return nil
}

// TestE2ESlurm: launch --slurm runs the agent in a Slurm allocation with
// the plan's mounts and environment, passes the exit code back, and no
// secret value reaches a command line on the way.
func TestE2ESlurm(t *testing.T) {
	s := slurmSession(t)
	const secret = "s3cr3t-value-for-slurm"
	s.env = append(s.env, "SECRET_TOKEN="+secret, "OTHER_SECRET=nope")
	s.write(filepath.Join(s.ws, "in.txt"), "from the workspace\n")
	c := s.cmd("--yes", "--env", "SLURM_JOB_ID", "--env", "SECRET_TOKEN", "shell",
		`echo "job=$SLURM_JOB_ID"; echo "secret=$SECRET_TOKEN"; echo "other=$OTHER_SECRET"; cat in.txt; echo out > out.txt; sleep 2; exit 7`)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// While it runs, no process shows the secret on its command line.
	leak := ""
	for i := 0; i < 15 && leak == ""; i++ {
		leak = cmdlineHolding(secret)
		time.Sleep(100 * time.Millisecond)
	}
	err := c.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if leak != "" {
		t.Errorf("a command line holds the secret: %s", leak)
	}
	if code != 7 {
		t.Errorf("exit %d, want 7; stderr:\n%s", code, errb.String())
	}
	got := out.String()
	for _, want := range []string{"secret=" + secret, "other=\n", "from the workspace"} {
		if !strings.Contains(got, want) {
			t.Errorf("stdout lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(got, "job=") || strings.Contains(got, "job=\n") {
		t.Errorf("the agent did not run in a Slurm allocation (no SLURM_JOB_ID):\n%s", got)
	}
	if b, err := os.ReadFile(filepath.Join(s.ws, "out.txt")); err != nil || string(b) != "out\n" {
		t.Errorf("what the agent wrote in the workspace: %q, %v", b, err)
	}
	dry, _, _ := s.run("", "--dry-run", "--env", "SECRET_TOKEN", "shell", "true")
	if !strings.Contains(dry, "\nsrun $launch_tty ") || !strings.Contains(dry, "--export=") || !strings.Contains(dry, "SECRET_TOKEN") || strings.Contains(dry, secret) {
		t.Errorf("dry run under Slurm:\n%s", dry)
	}
}

// TestE2ESlurmJobEnv: under --slurm the job's own variables reach the
// agent without --env.
func TestE2ESlurmJobEnv(t *testing.T) {
	s := slurmSession(t)
	out, errs, code := s.run("", "--slurm-args=--cpus-per-task=1", "--yes", "shell", `echo "job=$SLURM_JOB_ID cpus=$SLURM_CPUS_PER_TASK"`)
	if code != 0 || !strings.Contains(out, "job=") || strings.Contains(out, "job= ") || !strings.Contains(out, "cpus=1") {
		t.Errorf("exit %d; stdout %q; stderr:\n%s", code, out, errs)
	}
}

// TestE2ESlurmTerminal: on a terminal, the session gets a pseudo-terminal
// in the allocation (srun --pty), typed input arrives, and the exit code
// comes back.
func TestE2ESlurmTerminal(t *testing.T) {
	s := slurmSession(t)
	args := append(append([]string{s.bin}, s.backend.debian...), "--slurm", "--yes", "shell",
		`stty size; read -r line; echo "got:$line"; exit 3`)
	p := newPane(t, s, 100, 30, args...)
	p.waitFor("30 100")
	p.send("typed in", "Enter")
	p.waitFor("got:typed in")
	if code := readStatus(t, s); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	// The printed srun, piped to sh in a terminal, decides --pty when it
	// runs (issue 16): the same pseudo-terminal, of the pane's size.
	dry := shell.Join(append(append([]string{s.bin}, s.backend.debian...), "--slurm", "--dry-run", "shell",
		`stty size; read -r line; echo "got:$line"; exit 4`))
	p = newPaneLine(t, s, 110, 35, dry+" 2>/dev/null | sh")
	p.waitFor("35 110")
	p.send("typed again", "Enter")
	p.waitFor("got:typed again")
	if code := readStatus(t, s); code != 4 {
		t.Errorf("the printed srun | sh: exit code %d, want 4\n%s", code, p.screen())
	}
}

// cmdlineHolding returns the command line of a process that holds s, or "".
func cmdlineHolding(s string) string {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && bytes.Contains(b, []byte(s)) {
			return d + ": " + strings.ReplaceAll(string(b), "\x00", " ")
		}
	}
	return ""
}

// TestE2ESandboxCache: as an ordinary user without FUSE, the first launch
// of a SIF unpacks it into the cache once; the second reuses it; a changed
// SIF is unpacked anew; the printed dry run does the same and runs the
// cached directory.
func TestE2ESandboxCache(t *testing.T) {
	var b e2eBackend
	for _, x := range e2eBackends {
		if x.name == backendSingularity {
			b = x
		}
	}
	s := newSession(t, b)
	if s.cred == nil {
		need(t, errors.New("the test needs root, to run launch as an ordinary user without FUSE"))
	}
	sif := filepath.Join(s.home, "img.sif")
	copyFile(t, ciImages+"/busybox.sif", sif, s)
	s.backend.flags = []string{"--backend", "singularity", "--sif-path", sif}
	_, errs, code := s.run("", "--yes", "shell", "true")
	if code != 0 || !strings.Contains(errs, "unpacking it once into "+filepath.Join(s.home, ".cache/launch/sandbox")) {
		t.Fatalf("first launch: exit %d, stderr:\n%s", code, errs)
	}
	out, errs, code := s.run("", "--yes", "shell", "echo second")
	if code != 0 || out != "second\n" || strings.Contains(errs, "unpacking") {
		t.Errorf("second launch: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	dry, _, _ := s.run("", "--dry-run", "shell", "echo printed")
	c := s.command("sh", "-c", dry)
	got, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(got), "printed") || strings.Contains(string(got), "Extracting") {
		t.Errorf("the printed command: %v:\n%s\n%s", err, got, dry)
	}
	copyFile(t, ciImages+"/busybox-path.sif", sif, s)
	if _, errs, code := s.run("", "--yes", "shell", "true"); code != 0 || !strings.Contains(errs, "unpacking it once") {
		t.Errorf("a changed SIF: exit %d, stderr:\n%s", code, errs)
	}
	boxes, _ := filepath.Glob(filepath.Join(s.home, ".cache/launch/sandbox/*.source"))
	if len(boxes) != 2 {
		t.Errorf("cache entries %q, want 2 (one per SIF content)", boxes)
	}
}

// TestE2ESandboxCacheDir: with APPTAINER_CACHEDIR set (a cluster's way to
// keep images off a small home quota) the SIF is unpacked there, not under
// ~/.cache, and launch doctor says so.
func TestE2ESandboxCacheDir(t *testing.T) {
	s := newSession(t, backendNamed(backendSingularity))
	if s.cred == nil {
		need(t, errors.New("the test needs root, to run launch as an ordinary user without FUSE"))
	}
	cachedir := filepath.Join(s.home, "data", "apptainer")
	s.write(filepath.Join(cachedir, "keep"), "")
	s.env = append(s.env, "APPTAINER_CACHEDIR="+cachedir)
	sif := filepath.Join(s.home, "img.sif")
	copyFile(t, ciImages+"/busybox.sif", sif, s)
	s.backend.flags = []string{"--backend", "singularity", "--sif-path", sif}
	want := filepath.Join(cachedir, "launch-sandbox")
	if _, errs, code := s.run("", "--yes", "shell", "true"); code != 0 || !strings.Contains(errs, "unpacking it once into "+want) {
		t.Fatalf("exit %d, want the unpack under %s; stderr:\n%s", code, want, errs)
	}
	if boxes, _ := filepath.Glob(filepath.Join(s.home, ".cache/launch/sandbox/*")); len(boxes) > 0 {
		t.Errorf("unpacked under ~/.cache too: %q", boxes)
	}
	out, errs, _ := s.run("", "doctor")
	if !strings.Contains(out+errs, "unpack cache") || !strings.Contains(out+errs, want+" (from APPTAINER_CACHEDIR") || !strings.Contains(out+errs, "GB free") {
		t.Errorf("launch doctor does not name the unpack cache %s:\n%s\n%s", want, out, errs)
	}
}

func copyFile(t *testing.T, from, to string, s *session) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	s.write(to, string(b))
}

// TestE2ESlurmCancelledPs: a detached Slurm launch cancelled while it runs
// shows in launch ps -a, once Slurm no longer lists it, with its workspace
// and the time it was launched, not the time it was cancelled.
func TestE2ESlurmCancelledPs(t *testing.T) {
	s := slurmSession(t)
	before := time.Now()
	out, errs, code := s.run("", "--yes", "--detach", "shell", "echo started; sleep 120")
	submitted := time.Now()
	id := strings.TrimSpace(out)
	if code != 0 || id == "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	log := filepath.Join(s.home, ".local/state/launch/slurm", "launch-shell-"+id+".log")
	waitUntil(t, 60*time.Second, "the job's log to show it started", func() bool {
		b, _ := os.ReadFile(log)
		return strings.Contains(string(b), "started")
	})
	if out, err := exec.Command("scancel", id).CombinedOutput(); err != nil {
		t.Fatalf("scancel %s: %v: %s", id, err, out)
	}
	waitUntil(t, 60*time.Second, "squeue to forget job "+id, func() bool {
		q, _ := exec.Command("squeue", "-h", "-j", id, "-o", "%i").CombinedOutput()
		return !strings.Contains(string(q), id)
	})
	psOut, psErr, _ := s.runPlain("ps", "-a", "--json")
	var list []struct {
		Name, Workspace string
		Started         time.Time
	}
	if err := json.Unmarshal([]byte(psOut), &list); err != nil {
		t.Fatalf("launch ps -a --json: %v:\n%s\n%s", err, psOut, psErr)
	}
	for _, i := range list {
		if i.Name != id {
			continue
		}
		if i.Workspace != s.ws || i.Started.Before(before) || i.Started.After(submitted) {
			t.Errorf("job %s: workspace %q, started %s; want %s, launched between %s and %s", id, i.Workspace, i.Started, s.ws, before, submitted)
		}
		return
	}
	t.Errorf("launch ps -a does not list the cancelled job %s:\n%s", id, psOut)
}

// TestE2ESlurmDetach: --slurm --detach submits a batch job and returns its
// id at once; the job shows in squeue, and its log fills with the agent's
// output.
func TestE2ESlurmDetach(t *testing.T) {
	s := slurmSession(t)
	out, errs, code := s.run("", "--yes", "--detach", "shell", "echo started; sleep 4; echo finished")
	id := strings.TrimSpace(out)
	if code != 0 || id == "" || !strings.Contains(errs, "submitted Slurm job "+id) {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	q, _ := exec.Command("squeue", "-h", "-j", id, "-o", "%j %u").CombinedOutput()
	if !strings.Contains(string(q), "launch-shell") {
		t.Errorf("squeue -j %s: %q, want the job", id, q)
	}
	// launch ps lists it while it is queued or runs.
	psOut, psErr, psCode := s.runPlain("ps", "--json")
	if psCode != 0 || !strings.Contains(psOut, `"name": "`+id+`"`) || !strings.Contains(psOut, `"backend": "slurm"`) {
		t.Errorf("launch ps: exit %d, stdout:\n%s\nstderr:\n%s", psCode, psOut, psErr)
	}
	log := filepath.Join(s.home, ".local/state/launch/slurm", "launch-shell-"+id+".log")
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(log)
		if strings.Contains(string(b), "finished") {
			if !strings.Contains(string(b), "started") {
				t.Errorf("log %s:\n%s", log, b)
			}
			if out, _, _ := s.runPlain("logs", id); !strings.Contains(out, "finished") {
				t.Errorf("launch logs %s: %q", id, out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s never showed the end:\n%s", log, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitUntil polls cond until it holds, or fails the test after limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", limit, what)
		}
	}
}
