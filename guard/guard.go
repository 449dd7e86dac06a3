// Package guard keeps an agent from planting, in its writable workspace,
// files that run code on the host later: git hooks and config, direnv's
// .envrc, editor task files, launch's own project config. Such paths are
// read-only inside the container where they exist (cmd/launch mounts them);
// this package decides the list, fingerprints the paths before a session and
// finds, after it, any that changed anyway (created where it did not exist,
// or replaced by renaming a parent), and moves those aside so that nothing
// on the host runs them.
//
// It imports only the standard library.
package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// ProjectConfig is launch's project config file, always protected: an agent
// that could rewrite it could widen its next session.
const ProjectConfig = ".launch.toml"

// Defaults are the workspace paths protected unless the user's config says
// otherwise (unprotect). Each runs code on the host when the user works in
// the workspace after the session: git runs hooks and what .git/config names
// (core.fsmonitor, core.hooksPath, filters, aliases); direnv runs .envrc;
// editors run tasks and settings from .vscode and .idea; agents run on the
// host read .mcp.json and .claude's settings (hooks), commands and agents.
var Defaults = []string{
	ProjectConfig,
	".git/hooks",
	".git/config",
	".gitmodules",
	".envrc",
	".vscode",
	".idea",
	".mcp.json",
	".claude/settings.json",
	".claude/settings.local.json",
	".claude/commands",
	".claude/agents",
}

// Paths is the protected list: Defaults, plus add, minus remove, sorted.
// Paths are relative to the workspace, clean, and inside it. ProjectConfig
// cannot be removed.
func Paths(add, remove []string) ([]string, error) {
	set := map[string]bool{}
	for _, p := range Defaults {
		set[p] = true
	}
	for _, p := range add {
		c, err := Clean(p)
		if err != nil {
			return nil, err
		}
		set[c] = true
	}
	for _, p := range remove {
		c, err := Clean(p)
		if err != nil {
			return nil, err
		}
		if c == ProjectConfig {
			return nil, fmt.Errorf("%q: launch's project config is always read-only inside; it cannot be unprotected", p)
		}
		delete(set, c)
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// Clean checks a protected path: relative to the workspace and inside it.
func Clean(p string) (string, error) {
	c := filepath.ToSlash(filepath.Clean(p))
	if p == "" || filepath.IsAbs(p) || c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%q: want a path relative to the workspace, inside it (such as .git/hooks)", p)
	}
	return c, nil
}

// Entry is one protected path and what it was before the session.
type Entry struct {
	// Rel is the path relative to the workspace; Path the host path.
	Rel, Path string
	// Print is the fingerprint: "absent", or the kind, mode, content and
	// link targets of the path and everything below it.
	Print string
}

// Snapshot is the fingerprints of the protected paths of one workspace.
type Snapshot []Entry

// Take fingerprints each protected path under the workspace ws (the host
// path as the user knows it; links are not followed).
func Take(ws string, rels []string) (Snapshot, error) {
	var s Snapshot
	for _, rel := range rels {
		p := filepath.Join(ws, filepath.FromSlash(rel))
		fp, err := fingerprint(p, rel)
		if err != nil {
			return nil, fmt.Errorf("protected path %q: %w", p, err)
		}
		s = append(s, Entry{Rel: rel, Path: p, Print: fp})
	}
	return s, nil
}

// Change is a protected path that differs after the session.
type Change struct {
	Entry
	// Existed is set when the path was there before the session.
	Existed bool
	// MovedTo is where Undo put it; empty when nothing was left to move.
	MovedTo string
}

// Changed lists the entries whose fingerprint differs now.
func (s Snapshot) Changed() ([]Change, error) {
	var out []Change
	for _, e := range s {
		fp, err := fingerprint(e.Path, e.Rel)
		if err != nil {
			return out, fmt.Errorf("protected path %q: %w", e.Path, err)
		}
		if fp != e.Print {
			out = append(out, Change{Entry: e, Existed: e.Print != absent})
		}
	}
	return out, nil
}

// Undo moves each changed path that exists now aside, next to it, under a
// name no tool reads (NAME.launch-quarantine-STAMP), so that nothing runs
// it; the user reads it and decides. A nested change (.git/hooks inside a
// replaced .git) is moved once.
func Undo(changes []Change, now time.Time) ([]Change, error) {
	stamp := now.UTC().Format("20060102T150405Z")
	var errs []error
	for i := range changes {
		c := &changes[i]
		if _, err := os.Lstat(c.Path); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		dst := c.Path + ".launch-quarantine-" + stamp
		if err := os.Rename(c.Path, dst); err != nil {
			errs = append(errs, fmt.Errorf("move %q aside: %w; remove it yourself before you use this workspace on the host", c.Path, err))
			continue
		}
		c.MovedTo = dst
	}
	return changes, errors.Join(errs...)
}

const absent = "absent"

// maxEntries bounds the walk of a protected directory; past it, files are
// fingerprinted by size and modification time instead of content.
const maxEntries = 5000

// fingerprint describes p without following links. In .git/hooks, git's
// *.sample files are left out: git never runs them, and git init creates
// them.
func fingerprint(p, rel string) (string, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return absent, nil
	}
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return describe(p, fi, true)
	}
	h := sha256.New()
	n := 0
	err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel == ".git/hooks" && strings.HasSuffix(d.Name(), ".sample") && !d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		line, err := describe(q, fi, n <= maxEntries)
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(p, q)
		fmt.Fprintf(h, "%s\x00%s\n", r, line)
		return nil
	})
	if err != nil {
		return "", err
	}
	return "dir " + hex.EncodeToString(h.Sum(nil)), nil
}

// describe is one file's kind, mode and content (or link target).
func describe(p string, fi fs.FileInfo, content bool) (string, error) {
	mode := fi.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		t, err := os.Readlink(p)
		return "link " + t, err
	case mode.IsDir():
		return fmt.Sprintf("dir %v", mode), nil
	case !mode.IsRegular():
		return fmt.Sprintf("other %v", mode), nil
	case !content:
		return fmt.Sprintf("file %v %d %d", mode, fi.Size(), fi.ModTime().UnixNano()), nil
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("file %v %x", mode, h.Sum(nil)), nil
}
