package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/urfave/cli/v3"
)

// Shell completion is the CLI library's own (launch completion bash|zsh|
// fish|pwsh prints the script; the script asks launch itself, with
// --generate-shell-completion, for the words). launch adds the agents of
// the built-in catalogue and of your config files after the subcommands,
// and the session names after attach, stop and logs.

// completeAgents prints the subcommands and the agents, one a line, as
// the completion script reads them ("word:description").
func completeAgents(h *Host) cli.ShellCompleteFunc {
	return func(ctx context.Context, cmd *cli.Command) {
		if cmd.NArg() > 0 {
			return // after the agent: its own arguments
		}
		w := cmd.Root().Writer
		for _, c := range cmd.Commands {
			if !c.Hidden {
				fmt.Fprintf(w, "%s:%s\n", c.Name, c.Usage)
			}
		}
		printAgents(w, h)
	}
}

// printAgents prints the agents of the catalogue and config files.
func printAgents(w io.Writer, h *Host) {
	if h == nil {
		return
	}
	layers, err := userLayers(h)
	if err != nil {
		return
	}
	var names []string
	for name := range catalogue(layers) {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "%s:agent\n", n)
	}
}

// completeSessions prints the caller's session names (attach, stop, logs).
func completeSessions(h *Host, all bool) cli.ShellCompleteFunc {
	return func(ctx context.Context, cmd *cli.Command) {
		_ = withSessions(ctx, h, func(bs []sessionBackend) error {
			list, err := allSessions(ctx, bs, all)
			for _, f := range list {
				fmt.Fprintf(cmd.Root().Writer, "%s:%s %s (%s)\n", f.Name, f.Agent, f.Status, f.Backend)
			}
			return err
		})
	}
}
