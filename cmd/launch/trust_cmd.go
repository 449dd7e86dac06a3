package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/trust"
)

// subcommands are the names launch keeps for itself; no agent may take one.
var subcommands = map[string]bool{"trust": true, "batch": true, "refresh": true, "creds": true, "doctor": true, "proxy": true,
	"ps": true, "attach": true, "stop": true, "logs": true, "gc": true, "completion": true, "help": true,
	"_watch": true, "_session": true}

// trustCommand is "launch trust": record, list or forget trusted project
// config files.
func trustCommand(s iostreams.Streams, h *Host) *cli.Command {
	var show, revoke bool
	return &cli.Command{
		Name:      "trust",
		Usage:     "trust the project config (.launch.toml) of a workspace, as it is now",
		UsageText: "launch trust [DIR]\nlaunch trust --show\nlaunch trust --revoke [DIR]",
		Description: `A project config that gives the agent more than your own settings do (a
mount outside the workspace, a host variable, another image, a wider
network) is refused until you trust it. "launch trust" records the file's
content (its SHA-256) in $XDG_STATE_HOME/launch/trust.json; any later change,
by anyone, the agent included, needs trusting again. It prints what the
file widens, so you see what you accept. DIR defaults to the current
directory.

Examples:
   launch trust                 # trust ./.launch.toml as it is now
   launch trust --show          # list trusted files and whether they changed
   launch trust --revoke ~/proj # forget ~/proj/.launch.toml`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "show", Destination: &show, Usage: "list the trusted files and whether each is unchanged"},
			&cli.BoolFlag{Name: "revoke", Destination: &revoke, Usage: "forget the project config of DIR"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 1 || (show && (revoke || cmd.Args().Len() > 0)) {
				return usagef("launch trust takes one DIR at most, and --show takes none (see launch trust --help)")
			}
			store, err := trust.Load(trust.File(h.Getenv, h.Home), h.ReadFile)
			if err != nil {
				return usagef("%w", err)
			}
			if show {
				return showTrusted(s, h, store)
			}
			file, err := projectFile(h, cmd.Args().First())
			if err != nil {
				return err
			}
			if revoke {
				if !store.Remove(file) {
					return usagef("%s is not trusted; launch trust --show lists what is", file)
				}
				fmt.Fprintf(s.Err, "launch: %s is no longer trusted\n", file)
				return store.Save()
			}
			return trustFile(s, h, store, file)
		},
	}
}

// projectFile is DIR/.launch.toml with its links resolved.
func projectFile(h *Host, dir string) (string, error) {
	if dir == "" {
		dir = h.Cwd
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(h.Cwd, dir)
	}
	file := filepath.Join(dir, ".launch.toml")
	real, err := h.EvalSymlinks(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", usagef("%s: no such file; there is nothing to trust in %s", file, dir)
	}
	if err != nil {
		return "", usagef("%s: %w", file, err)
	}
	return real, nil
}

// trustFile checks the file as a launch would, shows what it widens and
// what it cannot set, and records its content.
func trustFile(s iostreams.Streams, h *Host, store *trust.Store, file string) error {
	b, err := h.ReadFile(file)
	if err != nil {
		return usagef("%s: %w", file, err)
	}
	l, err := decodeConfig(file, string(b))
	if err != nil {
		return err
	}
	l.project = true
	lower, err := userLayers(h)
	if err != nil {
		return err
	}
	r := &review{l: &l, h: &Host{Cwd: filepath.Dir(file), Home: h.Home, EvalSymlinks: h.EvalSymlinks, Stat: h.Stat}, ws: filepath.Dir(file)}
	for _, x := range lower {
		r.lower.mergeFrom(&x.cfg, x.defined, origins{})
	}
	widening := r.findings()
	for _, w := range l.warnings {
		fmt.Fprintf(s.Err, "launch: warning: %s\n", w)
	}
	if len(widening) > 0 {
		fmt.Fprintf(s.Err, "launch: %s gives the agent more than your own settings do:\n  %s\n", file, strings.Join(widening, "\n  "))
	}
	store.Add(file, b, time.Now())
	if err := store.Save(); err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "launch: trusted %s (sha256 %s); any change needs launch trust again\n", file, trust.Sum(b)[:12])
	return nil
}

// userLayers are the layers below a project file: the built-in catalogue
// and the default user config.
func userLayers(h *Host) ([]layer, error) {
	layers, err := loadLayers(&Host{Cwd: "/nonexistent-launch-trust", Home: h.Home, Env: h.Env, ReadFile: h.ReadFile, EvalSymlinks: h.EvalSymlinks, Stat: h.Stat}, "")
	return layers, err
}

// showTrusted lists the trusted files: unchanged, changed or gone.
func showTrusted(s iostreams.Streams, h *Host, store *trust.Store) error {
	paths := store.Paths()
	if len(paths) == 0 {
		fmt.Fprintln(s.Err, "launch: no project config is trusted")
		return nil
	}
	for _, p := range paths {
		b, err := h.ReadFile(p)
		state := "unchanged"
		switch st, _ := store.Check(p, b); {
		case errors.Is(err, os.ErrNotExist):
			state = "gone"
		case err != nil:
			state = err.Error()
		case st == trust.Changed:
			state = "CHANGED since trusted: launch refuses it"
		}
		r := store.Files[p]
		fmt.Fprintf(s.Out, "%s\t%s\t%s\t%s\n", p, r.SHA256[:12], r.Trusted.Format(time.RFC3339), state)
	}
	return nil
}
