package creds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ExecRunner runs programs found on the PATH of Env, with Env as their
// whole environment.
type ExecRunner struct {
	// Env is the environment, NAME=VALUE; its PATH finds the programs.
	Env []string
	// Stdin and Stderr are the user's, for Interact.
	Stdin  io.Reader
	Stderr io.Writer
}

// Capture runs argv and returns what it printed.
func (e ExecRunner) Capture(ctx context.Context, argv []string) ([]byte, []byte, error) {
	cmd, err := e.command(ctx, argv)
	if err != nil {
		return nil, nil, err
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.Bytes(), err
}

// Interact runs argv with the user's standard input; its output goes to the
// user's standard error, so that standard output stays for what launch
// prints (an export line).
func (e ExecRunner) Interact(ctx context.Context, argv []string) error {
	cmd, err := e.command(ctx, argv)
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.Stdin, e.Stderr, e.Stderr
	return cmd.Run()
}

func (e ExecRunner) command(ctx context.Context, argv []string) (*exec.Cmd, error) {
	p, err := LookPath(e.Env, argv[0])
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, p, argv[1:]...)
	cmd.Env = e.Env
	return cmd, nil
}

// ErrNotOnPath is wrapped by LookPath's error.
var ErrNotOnPath = errors.New("not found on PATH")

// LookPath finds an executable on the PATH of env (not the process's own).
func LookPath(env []string, name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	var path string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue // an empty entry is the current directory: never
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotOnPath)
}
