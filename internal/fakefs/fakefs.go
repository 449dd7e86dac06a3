// Package fakefs serves a host file system from an fstest.MapFS, symbolic
// links included, for tests of code that takes Stat and EvalSymlinks
// functions. Paths are absolute host paths; the map's keys are the same
// without the leading slash. A link is a MapFile with fs.ModeSymlink whose
// Data is the link's target, absolute or relative.
package fakefs

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"testing/fstest"
)

// maxLinks is how many links one lookup follows before it reports a loop,
// as the kernel's ELOOP does.
const maxLinks = 40

// EvalSymlinks returns p with every link resolved, as filepath.EvalSymlinks
// does on a real file system: an error for a missing path or a loop.
func EvalSymlinks(fsys fstest.MapFS) func(string) (string, error) {
	return func(p string) (string, error) { return eval(fsys, p) }
}

// Stat is os.Stat over fsys: it follows links.
func Stat(fsys fstest.MapFS) func(string) (fs.FileInfo, error) {
	return func(p string) (fs.FileInfo, error) {
		real, err := eval(fsys, p)
		if err != nil {
			return nil, err
		}
		if real == "/" {
			return fs.Stat(fsys, ".")
		}
		return fs.Stat(fsys, real[1:])
	}
}

func eval(fsys fstest.MapFS, p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", &fs.PathError{Op: "lstat", Path: p, Err: errors.New("not absolute")}
	}
	todo := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	done := "/"
	links := 0
	for len(todo) > 0 {
		part := todo[0]
		todo = todo[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, part)
		f, ok := fsys[next[1:]]
		if !ok {
			if !implicitDir(fsys, next[1:]) {
				return "", &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
			}
			done = next
			continue
		}
		if f.Mode&fs.ModeSymlink == 0 {
			if len(todo) > 0 && !f.Mode.IsDir() {
				return "", &fs.PathError{Op: "lstat", Path: p, Err: errors.New("not a directory")}
			}
			done = next
			continue
		}
		if links++; links > maxLinks {
			return "", &fs.PathError{Op: "lstat", Path: p, Err: errors.New("too many levels of symbolic links")}
		}
		target := string(f.Data)
		if path.IsAbs(target) {
			done = "/"
		}
		todo = append(strings.Split(strings.TrimPrefix(target, "/"), "/"), todo...)
	}
	return done, nil
}

// implicitDir reports whether name is a directory only because the map
// holds paths below it.
func implicitDir(fsys fstest.MapFS, name string) bool {
	for k := range fsys {
		if strings.HasPrefix(k, name+"/") {
			return true
		}
	}
	return false
}
