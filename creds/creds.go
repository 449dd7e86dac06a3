// Package creds knows where each agent keeps its credentials on the host and
// turns them into plan mounts: mounted read-write at the same place under the
// container user's home, so that a login refreshed on the host is seen at once
// inside a running container; refreshes the logins (launch refresh), reports
// when each token expires, copies the files to a remote host and makes the
// short-term Bedrock key.
//
// It imports plan, the standard library and the AWS SDK's SigV4 signer (the
// Bedrock key) only; it runs codex, aws and rsync as programs.
package creds

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/launchcli/launch/plan"
)

// Path is one credential path of an agent.
type Path struct {
	// Rel is the path relative to the home directory (".codex",
	// ".claude.json"); the same relative path is used under the container
	// user's home.
	Rel string `toml:"path"`
	// Create makes a real run create the path when it is missing, so that the
	// agent's login persists on the host: a directory, or a file holding Init.
	Create bool `toml:"create"`
	// Dir says the path is a directory (used when it must be created).
	Dir bool `toml:"dir"`
	// Init is the content of a created file ("{}" for ~/.claude.json, without
	// which Claude Code hangs).
	Init string `toml:"init"`
	// Bedrock marks a path used only when the agent talks to Amazon Bedrock
	// (~/.aws).
	Bedrock bool `toml:"bedrock"`
	// Keys, in a settings path, are the JSON keys of a file that must stay
	// writable but whose keys name commands ("mcpServers",
	// "projects.*.mcpServers"): the file is not mounted read-only; launch
	// puts back whatever a session changed under them (watch.go).
	Keys []string `toml:"keys"`
}

// Validate checks that p is a relative path inside the home directory.
func (p Path) Validate() error {
	clean := path.Clean(p.Rel)
	if p.Rel == "" || path.IsAbs(p.Rel) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("credential path %q: want a path relative to the home directory, such as .codex", p.Rel)
	}
	if p.Dir && p.Init != "" {
		return fmt.Errorf("credential path %q: a directory has no init content", p.Rel)
	}
	return nil
}

// Result is what Resolve decided.
type Result struct {
	// Mounts are the credential mounts, in the order of the paths.
	Mounts []plan.Mount
	// Prepare lists the missing paths that a real run creates first.
	Prepare []plan.HostPath
	// Skipped lists host paths left out because they do not exist.
	Skipped []string
}

// Resolve maps paths to mounts from home (host) to ctrHome (container). A path
// that exists is mounted; a missing one is mounted and created by a real run
// if Create is set, and skipped otherwise. Bedrock-only paths are considered
// only when bedrock is true.
func Resolve(paths []Path, home, ctrHome string, bedrock bool, stat func(string) (fs.FileInfo, error)) (Result, error) {
	var r Result
	for _, p := range paths {
		if p.Bedrock && !bedrock {
			continue
		}
		if err := p.Validate(); err != nil {
			return Result{}, err
		}
		rel := path.Clean(p.Rel)
		host := filepath.Join(home, filepath.FromSlash(rel))
		m := plan.Mount{
			Kind:   plan.MountBind,
			Source: host,
			Target: path.Join(ctrHome, rel),
			Origin: plan.OriginCredential,
		}
		fi, err := stat(host)
		switch {
		case err == nil:
			m.File = !fi.IsDir()
		case errors.Is(err, fs.ErrNotExist) && p.Create:
			m.File = !p.Dir
			r.Prepare = append(r.Prepare, plan.HostPath{Path: host, Dir: p.Dir, Content: p.Init})
		case errors.Is(err, fs.ErrNotExist):
			r.Skipped = append(r.Skipped, host)
			continue
		default:
			return Result{}, fmt.Errorf("credential path %q: %w", host, err)
		}
		r.Mounts = append(r.Mounts, m)
	}
	return r, nil
}

// ResolveSettings maps an agent's settings paths (the catalogue's
// settings: files and directories under its credential paths that the
// agent's native runs on the host read as commands to run, such as
// hooks, notify or extensions) to read-only mounts over the credential
// mounts in have, so that the agent cannot plant a command that runs on
// the host. A path that exists is mounted where its links lead; a missing
// one with Create is created first (by a real run, listed in Prepare) and
// mounted, so that the agent cannot create it either; a missing one
// without Create, or one under no credential mount, is skipped.
func ResolveSettings(paths []Path, have []plan.Mount, home, ctrHome string, stat func(string) (fs.FileInfo, error), real func(string) (string, error)) (Result, error) {
	var r Result
	for _, p := range paths {
		if err := p.Validate(); err != nil {
			return Result{}, fmt.Errorf("settings: %w", err)
		}
		rel := path.Clean(p.Rel)
		target := path.Join(ctrHome, rel)
		if len(p.Keys) > 0 || !underCredential(target, have) {
			continue
		}
		host := filepath.Join(home, filepath.FromSlash(rel))
		m := plan.Mount{Kind: plan.MountBind, Source: host, Target: target, ReadOnly: true, Origin: plan.OriginAgentSettings}
		fi, err := stat(host)
		switch {
		case err == nil:
			m.File = !fi.IsDir()
			if rp, err := real(host); err == nil {
				m.Source = rp
			}
		case errors.Is(err, fs.ErrNotExist) && p.Create:
			m.File = !p.Dir
			r.Prepare = append(r.Prepare, plan.HostPath{Path: host, Dir: p.Dir, Content: p.Init, Placeholder: true})
		case errors.Is(err, fs.ErrNotExist):
			r.Skipped = append(r.Skipped, host)
			continue
		default:
			return Result{}, fmt.Errorf("settings path %q: %w", host, err)
		}
		r.Mounts = append(r.Mounts, m)
	}
	return r, nil
}

// underCredential reports whether target lies strictly inside a writable
// credential directory mount of have.
func underCredential(target string, have []plan.Mount) bool {
	for _, m := range have {
		if m.Origin == plan.OriginCredential && !m.File && !m.ReadOnly && strings.HasPrefix(target, strings.TrimSuffix(m.Target, "/")+"/") {
			return true
		}
	}
	return false
}
