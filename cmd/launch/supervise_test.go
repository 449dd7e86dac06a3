package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
	sess "github.com/launchcli/launch/session"
)

// TestSuperviseFailureInLog: a supervisor that cannot make the session's
// socket says why in the session's log, the file launch --detach names
// when no session comes up (its own stderr goes nowhere).
func TestSuperviseFailureInLog(t *testing.T) {
	tmp := t.TempDir()
	h := fakeHost(fakeFS(), []string{"XDG_STATE_HOME=" + tmp}, false)
	h.Executable = "/bin/true"
	blocker := filepath.Join(tmp, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := sess.StateDir(stateDir(h))
	st := sess.State{Info: sess.Info{Name: "launch-x", ID: "launch-x", Status: sess.Created},
		Socket: filepath.Join(blocker, "launch", "launch-x.sock"), Log: filepath.Join(dir, "launch-x.log")}
	if err := sess.WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	err := supervise(h, "launch-x", nil)
	if err == nil {
		t.Fatal("supervise with its socket under a file: no error")
	}
	b, _ := os.ReadFile(st.Log)
	if !strings.Contains(string(b), "the session's supervisor") || !strings.Contains(string(b), err.Error()) {
		t.Errorf("log %q lacks the supervisor's error %q", b, err)
	}
}

// TestSuperviseRefusesSharedSocketDir: a detached Apptainer session's
// attach socket never goes in a directory that other users can use (there
// another user could connect, or put a socket of their own where launch
// attach looks, and read what is typed): the supervisor refuses it, runs
// nothing, and says why in the session's log.
func TestSuperviseRefusesSharedSocketDir(t *testing.T) {
	tmp := t.TempDir()
	h := fakeHost(fakeFS(), []string{"XDG_STATE_HOME=" + tmp}, false)
	marker := filepath.Join(tmp, "ran")
	h.Executable = filepath.Join(tmp, "fake-launch")
	if err := os.WriteFile(h.Executable, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(tmp, "launch-shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	dir := sess.StateDir(stateDir(h))
	st := sess.State{Info: sess.Info{Name: "launch-x", ID: "launch-x", Status: sess.Created},
		Socket: filepath.Join(shared, "launch-x.sock"), Log: filepath.Join(dir, "launch-x.log")}
	if err := sess.WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	err := supervise(h, "launch-x", nil)
	if err == nil || !strings.Contains(err.Error(), shared) || !strings.Contains(err.Error(), "mode") {
		t.Fatalf("supervise with its socket in a mode 0777 directory: %v; want a refusal naming %s and its mode", err, shared)
	}
	if _, serr := os.Stat(marker); serr == nil {
		t.Error("the session ran")
	}
	if b, _ := os.ReadFile(st.Log); !strings.Contains(string(b), err.Error()) {
		t.Errorf("log %q lacks the refusal %q", b, err)
	}
}

// TestSupervisedEarlyExit: a supervisor that stops before its session
// starts leaves no "created" session for ps and no socket directory: the
// session is recorded as ended (-1) with its log named, and the private
// directory of its socket is gone.
func TestSupervisedEarlyExit(t *testing.T) {
	tmp := t.TempDir()
	h := fakeHost(fakeFS(), []string{"XDG_STATE_HOME=" + tmp, "TMPDIR=" + tmp}, false)
	h.UID = os.Getuid() // the socket directory is checked to be the caller's
	h.Cwd = tmp
	h.Executable = filepath.Join(tmp, "fake-launch")
	if err := os.WriteFile(h.Executable, []byte("#!/bin/sh\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_, err := launchSupervised(iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &out}, h, plan.Plan{Agent: "shell", Workspace: "/home/ana/proj"}, &cli.Command{Name: "launch"})
	if err == nil || !strings.Contains(err.Error(), "stopped before the session started") {
		t.Fatalf("err %v; want the supervisor's early stop", err)
	}
	all, _ := sess.ReadStates(sess.StateDir(stateDir(h)))
	if len(all) != 1 || all[0].Status != sess.Exited || all[0].ExitCode == nil || *all[0].ExitCode != -1 || !strings.Contains(err.Error(), all[0].Log) {
		t.Fatalf("states %+v; want one ended with -1 whose log the error names", all)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "launch-*")); len(left) != 0 {
		t.Errorf("left behind: %q", left)
	}
}
