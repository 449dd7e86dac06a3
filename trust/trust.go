// Package trust records which project config files the user has read and
// accepted, as direnv does for .envrc: a file is trusted by the hash of its
// content, so any change, by anyone (the agent included), needs trusting
// again. The store is a small JSON file in the user's state directory, never
// in the workspace.
//
// It also names the classes of config keys (Class): what a project file may
// set freely, what it may set only once trusted, and what only the user's
// own config may set.
//
// It imports only the standard library.
package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Class says what a config key can do when a project file sets it.
type Class int

const (
	// Narrowing keys take access away or change none (read-only paths,
	// masks, network none): a project file sets them without trust.
	Narrowing Class = iota + 1
	// Widening keys can give the agent more than the user's own settings
	// do (a host mount, a host variable, another image, the network): a
	// project file that sets one is refused until the user trusts it. Some
	// keys widen only with some values (network = "none" narrows); the
	// caller judges the value.
	Widening
	// UserOnly keys are never taken from a project file, trusted or not:
	// skipping the confirmation, the default image, the image user's ids,
	// which host variables an agent inherits, the runtime.
	UserOnly
)

func (c Class) String() string {
	switch c {
	case Narrowing:
		return "narrowing"
	case Widening:
		return "widening"
	case UserOnly:
		return "user-only"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Record is one trusted file.
type Record struct {
	SHA256  string    `json:"sha256"`
	Trusted time.Time `json:"trusted"`
}

// Store is the set of trusted files, by absolute path (links resolved).
type Store struct {
	path  string
	Files map[string]Record `json:"files"`
}

// File is where the store lives: $XDG_STATE_HOME/launch/trust.json, or
// ~/.local/state/launch/trust.json.
func File(getenv func(string) string, home string) string {
	dir := getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "launch", "trust.json")
}

// Load reads the store at path; a missing file is an empty store.
func Load(path string, read func(string) ([]byte, error)) (*Store, error) {
	s := &Store{path: path, Files: map[string]Record{}}
	b, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trust store %q: %w", path, err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("trust store %q: %v; fix or remove the file (then trust your projects again)", path, err)
	}
	if s.Files == nil {
		s.Files = map[string]Record{}
	}
	return s, nil
}

// Sum is the hex SHA-256 of content.
func Sum(content []byte) string {
	h := sha256.Sum256(content)
	return hex.EncodeToString(h[:])
}

// Status is what the store says of one file's content.
type Status int

const (
	// Unknown: the file was never trusted.
	Unknown Status = iota
	// Trusted: this very content was trusted.
	Trusted
	// Changed: the file was trusted with other content.
	Changed
)

// Check says whether file, with this content, is trusted.
func (s *Store) Check(file string, content []byte) (Status, Record) {
	r, ok := s.Files[file]
	switch {
	case !ok:
		return Unknown, r
	case r.SHA256 == Sum(content):
		return Trusted, r
	}
	return Changed, r
}

// Add trusts file with this content.
func (s *Store) Add(file string, content []byte, now time.Time) {
	s.Files[file] = Record{SHA256: Sum(content), Trusted: now.UTC().Truncate(time.Second)}
}

// Remove forgets file; false when it was not trusted.
func (s *Store) Remove(file string) bool {
	_, ok := s.Files[file]
	delete(s.Files, file)
	return ok
}

// Paths lists the trusted files, sorted.
func (s *Store) Paths() []string {
	out := make([]string, 0, len(s.Files))
	for p := range s.Files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Save writes the store atomically, readable by the user only.
func (s *Store) Save() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("trust store: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".trust-*.json")
	if err != nil {
		return fmt.Errorf("trust store: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("trust store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("trust store: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("trust store: %w", err)
	}
	return nil
}
