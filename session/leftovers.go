package session

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// What `launch gc` finds on the file system: what launch made and no
// longer uses. A file or directory that does not look like launch's own is
// never a leftover, so that nothing of the user's is removed.

// Leftover is one thing gc removes.
type Leftover struct {
	// Kind says what it is: "container", "sif", "unpack", "sandbox",
	// "scratch".
	Kind string `json:"kind"`
	// Path is the file or directory; for a container, its name.
	Path string `json:"path"`
	// Why says why it is no longer used.
	Why string `json:"why"`
	// Size is its size in bytes; -1 when not known.
	Size int64 `json:"size"`
	// Session is the container's session, for Kind "container".
	Session *Info `json:"session,omitempty"`
}

// digestSIF is the name of a pulled SIF in the cache's sha256 directory.
var digestSIF = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{64}\.sif$`) })

// UnlinkedSIFs lists the SIF files of the pull cache dir (dir/sha256/HEX.sif,
// as the singularity backend stores them) that no symbolic link under dir
// points to any more: a newer pull of the same reference replaced the link,
// or a pull was killed after its download.
func UnlinkedSIFs(dir string) ([]Leftover, error) {
	store := filepath.Join(dir, "sha256")
	entries, err := os.ReadDir(store)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("SIF cache %q: %w", dir, err)
	}
	used := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error { //nolint:errcheck // best effort: an unreadable link keeps nothing
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if t, err := filepath.EvalSymlinks(p); err == nil {
			used[t] = true
		}
		return nil
	})
	var out []Leftover
	for _, e := range entries {
		if !e.Type().IsRegular() || !digestSIF().MatchString(e.Name()) {
			continue
		}
		p := filepath.Join(store, e.Name())
		real, err := filepath.EvalSymlinks(p)
		if err != nil || used[real] {
			continue
		}
		out = append(out, Leftover{Kind: "sif", Path: p, Why: "no cache link points to it", Size: DirSize(p)})
	}
	return out, nil
}

// StaleSandboxes lists, in the unpacked-image cache dir, the unpacks that a
// killed launch left half-done (.unpack.*) and the entries whose SIF is gone
// (HEX with HEX.source naming a missing file).
func StaleSandboxes(dir string, inUse func(string) bool) ([]Leftover, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unpacked image cache %q: %w", dir, err)
	}
	var out []Leftover
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir() && strings.HasPrefix(e.Name(), ".unpack.") && !inUse(p):
			out = append(out, Leftover{Kind: "unpack", Path: p, Why: "an unpack that did not finish", Size: DirSize(p)})
		case strings.HasSuffix(e.Name(), ".source") && digestSIF().MatchString(strings.TrimSuffix(e.Name(), ".source")+".sif"):
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			src := strings.TrimSpace(string(b))
			box := strings.TrimSuffix(p, ".source")
			if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) && !inUse(box) {
				out = append(out, Leftover{Kind: "sandbox", Path: box, Why: "its SIF " + src + " is gone", Size: DirSize(box)})
			}
		}
	}
	return out, nil
}

// StaleScratch lists the per-run scratch directories (launch.*) that the
// singularity backend makes in each of dirs and that no process of the
// user still uses (inUse).
func StaleScratch(dirs []string, inUse func(string) bool) []Leftover {
	var out []Leftover
	seen := map[string]bool{}
	for _, d := range dirs {
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		matches, _ := filepath.Glob(filepath.Join(d, "launch.*"))
		for _, p := range matches {
			fi, err := os.Lstat(p)
			if err != nil || !fi.IsDir() || !ownedByMe(fi) || inUse(p) {
				continue
			}
			out = append(out, Leftover{Kind: "scratch", Path: p, Why: "no running launch uses it", Size: DirSize(p)})
		}
	}
	return out
}

// ProcessesUsing returns what inUse asks: whether a process this user can
// see names the path (or a path under it) in its command line or its
// environment, as the runtime's do for a scratch directory or an image.
// procRoot is "/proc".
func ProcessesUsing(procRoot string) func(string) bool {
	var texts [][]byte
	pids, _ := os.ReadDir(procRoot)
	for _, p := range pids {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			if b, err := os.ReadFile(filepath.Join(procRoot, p.Name(), f)); err == nil && len(b) > 0 {
				texts = append(texts, b)
			}
		}
	}
	return func(path string) bool {
		for _, t := range texts {
			if bytes.Contains(t, []byte(path)) {
				return true
			}
		}
		return false
	}
}

// DirSize is the size of the regular files at or under p; errors count as
// nothing.
func DirSize(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error { //nolint:errcheck // best effort
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// FormatSize is n bytes as a person reads it (1.5 GB, 12 MB, 300 B).
func FormatSize(n int64) string {
	switch {
	case n < 0:
		return "-"
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
