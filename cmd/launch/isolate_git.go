package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
)

// How an isolated session's work comes back (isolateFinish), without
// running git with anything the agent could have written as git's
// configuration: git reads $GIT_DIR/config always, and what it names
// (filters by any name a .gitattributes asks for, gpg.program, fsmonitor,
// hooks) runs, so no -c override can cover it. Launch never runs git with
// the copy's git directory as GIT_DIR. It makes a git directory of its own
// beside the copy (COPY.launch-git, in launch's state directory, which the
// agent never sees), with a fixed configuration that names no program;
// reads the copy's HEAD by hand (a file and a ref); borrows the copy's
// objects as alternates (read as data only); and builds the result commit
// there with the copy as the work tree:
//
//	read-tree HEAD, add -A, write-tree, commit-tree -p HEAD
//
// The workspace's repository then fetches that commit from launch's git
// directory. System and global git config are off (GIT_CONFIG_NOSYSTEM,
// GIT_CONFIG_GLOBAL=/dev/null), as is every GIT_* variable of launch's own
// environment. A .gitattributes in the copy may name a filter: no
// configuration defines one, so git stores the file as it is.

// launchGitConfig is the whole configuration of launch's git directory:
// nothing in it names a program, and it turns off what git would otherwise
// look for.
func launchGitConfig(objectFormat string) string {
	version, ext := "0", ""
	if objectFormat != "" && objectFormat != "sha1" {
		version, ext = "1", "[extensions]\n\tobjectformat = "+objectFormat+"\n"
	}
	return "[core]\n\trepositoryformatversion = " + version + "\n\tbare = false\n\thooksPath = /dev/null\n\tfsmonitor = false\n\tuntrackedCache = false\n\tsplitIndex = false\n" +
		"[commit]\n\tgpgSign = false\n[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n" + ext
}

// launchGitDir is launch's own git directory for an isolated session.
func launchGitDir(iso *plan.Isolation) string { return iso.Copy + ".launch-git" }

// cleanGitEnv is the environment of every git command launch runs in its
// own git directory: launch's environment without any GIT_* variable,
// plus a fixed, empty system and global configuration. extra are more
// VAR=value pairs.
func cleanGitEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(append(env, cleanGitVars...), extra...)
}

// cleanGitVars turn off every configuration and attributes file that is
// not launch's own git directory's.
var cleanGitVars = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ATTR_NOSYSTEM=1", "GIT_NO_REPLACE_OBJECTS=1", "GIT_TERMINAL_PROMPT=0"}

// resultGit is the variables of the git commands that build the result:
// launch's git directory, the copy as the work tree, launch's index.
func resultGit(iso *plan.Isolation) []string {
	g := launchGitDir(iso)
	return []string{"GIT_DIR=" + g, "GIT_WORK_TREE=" + iso.Copy, "GIT_INDEX_FILE=" + filepath.Join(g, "index")}
}

// gitIdentityEnv names the commits launch makes (commit-tree reads no -c
// identity of ours, since we give it no config).
var gitIdentityEnv = []string{"GIT_AUTHOR_NAME=launch", "GIT_AUTHOR_EMAIL=launch@localhost", "GIT_COMMITTER_NAME=launch", "GIT_COMMITTER_EMAIL=launch@localhost"}

// resultRef is the ref in launch's git directory that the workspace fetches.
const resultRef = "refs/heads/result"

// copyGitProblem says why the copy's git directory is not one launch
// reads: .git a link or a file (naming a git directory elsewhere), a
// commondir (which makes git read another directory's config, objects and
// refs), a config.worktree that the session created or changed, or the
// reftable format (whose refs launch does not read). "" when none.
func copyGitProblem(copyDir string, rec sessionRecord) string {
	dot := filepath.Join(copyDir, ".git")
	fi, err := os.Lstat(dot)
	switch {
	case err != nil:
		return fmt.Sprintf("the copy has no git directory %s (%v)", dot, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		to, _ := os.Readlink(dot)
		return fmt.Sprintf("the copy's .git is a link (to %s), which the session made; launch reads only a git directory in the copy", to)
	case !fi.IsDir():
		return fmt.Sprintf("the copy's .git is a file (%s), which the session made; launch reads only a git directory in the copy", fileLine(dot))
	}
	if _, err := os.Lstat(filepath.Join(dot, "commondir")); err == nil {
		return fmt.Sprintf("the copy's git directory has a commondir (%s), which makes git read another directory's configuration and objects; the session made it", fileLine(filepath.Join(dot, "commondir")))
	}
	if sum := fileSum(filepath.Join(dot, "config.worktree")); sum != rec.WorktreeConfig {
		return "the session created or changed the copy's .git/config.worktree, which git reads as configuration"
	}
	if _, err := os.Lstat(filepath.Join(dot, "reftable")); err == nil {
		return "the copy's repository keeps its refs in the reftable format, which launch does not read"
	}
	return ""
}

// fileLine is the first line of a small file, for a message.
func fileLine(p string) string {
	b, err := readSmall(p, 512)
	if err != nil {
		return err.Error()
	}
	return firstLine(string(b))
}

// fileSum is the hex SHA-256 of a regular file, "" when it is absent, and
// "not a file" for anything else.
func fileSum(p string) string {
	fi, err := os.Lstat(p)
	if err != nil {
		return ""
	}
	if !fi.Mode().IsRegular() {
		return "not a file"
	}
	b, err := readSmall(p, 1<<20)
	if err != nil {
		return "unreadable"
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// maxRefFile caps what launch reads of HEAD and a loose ref.
const maxRefFile = 4096

// readHead resolves HEAD of the git directory dir by reading its files,
// without git: HEAD names a commit or a ref, a ref is a loose file under
// refs/ or a line of packed-refs. It returns "" for an unborn branch.
// Links, and ref names that leave refs/, are refused.
func readHead(dir string) (string, error) {
	name := "HEAD"
	for range 5 {
		v, err := readRefFile(dir, name)
		if err != nil {
			return "", err
		}
		if v == "" {
			return "", nil // no such ref: an unborn branch
		}
		target, sym := strings.CutPrefix(v, "ref: ")
		if !sym {
			if !isObjectID(v) {
				return "", fmt.Errorf("%s in %s: %q is not an object id", name, dir, v)
			}
			return v, nil
		}
		target = strings.TrimSpace(target)
		if !strings.HasPrefix(target, "refs/") || !filepath.IsLocal(target) || path.Clean(target) != target {
			return "", fmt.Errorf("%s in %s names %q, not a ref under refs/", name, dir, target)
		}
		name = target
	}
	return "", fmt.Errorf("HEAD in %s: too many symbolic refs", dir)
}

// readRefFile reads one ref: the loose file, else its line in
// packed-refs; "" when neither has it.
func readRefFile(dir, name string) (string, error) {
	p := filepath.Join(dir, filepath.FromSlash(name))
	fi, err := os.Lstat(p)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file", p)
	case err == nil:
		b, err := readSmall(p, maxRefFile)
		return strings.TrimSpace(string(b)), err
	case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return "", err
	case name == "HEAD":
		return "", fmt.Errorf("%s: %w", p, err)
	}
	packed := filepath.Join(dir, "packed-refs")
	if fi, err := os.Lstat(packed); err != nil || !fi.Mode().IsRegular() {
		return "", nil
	}
	f, err := os.Open(packed)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		id, ref, ok := strings.Cut(sc.Text(), " ")
		if ok && ref == name && isObjectID(id) {
			return id, nil
		}
	}
	return "", sc.Err()
}

// isObjectID reports a SHA-1 or SHA-256 object id in hex.
func isObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// initSteps are the arguments of the git init of launch's git directory.
func initSteps(iso *plan.Isolation, objectFormat string) []string {
	args := []string{"init", "-q", "--bare", "--template="}
	if objectFormat != "" && objectFormat != "sha1" {
		args = append(args, "--object-format="+objectFormat)
	}
	return append(args, launchGitDir(iso))
}

// sourceGitFacts asks the workspace's own repository (the user's, which
// the agent never had) for its object format and its info/exclude file.
func sourceGitFacts(ctx context.Context, src string) (format, exclude string) {
	c := exec.CommandContext(ctx, "git", append(append([]string{}, gitSafe...), "-C", src, "rev-parse", "--git-path", "info/exclude")...)
	if out, err := c.Output(); err == nil {
		exclude = strings.TrimSpace(string(out))
		if exclude != "" && !filepath.IsAbs(exclude) {
			exclude = filepath.Join(src, exclude)
		}
	}
	c = exec.CommandContext(ctx, "git", append(append([]string{}, gitSafe...), "-C", src, "rev-parse", "--show-object-format")...)
	if out, err := c.Output(); err == nil {
		format = strings.TrimSpace(string(out))
	}
	if format != "sha256" {
		format = "sha1"
	}
	return format, exclude
}

// buildResult makes the result commit in launch's git directory: the
// copy's files on top of its HEAD. It returns the commit ("" when the
// copy has no commit and no file) and the copy's HEAD.
func buildResult(ctx context.Context, iso *plan.Isolation, msg string) (commit, head string, err error) {
	head, err = readHead(filepath.Join(iso.Copy, ".git"))
	if err != nil {
		return "", "", fmt.Errorf("--isolate: reading the copy's HEAD: %w", err)
	}
	g := launchGitDir(iso)
	if err := os.RemoveAll(g); err != nil {
		return "", "", err
	}
	format, exclude := sourceGitFacts(ctx, iso.Source)
	run := func(extra []string, args ...string) (string, error) {
		c := exec.CommandContext(ctx, "git", args...)
		c.Env = cleanGitEnv(append(resultGit(iso), extra...)...)
		c.Dir = g
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		if err != nil {
			return "", fmt.Errorf("git %s (in launch's git directory %s): %v: %s", strings.Join(args, " "), g, err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	init := exec.CommandContext(ctx, "git", initSteps(iso, format)...)
	init.Env = cleanGitEnv()
	if out, err := init.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("git init %s: %v: %s", g, err, strings.TrimSpace(string(out)))
	}
	if err := os.WriteFile(filepath.Join(g, "config"), []byte(launchGitConfig(format)), 0o600); err != nil {
		return "", "", err
	}
	objects := filepath.Join(iso.Copy, ".git", "objects")
	if err := os.WriteFile(filepath.Join(g, "objects", "info", "alternates"), []byte(objects+"\n"), 0o600); err != nil {
		return "", "", err
	}
	if exclude != "" {
		if b, err := readSmall(exclude, 1<<20); err == nil {
			os.MkdirAll(filepath.Join(g, "info"), 0o700)
			if err := os.WriteFile(filepath.Join(g, "info", "exclude"), b, 0o600); err != nil {
				return "", "", err
			}
		}
	}
	if head != "" {
		if _, err := run(nil, "read-tree", head+"^{tree}"); err != nil {
			return "", "", err
		}
	}
	if _, err := run(nil, "add", "-A"); err != nil {
		return "", "", err
	}
	tree, err := run(nil, "write-tree")
	if err != nil {
		return "", "", err
	}
	if head != "" {
		htree, err := run(nil, "rev-parse", head+"^{tree}")
		if err != nil {
			return "", "", err
		}
		if htree == tree {
			return head, head, nil
		}
	}
	args := []string{"commit-tree", "--no-gpg-sign", "-m", msg}
	if head != "" {
		args = append(args, "-p", head)
	}
	commit, err = run(gitIdentityEnv, append(args, tree)...)
	if err != nil {
		return "", "", err
	}
	return commit, head, nil
}

// readSmall reads a regular file of at most limit bytes; anything else
// (a link, a fifo the agent made) is refused before it is opened.
func readSmall(p string, limit int64) ([]byte, error) {
	if fi, err := os.Lstat(p); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// fetchResult writes commit as a ref of launch's git directory and fetches
// it into the workspace's repository as the branch. The fetch runs in the
// workspace's repository (the user's own, which the agent never had), its
// other side in launch's git directory.
func fetchResult(iso *plan.Isolation, commit string) error {
	g := launchGitDir(iso)
	up := exec.Command("git", "update-ref", resultRef, commit)
	up.Env = cleanGitEnv("GIT_DIR=" + g)
	if out, err := up.CombinedOutput(); err != nil {
		return fmt.Errorf("git update-ref in %s: %v: %s", g, err, strings.TrimSpace(string(out)))
	}
	fetch := exec.Command("git", fetchArgs(iso)...)
	if out, err := fetch.CombinedOutput(); err != nil {
		return fmt.Errorf("git fetch into %s: %v: %s", iso.Source, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fetchArgs fetch the result into the workspace's repository.
func fetchArgs(iso *plan.Isolation) []string {
	return append(append([]string{}, gitSafe...), "-C", iso.Source, "fetch", "-q", "--no-tags", launchGitDir(iso), resultRef+":refs/heads/"+iso.Branch)
}

// finishLines are isolateFinish's steps in a git repository as shell
// lines, for --dry-run: what buildResult and fetchResult run.
func finishLines(iso *plan.Isolation) []string {
	g := launchGitDir(iso)
	env := func(extra ...string) []string {
		return append(append(append([]string{"env"}, cleanGitVars...), extra...), "git")
	}
	res := func(args ...string) string {
		return shell.Join(append(env(resultGit(iso)...), args...))
	}
	return []string{
		"# launch refuses a copy whose .git is a link or a file, or has a commondir or a config.worktree the session made; it reads HEAD from the copy's files (no git runs with the copy's git directory)",
		`head=$(cd ` + shell.Quote(filepath.Join(iso.Copy, ".git")) + ` && r=$(cat HEAD) && case $r in "ref: "*) r=${r#ref: }; cat "$r" 2>/dev/null || sed -n "s| $r\$||p" packed-refs ;; *) echo "$r" ;; esac)`,
		shell.Join(append(env(), initSteps(iso, "sha1")...)),
		"printf %s " + shell.Quote(launchGitConfig("sha1")) + " > " + shell.Quote(filepath.Join(g, "config")),
		"echo " + shell.Quote(filepath.Join(iso.Copy, ".git", "objects")) + " > " + shell.Quote(filepath.Join(g, "objects", "info", "alternates")),
		res("read-tree") + ` "$head^{tree}" && ` + res("add", "-A") + " && tree=$(" + res("write-tree") + ")",
		"commit=$(" + shell.Join(append(env(append(resultGit(iso), gitIdentityEnv...)...), "commit-tree", "--no-gpg-sign", "-m", resultMessage(iso), "-p")) + ` "$head" "$tree")`,
		shell.Join(append(env("GIT_DIR="+g), "update-ref", resultRef)) + ` "$commit"`,
		shell.Join(append([]string{"git"}, fetchArgs(iso)...)),
		shell.Join([]string{"rm", "-rf", iso.Copy, g}),
	}
}
