package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The images launch pulled, so that `launch gc --images` can tell them from
// the user's own: $XDG_STATE_HOME/launch/images.json. A backend reports a
// pull through a hook (its Config's OnPull); cmd records it here.

// Pulled is one image launch pulled.
type Pulled struct {
	// Backend is "docker" or "podman".
	Backend string `json:"backend"`
	// Endpoint names the engine it was pulled on (its socket or URL), as
	// the backend's connection names it (Info.Endpoint).
	Endpoint string `json:"endpoint"`
	// Ref is the reference launch pulled ("ghcr.io/org/img:tag").
	Ref string `json:"ref"`
	// ID is the image ID the engine gave it after the pull.
	ID string `json:"id"`
	// Time is when it was pulled.
	Time time.Time `json:"time"`
}

// ImagesFile is the record of pulled images under stateHome
// ($XDG_STATE_HOME/launch).
func ImagesFile(stateHome string) string { return filepath.Join(stateHome, "images.json") }

// ReadPulled reads the record file; a missing file is an empty record.
func ReadPulled(file string) ([]Pulled, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pulled images record: %w", err)
	}
	var out []Pulled
	if len(b) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("pulled images record %q: %w; move it aside (launch then forgets which images it pulled)", file, err)
	}
	return out, nil
}

// RecordPull adds p to the record file, replacing an older record of the
// same reference on the same engine. Concurrent launches are serialised
// by a lock on the file's directory.
func RecordPull(file string, p Pulled) error {
	return UpdatePulled(file, func(list []Pulled) []Pulled {
		list = slices.DeleteFunc(list, func(q Pulled) bool { return q.Same(p) })
		return append(list, p)
	})
}

// Same reports whether p and q record the same reference on the same
// engine.
func (p Pulled) Same(q Pulled) bool {
	return p.Backend == q.Backend && p.Endpoint == q.Endpoint && p.Ref == q.Ref
}

// ForgetPulled removes the records that drop says to from the file.
func ForgetPulled(file string, drop func(Pulled) bool) error {
	return UpdatePulled(file, func(list []Pulled) []Pulled { return slices.DeleteFunc(list, drop) })
}

// UpdatePulled rewrites the record file with f's answer, under the lock,
// atomically (a rename).
func UpdatePulled(file string, f func([]Pulled) []Pulled) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pulled images record: %w", err)
	}
	unlock, err := lockFile(file + ".lock")
	if err != nil {
		return fmt.Errorf("pulled images record: %w", err)
	}
	defer unlock()
	list, err := ReadPulled(file)
	if err != nil {
		return err
	}
	list = f(list)
	if list == nil {
		list = []Pulled{}
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(file, append(b, '\n')); err != nil {
		return fmt.Errorf("pulled images record: %w", err)
	}
	return nil
}
