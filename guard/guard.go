// Package guard keeps an agent from planting, in its writable workspace,
// files that run code on the host later: anything in the git directory but
// the data git writes, direnv's .envrc, editor and dev-container files,
// agents' project settings, launch's own project config. Such paths are
// read-only inside the container where they exist (cmd/launch mounts them);
// this package decides the list, fingerprints the paths before a session and
// finds, after it, any that changed anyway (created where it did not exist,
// or replaced by renaming a parent), and moves those aside, never through
// a link, so that nothing on the host runs them.
//
// It imports the standard library and, on Linux, golang.org/x/sys/unix
// (openat2).
package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
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
// the workspace after the session: git runs hooks and what its config
// names (core.fsmonitor, filters, aliases), from anywhere in .git (GitDir,
// guarded as a whole: see GitWritable); pre-commit runs what
// .pre-commit-config.yaml names; direnv runs .envrc; editors run tasks and
// settings from .vscode, .idea and .cursor, and dev containers from
// .devcontainer; agents run on the host read .mcp.json, .claude's settings,
// hooks, commands and agents, .codex and .pi.
var Defaults = []string{
	ProjectConfig,
	GitDir,
	".gitmodules",
	".pre-commit-config.yaml",
	".envrc",
	".vscode",
	".idea",
	".cursor",
	".devcontainer",
	".mcp.json",
	".claude/settings.json",
	".claude/settings.local.json",
	".claude/commands",
	".claude/agents",
	".claude/hooks",
	".codex",
	".pi",
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
		if strings.HasPrefix(c, GitDir+"/") && !set[c] {
			return nil, fmt.Errorf("%q: launch guards %s as a whole (all but the data git writes: objects, refs, logs, index, HEAD, ...); unprotect %q to let the agent change all of it", p, GitDir, GitDir)
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
	// Root is the directory Rel is relative to and that the move-aside
	// walks from (the workspace, or the parent of a git directory outside
	// it); Path is Root/Rel.
	Root      string `json:",omitempty"`
	Rel, Path string
	// Print is the fingerprint: "absent", or the kind, mode, content and
	// link targets of the path and everything below it. For a git
	// directory (Git) only its kind: its guarded entries are entries of
	// their own.
	Print string
	// Git marks a git directory: Changed also reports the guarded entries
	// created in it since (GitUnits), and when it is no longer the
	// directory it was (now a file, a link or absent), reports it as a
	// whole.
	Git bool `json:",omitempty"`
}

// root is e.Root, or for a record written before Root existed, Path less
// Rel.
func (e Entry) root() string {
	if e.Root != "" {
		return e.Root
	}
	return strings.TrimSuffix(strings.TrimSuffix(e.Path, filepath.FromSlash(e.Rel)), string(filepath.Separator))
}

// Snapshot is the fingerprints of the protected paths of one workspace.
type Snapshot []Entry

// Take fingerprints each protected path under the workspace ws (the host
// path as the user knows it; links are not followed). GitDir, and a
// protected path whose last element is .git, is taken as a git directory:
// its kind, then each of its GitUnits; a protected path inside it is one of
// those already.
func Take(ws string, rels []string) (Snapshot, error) {
	var s Snapshot
	var gits []string
	for _, rel := range rels {
		var err error
		if slices.ContainsFunc(gits, func(g string) bool { return strings.HasPrefix(rel, g+"/") }) {
			continue // taken with its git directory
		}
		if path.Base(rel) == GitDir {
			gits = append(gits, rel)
			s, err = takeGit(s, ws, rel)
		} else {
			s, err = take(s, ws, rel)
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// TakeGitDir fingerprints the git directory dir, outside the workspace,
// that the session may write (a worktree's, with git_dir_writable), as
// Take does the workspace's .git: the entries are relative to dir's
// parent.
func TakeGitDir(dir string) (Snapshot, error) {
	return takeGit(nil, filepath.Dir(dir), filepath.Base(dir))
}

func take(s Snapshot, root, rel string) (Snapshot, error) {
	p := filepath.Join(root, filepath.FromSlash(rel))
	fp, err := fingerprint(p, rel)
	if err != nil {
		return nil, fmt.Errorf("protected path %q: %w", p, err)
	}
	return append(s, Entry{Root: root, Rel: rel, Path: p, Print: fp}), nil
}

func takeGit(s Snapshot, root, rel string) (Snapshot, error) {
	return takeGitAt(s, root, rel, 0)
}

// maxSubmoduleDepth bounds how deep submodules of submodules are guarded.
const maxSubmoduleDepth = 4

func takeGitAt(s Snapshot, root, rel string, depth int) (Snapshot, error) {
	p := filepath.Join(root, filepath.FromSlash(rel))
	kind, err := gitKind(p)
	if err != nil {
		return nil, fmt.Errorf("protected path %q: %w", p, err)
	}
	s = append(s, Entry{Root: root, Rel: rel, Path: p, Print: kind, Git: true})
	if kind == "dir" {
		units, err := GitUnits(os.ReadDir, p)
		if err != nil {
			return nil, fmt.Errorf("protected path %q: %w", p, err)
		}
		for _, u := range units {
			if s, err = take(s, root, path.Join(rel, u)); err != nil {
				return nil, err
			}
		}
	}
	if depth >= maxSubmoduleDepth {
		return s, nil
	}
	for _, sub := range submodulesOf(root, rel, kind) {
		if slices.ContainsFunc(s, func(e Entry) bool { return e.Rel == sub && e.Root == root }) {
			continue
		}
		if s, err = takeGitAt(s, root, sub, depth+1); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// submodulesOf lists the .git entries (relative to root) of the
// submodules that the git directory at root/rel (of kind kind) lists in
// its index. For a .git file, its git directory is read where it lies in
// root (.git/modules/NAME); one elsewhere is not the agent's to write.
func submodulesOf(root, rel, kind string) []string {
	p := filepath.Join(root, filepath.FromSlash(rel))
	gitDir := p
	switch {
	case kind == "dir":
	case strings.HasPrefix(kind, "file "):
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		line, _, _ := strings.Cut(string(b), "\n")
		dir, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
		if !ok {
			return nil
		}
		dir = strings.TrimSpace(dir)
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(p), dir)
		}
		if r, err := filepath.Rel(root, dir); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return nil
		}
		gitDir = dir
	default:
		return nil
	}
	var out []string
	for _, sub := range SubmoduleGitDirs(os.ReadFile, gitDir) {
		out = append(out, path.Join(path.Dir(rel), sub))
	}
	return out
}

// gitKind is what a git directory's own fingerprint records: "dir",
// "absent", or the fingerprint of the file or link it is instead.
func gitKind(p string) (string, error) {
	fi, err := os.Lstat(p)
	switch {
	case isNotExist(err):
		return absent, nil
	case err != nil:
		return "", err
	case fi.IsDir():
		return "dir", nil
	}
	return describe(p, fi, true)
}

// Change is a protected path that differs after the session.
type Change struct {
	Entry
	// Existed is set when the path was there before the session.
	Existed bool
	// MovedTo is where Undo put it; empty when nothing was left to move.
	MovedTo string
}

// Changed lists the entries whose fingerprint differs now, and the
// guarded entries created in a git directory. A git directory that is no
// longer a directory is one change; its entries are not listed apart.
func (s Snapshot) Changed() ([]Change, error) {
	var out []Change
	var whole []string // git directories changed as a whole
	under := func(e Entry) bool {
		for _, w := range whole {
			if strings.HasPrefix(e.Path, w+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	known := map[string]bool{}
	for _, e := range s {
		known[e.Path] = true
	}
	for _, e := range s {
		if under(e) {
			continue
		}
		if e.Git {
			kind, err := gitKind(e.Path)
			if err != nil {
				return out, fmt.Errorf("protected path %q: %w", e.Path, err)
			}
			if kind != e.Print {
				out = append(out, Change{Entry: e, Existed: e.Print != absent})
				whole = append(whole, e.Path)
				continue
			}
			// A submodule the index lists now, whose .git was not taken: the
			// agent added it; host git status would look into it.
			for _, sub := range submodulesOf(e.root(), e.Rel, kind) {
				p := filepath.Join(e.root(), filepath.FromSlash(sub))
				if known[p] {
					continue
				}
				if _, err := os.Lstat(p); err == nil {
					out = append(out, Change{Entry: Entry{Root: e.root(), Rel: sub, Path: p, Print: absent, Git: true}})
					whole = append(whole, p)
				}
			}
			if kind != "dir" {
				continue
			}
			units, err := GitUnits(os.ReadDir, e.Path)
			if err != nil {
				return out, fmt.Errorf("protected path %q: %w", e.Path, err)
			}
			for _, u := range units {
				rel := path.Join(e.Rel, u)
				p := filepath.Join(e.root(), filepath.FromSlash(rel))
				if !known[p] {
					out = append(out, Change{Entry: Entry{Root: e.root(), Rel: rel, Path: p, Print: absent}})
				}
			}
			continue
		}
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
// it; the user reads it and decides. It walks from the entry's root and
// refuses a path with a link among its parents (the agent may have made
// one, to have launch rename a file outside the workspace); the path
// itself is renamed, not what a link there points to. A nested change
// (.git/hooks inside a replaced .git) is moved once.
func Undo(changes []Change, now time.Time) ([]Change, error) {
	stamp := now.UTC().Format("20060102T150405Z")
	var errs []error
	for i := range changes {
		c := &changes[i]
		if _, err := os.Lstat(c.Path); isNotExist(err) {
			continue
		}
		base := filepath.Base(c.Path)
		if err := renameBeneath(c.root(), c.Rel, base+".launch-quarantine-"+stamp); err != nil {
			errs = append(errs, fmt.Errorf("move %q aside: %w; remove it yourself before you use this workspace on the host", c.Path, err))
			continue
		}
		c.MovedTo = c.Path + ".launch-quarantine-" + stamp
	}
	return changes, errors.Join(errs...)
}

// errLinkedParent is renameBeneath's refusal of a path through a link.
var errLinkedParent = errors.New("a parent is a symbolic link or not a directory; launch does not follow it")

// isNotExist reports a path that is not there: absent, or a parent that
// is not a directory.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

const absent = "absent"

// maxEntries bounds the walk of a protected directory; past it, files are
// fingerprinted by size and modification time instead of content.
const maxEntries = 5000

// fingerprint describes p without following links. In a git directory's
// hooks, git's *.sample files are left out: git never runs them, and git
// init creates them.
func fingerprint(p, rel string) (string, error) {
	fi, err := os.Lstat(p)
	if isNotExist(err) {
		return absent, nil
	}
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return describe(p, fi, true)
	}
	samples := path.Base(rel) == "hooks" && strings.Contains(rel, GitDir)
	h := sha256.New()
	n := 0
	err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if samples && strings.HasSuffix(d.Name(), ".sample") && !d.IsDir() {
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

// splitPath is the elements of a clean relative path.
func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}
