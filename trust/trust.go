// Package trust records which project config files the user has read and
// accepted, as direnv does for .envrc. A record ties three things: the
// workspace (the store's key is the file's place in it, never where a link
// leads), the hash of the file's content, and what the file widened when it
// was trusted, with every host path as its links then resolved. Any change,
// by anyone (the agent included), needs trusting again: to the content, and
// to where a path in it leads. The store is a small JSON file in the user's
// state directory, never in the workspace.
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
	"unicode/utf8"
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

// Format is the version of a Record that holds Widens. A record of an
// earlier launch (format 0) said nothing of where the file's paths led, so
// it is asked again.
const Format = 2

// Record is one trusted file.
type Record struct {
	SHA256 string `json:"sha256"`
	// Widens lists, in the user's words, what the file gave the agent
	// beyond the user's own settings when it was trusted, host paths with
	// their links resolved. A file that widens anything else later (a path
	// in it now leads elsewhere) is no longer trusted.
	Widens  []string  `json:"widens"`
	Format  int       `json:"format,omitempty"`
	Trusted time.Time `json:"trusted"`
}

// Key is the store's key for the project file of the workspace ws (an
// absolute path, its links resolved): the file's own place in that
// workspace. A .launch.toml that links to another project's trusted file
// has another key, so it does not inherit that file's trust.
func Key(ws string) string {
	return filepath.Join(filepath.Clean(ws), ".launch.toml")
}

// Store is the set of trusted files, by Key.
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
	// Widened: the content is the one trusted, but it now widens more
	// than it did then (a path in it leads elsewhere).
	Widened
	// Outdated: trusted by an earlier launch, which did not record what
	// the file widened.
	Outdated
)

// Check says whether key's file, with this content, widening what widens
// says, is trusted. more lists what it widens beyond the record (for
// Widened).
func (s *Store) Check(key string, content []byte, widens []string) (st Status, r Record, more []string) {
	r, ok := s.Files[key]
	switch {
	case !ok:
		return Unknown, r, nil
	case r.SHA256 != Sum(content):
		return Changed, r, nil
	case r.Format < Format:
		return Outdated, r, nil
	}
	had := map[string]bool{}
	for _, w := range r.Widens {
		had[w] = true
	}
	for _, w := range widens {
		// Findings are text (launch quotes paths): one that is not valid
		// UTF-8 would not survive the JSON store, so it is never trusted.
		if !had[w] || !utf8.ValidString(w) {
			more = append(more, w)
		}
	}
	if len(more) > 0 {
		return Widened, r, more
	}
	return Trusted, r, nil
}

// Add trusts key's file with this content and what it widens.
func (s *Store) Add(key string, content []byte, widens []string, now time.Time) {
	s.Files[key] = Record{SHA256: Sum(content), Widens: append([]string{}, widens...), Format: Format, Trusted: now.UTC().Truncate(time.Second)}
}

// Remove forgets key's file; false when it was not trusted.
func (s *Store) Remove(key string) bool {
	_, ok := s.Files[key]
	delete(s.Files, key)
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
