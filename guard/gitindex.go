package guard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path"
	"path/filepath"
	"strings"
)

// gitlinkMode is the mode of a submodule's entry in a git index.
const gitlinkMode = 0o160000

// errIndex is a git index that does not parse.
var errIndex = errors.New("not a git index launch can read")

// Gitlinks lists the submodule paths (slash, relative to the worktree) of
// a git index: the entries git status looks into, running git there with
// that repository's own configuration. The agent can add one (the index
// is git's data, writable) and make the path a repository of its own, so
// the submodules' .git entries are guarded like the workspace's. hashLen
// is the object id's length (20 for SHA-1, 32 for SHA-256). Index
// versions 2 to 4 are read; a split index's shared part is not (it is a
// guarded entry, sharedindex.*, that the agent cannot change).
func Gitlinks(index []byte, hashLen int) ([]string, error) {
	if len(index) < 12 || string(index[:4]) != "DIRC" {
		return nil, errIndex
	}
	version := binary.BigEndian.Uint32(index[4:8])
	n := binary.BigEndian.Uint32(index[8:12])
	if version < 2 || version > 4 {
		return nil, errIndex
	}
	var out []string
	off := 12
	prev := ""
	for i := uint32(0); i < n; i++ {
		start := off
		fixed := 40 + hashLen + 2
		if off+fixed > len(index) {
			return out, errIndex
		}
		mode := binary.BigEndian.Uint32(index[off+24 : off+28])
		flags := binary.BigEndian.Uint16(index[off+40+hashLen : off+fixed])
		off += fixed
		if flags&0x4000 != 0 && version >= 3 {
			off += 2
		}
		if off > len(index) {
			return out, errIndex
		}
		var name string
		if version == 4 {
			strip, k := varint(index[off:])
			if k == 0 || strip > uint64(len(prev)) {
				return out, errIndex
			}
			off += k
			end := bytes.IndexByte(index[off:], 0)
			if end < 0 {
				return out, errIndex
			}
			name = prev[:len(prev)-int(strip)] + string(index[off:off+end])
			off += end + 1
		} else {
			end := bytes.IndexByte(index[off:], 0)
			if end < 0 {
				return out, errIndex
			}
			name = string(index[off : off+end])
			// Padded with 1 to 8 NULs to a multiple of eight bytes.
			off = start + (off+end-start+8)&^7
		}
		prev = name
		if mode&0o170000 == gitlinkMode {
			if c, err := Clean(name); err == nil && !strings.Contains("/"+c+"/", "/"+GitDir+"/") {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// varint decodes git's offset varint (varint.c), returning the value and
// the bytes read (0 on a malformed one).
func varint(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	c := b[0]
	val := uint64(c & 127)
	i := 1
	for c&128 != 0 {
		if i >= len(b) || i > 9 {
			return 0, 0
		}
		val++
		c = b[i]
		val = val<<7 + uint64(c&127)
		i++
	}
	return val, i
}

// gitlinksOf lists the submodules of the repository whose git directory
// is gitDir (its index, and extensions.objectFormat in its config for the
// hash). An index that is missing or does not parse lists none: git would
// then not look into a submodule either, or the entries read so far.
func gitlinksOf(read func(string) ([]byte, error), gitDir string) []string {
	b, err := read(filepath.Join(gitDir, "index"))
	if err != nil {
		return nil
	}
	hashLen := 20
	for _, v := range Values(ReadGitConfig(read, filepath.Join(gitDir, "config"), ""), "extensions.objectformat") {
		if strings.EqualFold(v, "sha256") {
			hashLen = 32
		}
	}
	links, _ := Gitlinks(b, hashLen)
	return links
}

// SubmoduleGitDirs lists the .git entries (slash, relative to the
// worktree) of the submodules that the repository with git directory
// gitDir lists in its index, whether or not they exist: each is guarded
// as the workspace's .git is.
func SubmoduleGitDirs(read func(string) ([]byte, error), gitDir string) []string {
	var out []string
	for _, l := range gitlinksOf(read, gitDir) {
		out = append(out, path.Join(l, GitDir))
	}
	return out
}
