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
	"unicode/utf8"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/trust"
)

// subcommands are the names launch keeps for itself; no agent may take one.
var subcommands = map[string]bool{"trust": true, "batch": true, "refresh": true, "login": true, "creds": true, "doctor": true, "proxy": true,
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
network) is refused until you trust it. "launch trust" records, for this
workspace, the file's content (its SHA-256) and what it widens, each host
path with its links resolved, in $XDG_STATE_HOME/launch/trust.json; any
later change, by anyone, the agent included, needs trusting again: to the
file, or to where a path in it leads. It prints what the file widens, so
you see what you accept. DIR defaults to the current directory.

Examples:
   launch trust                 # trust ./.launch.toml as it is now
   launch trust --show          # list trusted files and whether they changed
   launch trust --revoke ~/proj # forget ~/proj/.launch.toml`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "show", Destination: &show, Usage: "list the trusted files and whether each is unchanged (content, and where its paths lead)"},
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
			ws, err := projectWorkspace(h, cmd.Args().First())
			if err != nil {
				return err
			}
			key := trust.Key(ws)
			if revoke {
				if !store.Remove(key) {
					return usagef("%s is not trusted; launch trust --show lists what is", key)
				}
				fmt.Fprintf(s.Err, "launch: %s is no longer trusted\n", key)
				return store.Save()
			}
			return trustFile(s, h, store, ws)
		},
	}
}

// projectWorkspace is DIR with its links resolved, where a .launch.toml
// exists.
func projectWorkspace(h *Host, dir string) (string, error) {
	if dir == "" {
		dir = h.Cwd
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(h.Cwd, dir)
	}
	file := filepath.Join(dir, ".launch.toml")
	if _, err := h.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return "", usagef("%s: no such file; there is nothing to trust in %s", file, dir)
	}
	real, err := h.EvalSymlinks(dir)
	if err != nil {
		return "", usagef("%s: %w", dir, err)
	}
	if !utf8.ValidString(real) {
		return "", usagef("%q: launch records trust by the workspace's path, and this one is not UTF-8 text; rename it", real)
	}
	return real, nil
}

// reviewIn reviews the project file of workspace ws (links resolved) as a
// launch there would: the layer and what it widens.
func reviewIn(h *Host, ws string) (layer, []string, error) {
	file := trust.Key(ws)
	b, err := readConfig(h, file)
	if err != nil {
		return layer{}, nil, usagef("%s: %w", file, err)
	}
	l, err := decodeConfig(file, string(b))
	if err != nil {
		return layer{}, nil, err
	}
	l.project = true
	lower, err := userLayers(h, "")
	if err != nil {
		return layer{}, nil, err
	}
	wh := *h
	wh.Cwd = ws
	widening := newReview(&l, lower, &wh).findings()
	return l, widening, nil
}

// trustFile checks the project file of workspace ws as a launch would,
// shows what it widens and what it cannot set, and records its content
// and what it widens, for this workspace.
func trustFile(s iostreams.Streams, h *Host, store *trust.Store, ws string) error {
	l, widening, err := reviewIn(h, ws)
	if err != nil {
		return err
	}
	file := l.file
	for _, w := range l.warnings {
		fmt.Fprintf(s.Err, "launch: warning: %s\n", w)
	}
	if len(widening) > 0 {
		fmt.Fprintf(s.Err, "launch: %s gives the agent more than your own settings do:\n  %s\n", file, strings.Join(widening, "\n  "))
	}
	store.Add(file, []byte(l.text), widening, time.Now())
	if err := store.Save(); err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "launch: trusted %s (sha256 %s); any change needs launch trust again\n", file, trust.Sum([]byte(l.text))[:12])
	return nil
}

// userLayers are the layers below a project file: the built-in catalogue
// and the user config (the default one, or config, --config's), never a
// project's, which may not be trusted.
func userLayers(h *Host, config string) ([]layer, error) {
	return loadLayers(&Host{Cwd: "/nonexistent-launch-user", Home: h.Home, Env: h.Env, ReadFile: h.ReadFile, Open: h.Open, EvalSymlinks: h.EvalSymlinks, Stat: h.Stat}, config)
}

// showTrusted lists the trusted files: unchanged, changed, widening more
// than when trusted, or gone.
func showTrusted(s iostreams.Streams, h *Host, store *trust.Store) error {
	paths := store.Paths()
	if len(paths) == 0 {
		fmt.Fprintln(s.Err, "launch: no project config is trusted")
		return nil
	}
	// Tab-separated, a header first: cut -f and awk read it as well as a
	// person does.
	fmt.Fprintln(s.Out, "FILE\tSHA256\tTRUSTED\tSTATE")
	for _, p := range paths {
		l, widening, err := reviewIn(h, filepath.Dir(p))
		state := "unchanged"
		switch st, _, _ := store.Check(p, []byte(l.text), widening); {
		case errors.Is(err, os.ErrNotExist):
			state = "gone"
		case err != nil:
			state = err.Error()
		case st == trust.Changed:
			state = "CHANGED since trusted: launch refuses it"
		case st == trust.Widened:
			state = "a path in it now LEADS ELSEWHERE: launch refuses it"
		case st == trust.Outdated:
			state = "trusted by an earlier launch: trust it again"
		}
		r := store.Files[p]
		fmt.Fprintf(s.Out, "%s\t%s\t%s\t%s\n", p, r.SHA256[:12], r.Trusted.Format(time.RFC3339), state)
	}
	return nil
}
