package creds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/launchcli/launch/plan"
)

// A settings path with Keys is a JSON file that must stay writable (Claude
// Code's ~/.claude.json is its state, written all the time) but whose
// listed keys name commands the agent's native runs on the host start
// (mcpServers). Launch fingerprints those keys before a session and, after
// it, puts back any the session changed (TakeWatch, Watch.Restore).

// WatchedOf lists the settings paths with keys that lie in a credential
// mount of have (a file mount, or under a directory mount), as host paths
// (links resolved by real).
func WatchedOf(paths []Path, have []plan.Mount, home, ctrHome string, real func(string) (string, error)) []plan.WatchedFile {
	var out []plan.WatchedFile
	for _, p := range paths {
		if len(p.Keys) == 0 || p.Validate() != nil {
			continue
		}
		rel := filepath.ToSlash(filepath.Clean(p.Rel))
		target := ctrHome + "/" + rel
		in := false
		for _, m := range have {
			if m.Origin == plan.OriginCredential && !m.ReadOnly && (m.Target == target || strings.HasPrefix(target, strings.TrimSuffix(m.Target, "/")+"/")) {
				in = true
			}
		}
		if !in {
			continue
		}
		host := filepath.Join(home, filepath.FromSlash(rel))
		if r, err := real(host); err == nil {
			host = r
		}
		out = append(out, plan.WatchedFile{Path: host, Keys: p.Keys})
	}
	return out
}

// Watch is the fingerprint of the watched keys of each file: the compact
// JSON of every value a key pattern matches, by its path.
type Watch struct {
	files []watchedFile
}

type watchedFile struct {
	plan.WatchedFile
	values map[string]json.RawMessage // joined path -> compact value
}

// TakeWatch fingerprints the watched keys. A file that is missing or not
// a JSON object has no values: anything the session adds is put back.
func TakeWatch(files []plan.WatchedFile) Watch {
	var w Watch
	for _, f := range files {
		doc, _ := readJSONObject(f.Path)
		w.files = append(w.files, watchedFile{f, matchKeys(doc, f.Keys)})
	}
	return w
}

// Restored is one watched key that a session changed and launch put back.
type Restored struct {
	File, Key string
	// Saved is where the session's version of the file was kept.
	Saved string
}

// Restore compares the watched keys with the fingerprint and, in each file
// where one changed, puts every changed key back as it was (removing one
// the session added), keeping the session's version of the file next to
// it as FILE.launch-quarantine-STAMP. The rest of the file is kept.
func (w Watch) Restore(now time.Time) ([]Restored, error) {
	var out []Restored
	for _, f := range w.files {
		doc, err := readJSONObject(f.Path)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return out, fmt.Errorf("%s: %w; launch cannot check its %s after the session: look at them before you run your own agent", f.Path, err, strings.Join(f.Keys, ", "))
		}
		after := matchKeys(doc, f.Keys)
		var changed []string
		for k, v := range after {
			if b, ok := f.values[k]; !ok || !bytes.Equal(b, v) {
				changed = append(changed, k)
			}
		}
		for k := range f.values {
			if _, ok := after[k]; !ok {
				changed = append(changed, k)
			}
		}
		if len(changed) == 0 {
			continue
		}
		sort.Strings(changed)
		for _, k := range changed {
			setPath(doc, splitKey(k), f.values[k])
		}
		saved := f.Path + ".launch-quarantine-" + now.UTC().Format("20060102T150405Z")
		if err := copyFile(f.Path, saved); err != nil {
			return out, err
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return out, err
		}
		if err := writeAtomic(f.Path, append(b, '\n')); err != nil {
			return out, err
		}
		for _, k := range changed {
			out = append(out, Restored{File: f.Path, Key: strings.Join(splitKey(k), "."), Saved: saved})
		}
	}
	return out, nil
}

// readJSONObject reads a JSON object, numbers kept as written.
func readJSONObject(p string) (map[string]any, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var doc map[string]any
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	return doc, nil
}

// matchKeys is the compact JSON of every value that the key patterns
// (dot-separated, "*" for any key of an object) match in doc, by its path
// joined with NUL.
func matchKeys(doc map[string]any, patterns []string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	var walk func(v any, pat, path []string)
	walk = func(v any, pat, path []string) {
		if len(pat) == 0 {
			b, err := json.Marshal(v)
			if err == nil {
				out[strings.Join(path, "\x00")] = b
			}
			return
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, sub := range obj {
			if pat[0] == "*" || pat[0] == k {
				walk(sub, pat[1:], append(append([]string{}, path...), k))
			}
		}
	}
	for _, p := range patterns {
		walk(doc, strings.Split(p, "."), nil)
	}
	return out
}

func splitKey(k string) []string { return strings.Split(k, "\x00") }

// setPath sets doc's value at path to v (nil: removes it), making the
// objects on the way where they are missing.
func setPath(doc map[string]any, path []string, v json.RawMessage) {
	obj := doc
	for _, k := range path[:len(path)-1] {
		next, ok := obj[k].(map[string]any)
		if !ok {
			if v == nil {
				return
			}
			next = map[string]any{}
			obj[k] = next
		}
		obj = next
	}
	last := path[len(path)-1]
	if v == nil {
		delete(obj, last)
		return
	}
	obj[last] = v
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

// writeAtomic replaces p with b through a temporary file in its directory,
// keeping p's mode.
func writeAtomic(p string, b []byte) error {
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(p); err == nil {
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".launch-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(f.Name(), mode)
	}
	if werr == nil {
		werr = os.Rename(f.Name(), p)
	}
	if werr != nil {
		os.Remove(f.Name())
	}
	return werr
}
