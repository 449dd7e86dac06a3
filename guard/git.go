package guard

import (
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// GitDir is the workspace's git directory. It is guarded as a whole, not
// as a list of the files git is known to run or read as configuration:
// everything in it is protected except what git writes in ordinary work
// (GitWritable), so that a file a new version of git starts to read
// (commondir, config.worktree, ...) is covered before anyone lists it.
const GitDir = ".git"

// GitWritable are the entries of a git directory that the agent may
// change: the data git writes when it commits, branches, merges, fetches
// or rebases (objects, refs and their logs, the index, HEAD and the other
// *_HEAD files, the messages of a commit or merge) and large-object stores
// (git-lfs, git-annex). None of them names a command. Everything else in a
// git directory (config, config.worktree, commondir, hooks/, info/,
// modules/, worktrees/, a rebase's todo list, and whatever git adds next)
// is read-only in the container where it exists, and a change to it,
// creation included, is moved aside after the session. In worktrees/NAME
// and modules/NAME, the git directories of linked worktrees and
// submodules, the same rule applies entry by entry. Lock files (NAME.lock)
// are git's own and never read as anything else.
var GitWritable = []string{
	"AUTO_MERGE", "BISECT_ANCESTORS_OK", "BISECT_EXPECTED_REV", "BISECT_HEAD",
	"BISECT_LOG", "BISECT_NAMES", "BISECT_START", "BISECT_TERMS",
	"CHERRY_PICK_HEAD", "COMMIT_EDITMSG", "FETCH_HEAD", "HEAD", "MERGE_AUTOSTASH",
	"MERGE_HEAD", "MERGE_MODE", "MERGE_MSG", "MERGE_RR", "NOTES_EDITMSG",
	"ORIG_HEAD", "REBASE_HEAD", "REVERT_HEAD", "SQUASH_MSG", "TAG_EDITMSG",
	"annex", "index", "lfs", "logs", "objects", "packed-refs", "refs",
	"rr-cache", "shallow",
}

// gitWritable reports whether the entry name of a git directory is one the
// agent may change.
func gitWritable(name string) bool {
	return slices.Contains(GitWritable, name) || strings.HasSuffix(name, ".lock")
}

// ReadDirFunc lists a directory, as os.ReadDir does.
type ReadDirFunc func(string) ([]fs.DirEntry, error)

// maxGitDepth bounds the nesting of modules/ and worktrees/ that GitUnits
// follows; deeper, a directory is one unit.
const maxGitDepth = 8

// GitUnits lists the guarded entries of the git directory dir (slash
// paths relative to it), sorted: every entry that is not GitWritable, each
// a unit that is fingerprinted and, where it exists, mounted read-only as
// a whole; in worktrees/ and modules/, the git directories there entry by
// entry. A writable entry that is a link or a special file is listed too:
// git never makes one, and a link there leads git elsewhere. A missing dir
// has no units.
func GitUnits(readDir ReadDirFunc, dir string) ([]string, error) {
	var out []string
	err := gitUnits(readDir, dir, "", 0, &out)
	slices.Sort(out)
	return out, err
}

func gitUnits(readDir ReadDirFunc, dir, rel string, depth int, out *[]string) error {
	entries, err := readDir(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		if depth == 0 && isNotExist(err) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		name := path.Join(rel, e.Name())
		t := e.Type()
		switch {
		case gitWritable(e.Name()):
			if t&fs.ModeSymlink != 0 || (!t.IsDir() && !t.IsRegular()) {
				*out = append(*out, name)
			}
		case (e.Name() == "worktrees" || e.Name() == "modules") && t.IsDir() && depth < maxGitDepth:
			if err := gitSubdirs(readDir, dir, name, depth+1, out); err != nil {
				return err
			}
		default:
			*out = append(*out, name)
		}
	}
	return nil
}

// gitSubdirs lists the units under worktrees/ or modules/: each directory
// there holding HEAD is a git directory; another directory is a level of a
// submodule's name (modules/a/b), followed further; anything else is a
// unit.
func gitSubdirs(readDir ReadDirFunc, dir, rel string, depth int, out *[]string) error {
	entries, err := readDir(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := path.Join(rel, e.Name())
		if !e.Type().IsDir() || depth >= maxGitDepth {
			*out = append(*out, name)
			continue
		}
		sub, err := readDir(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		isGit := slices.ContainsFunc(sub, func(d fs.DirEntry) bool { return d.Name() == "HEAD" })
		if isGit {
			err = gitUnits(readDir, dir, name, depth+1, out)
		} else {
			err = gitSubdirs(readDir, dir, name, depth+1, out)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
