package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Sessions without an engine to keep them (Apptainer) are kept by a
// supervisor process of launch's own; each has a state file,
// $XDG_STATE_HOME/launch/sessions/NAME.json, next to its log NAME.log, and
// a socket for attach in the user's runtime directory.

// State is the state file of a supervised session.
type State struct {
	Info
	// Supervisor is the pid of the supervisor process.
	Supervisor int `json:"supervisor"`
	// Child is the pid of the launch the supervisor runs.
	Child int `json:"child,omitempty"`
	// Socket is the unix socket launch attach connects to.
	Socket string `json:"socket"`
	// Log is the file the session's output goes to.
	Log string `json:"log"`
}

// StateDir is the directory of the state files under stateHome
// ($XDG_STATE_HOME/launch).
func StateDir(stateHome string) string { return filepath.Join(stateHome, "sessions") }

// WriteState writes s to dir/NAME.json, atomically (a rename).
func WriteState(dir string, s State) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("session state: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, s.Name+".json"), b); err != nil {
		return fmt.Errorf("session state: %w", err)
	}
	return nil
}

// ReadStates reads every state file in dir; a missing dir is none.
func ReadStates(dir string) ([]State, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session state %q: %w", dir, err)
	}
	var out []State
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var s State
		if json.Unmarshal(b, &s) == nil && s.Name != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// RemoveState removes the state file and log of the session name.
func RemoveState(dir, name string) error {
	var errs []error
	for _, f := range []string{name + ".json", name + ".log"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
