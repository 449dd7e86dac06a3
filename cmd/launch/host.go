package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/launchcli/launch/backend/singularity"
	"github.com/launchcli/launch/mounts"
)

// Host holds every fact about the machine that resolving a Plan reads: the
// working directory, the home directory, the environment, the file system and
// the commands it may run (conda). main fills it from the OS; tests fill it
// with fixed values, so a Plan is a pure function of Host and flags.
type Host struct {
	Cwd  string
	Home string
	// Env is the host environment, NAME=VALUE.
	Env []string
	// GOOS and GOARCH of the host ("darwin", "arm64").
	GOOS, GOARCH string
	// UID and GID of the calling user.
	UID, GID int
	// Terminal is set when stdin and stdout are terminals.
	Terminal bool
	// PID of this launch, for labels of a real run.
	PID int
	// Args is launch's own argv; Executable the absolute path of its
	// binary. A launch under Slurm runs them again in the allocation.
	Args       []string
	Executable string

	Stat func(string) (fs.FileInfo, error)
	// EvalSymlinks resolves every link in a path (filepath.EvalSymlinks):
	// every host path is checked and rendered resolved.
	EvalSymlinks func(string) (string, error)
	ReadFile     func(string) ([]byte, error)
	// Open opens a file for reading without blocking on a FIFO; may be
	// nil, then config files are checked with Stat and read with ReadFile.
	Open func(string) (fs.File, error)
	// ReadDir lists a directory (os.ReadDir); may be nil, then nothing is
	// listed (the names in an error message).
	ReadDir func(string) ([]fs.DirEntry, error)
	// DiskUsage sums the sizes of the files under a directory, links not
	// followed (--isolate's size check).
	DiskUsage func(string) (int64, error)
	// Now is the clock (an isolated session's name).
	Now      func() time.Time
	LookPath func(string) (string, error)
	// Output runs a command and returns its standard output (conda env list).
	Output func(name string, args ...string) ([]byte, error)
	// NeedsUserNS reports whether Apptainer must use a user namespace here
	// (root without CAP_SYS_RESOURCE); FUSEUsable whether /dev/fuse can be
	// opened, without which a SIF is unsquashed. Asked only by the
	// singularity backend.
	NeedsUserNS func() bool
	FUSEUsable  func() bool
	// InspectSIF reads a local SIF file or sandbox directory without
	// running it (singularity.Inspect): one that is not an image is
	// refused before a dry run prints it. May be nil, then not read.
	InspectSIF func(path string) error
	// CgroupLimits says why the Apptainer runtime at the given path cannot
	// apply resource limits here ("" when it can); CgroupV1 whether the
	// host has cgroup v1, where rootless Podman cannot. Asked only when a
	// plan has limits.
	CgroupLimits func(binary string) string
	CgroupV1     func() bool
	// SocketAccess reports whether this user may connect to the unix
	// socket at a path: nil, or an error wrapping syscall.EACCES. Nil
	// means access(2) (the docker backend's check of its socket).
	SocketAccess func(path string) error
}

// systemHost describes this machine.
func systemHost(terminal bool) (*Host, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("the current directory: %w; it was removed or moved away, or you cannot read it: cd to an existing directory and run launch again", err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return &Host{
		Cwd:          cwd,
		Home:         home,
		Env:          os.Environ(),
		GOOS:         runtime.GOOS,
		GOARCH:       runtime.GOARCH,
		UID:          os.Getuid(),
		GID:          os.Getgid(),
		Terminal:     terminal,
		PID:          os.Getpid(),
		Executable:   exe,
		Stat:         os.Stat,
		EvalSymlinks: filepath.EvalSymlinks,
		ReadFile:     os.ReadFile,
		Open:         openNonblock,
		ReadDir:      os.ReadDir,
		DiskUsage:    diskUsage,
		Now:          time.Now,
		LookPath:     exec.LookPath,
		Output: func(name string, args ...string) ([]byte, error) {
			return exec.Command(name, args...).Output()
		},
		NeedsUserNS: singularity.Host{}.NeedsUserNS,
		FUSEUsable:  singularity.Host{}.FUSEUsable,
		InspectSIF: func(p string) error {
			_, err := singularity.Inspect(p)
			return err
		},

		CgroupLimits: singularity.Host{}.CgroupLimits,
		CgroupV1:     cgroupV1,
	}, nil
}

// fs is the host file system as package mounts reads it.
func (h *Host) fs() mounts.FS { return mounts.FS{Stat: h.Stat, EvalSymlinks: h.EvalSymlinks} }

// Getenv returns the value of the host variable name ("" when unset).
func (h *Host) Getenv(name string) string {
	v, _ := h.LookupEnv(name)
	return v
}

// LookupEnv returns the value of the host variable name and whether it is
// set. The last definition wins, as in the C library.
func (h *Host) LookupEnv(name string) (string, bool) {
	for i := len(h.Env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(h.Env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// EnvNames returns the names of the set host variables, sorted and unique.
func (h *Host) EnvNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, kv := range h.Env {
		k, _, ok := strings.Cut(kv, "=")
		if ok && k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// cgroupV1 reports whether this host mounts cgroup v1 (or the hybrid
// layout) rather than the unified v2 hierarchy, whose root holds
// cgroup.controllers.
func cgroupV1() bool {
	if runtime.GOOS != "linux" {
		return false
	}
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err != nil
}

// diskUsage sums the sizes of the regular files under dir, links not
// followed.
func diskUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// openNonblock opens a file for reading; O_NONBLOCK keeps a FIFO (a
// repository's .launch.toml, say) from blocking the open, and changes
// nothing for a regular file.
func openNonblock(p string) (fs.File, error) {
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
