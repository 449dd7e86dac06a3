package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
