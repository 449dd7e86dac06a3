package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"
)

// Shell completion is the CLI library's own (launch completion bash|zsh|
// fish|pwsh prints the script; the script asks launch itself, with
// --generate-shell-completion, for the words). launch adds the agents of
// the built-in catalogue and of your config files after the subcommands,
// and the session names after attach, stop and logs, and completes
// launch's own flags and the values of those that take one of a few
// (completionValues).

// completionValues are the values TAB offers after a launch flag; each is
// one the flag accepts (TestCompletionValuesParse). "@agents" stands for
// allow=@NAME for every agent.
var completionValues = map[string][]string{
	"backend":     {"docker", "podman", "singularity", "apptainer"},
	"network":     {"open", "none", "allow=", "@agents"},
	"network-via": {"socket", "sidecar"},
	"runtime":     {"runc", "runsc"},
	"gpus":        {"none", "all", "auto"},
	"pull":        {"missing", "always", "never"},
	"privileges":  {"least", "image"},
	"pids":        {"none", "4096"},
	"cap-add":     {"NET_BIND_SERVICE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_RAW", "SYS_PTRACE"},
}

// completeAgents prints the subcommands and the agents, one a line, as
// the completion script reads them ("word:description").
func completeAgents(h *Host) cli.ShellCompleteFunc {
	return func(ctx context.Context, cmd *cli.Command) {
		w := cmd.Root().Writer
		// The word before the cursor, as the script passes it: the
		// partial word itself when it starts with "-" (launch --ba), else
		// the word before it (launch --backend ).
		if n := len(h.Args); n >= 3 && strings.HasPrefix(h.Args[n-2], "-") && cmd.NArg() <= 1 {
			completeFlag(w, h, cmd, h.Args[n-2])
			return
		}
		if cmd.NArg() > 0 {
			return // after the agent: its own arguments
		}
		for _, c := range cmd.Commands {
			if !c.Hidden {
				fmt.Fprintf(w, "%s:%s\n", c.Name, c.Usage)
			}
		}
		printAgents(w, h)
	}
}

// completeFlag prints what TAB offers after word, a flag or part of one:
// the values of a flag that takes one of a few (--backend, or
// --backend=VALUE), nothing for one that takes a path or free text (the
// shell then offers files), else the flags that start with word.
func completeFlag(w io.Writer, h *Host, cmd *cli.Command, word string) {
	name, _, withValue := strings.Cut(strings.TrimLeft(word, "-"), "=")
	for _, f := range cmd.Flags {
		if !slices.Contains(f.Names(), name) || !takesValue([]cli.Flag{f})[name] {
			continue
		}
		prefix := ""
		if withValue {
			prefix = "--" + name + "="
		}
		for _, v := range completionValues[f.Names()[0]] {
			if v != "@agents" {
				fmt.Fprintln(w, prefix+v)
				continue
			}
			for _, a := range userAgents(h) {
				fmt.Fprintf(w, "%sallow=@%s:the suggested allowlist of %s\n", prefix, a, a)
			}
		}
		return
	}
	if withValue {
		return
	}
	for _, f := range cmd.Flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		usage := ""
		if df, ok := f.(cli.DocGenerationFlag); ok {
			usage = df.GetUsage()
			if i := strings.IndexAny(usage, ";("); i > 0 {
				usage = strings.TrimSpace(usage[:i])
			}
		}
		for _, n := range f.Names() {
			if len(n) > 1 && strings.HasPrefix("--"+n, word) {
				fmt.Fprintf(w, "--%s:%s\n", n, usage)
			}
		}
	}
}

// printAgents prints the agents of the catalogue and config files.
func printAgents(w io.Writer, h *Host) {
	for _, n := range userAgents(h) {
		fmt.Fprintf(w, "%s:agent\n", n)
	}
}

// userAgents are the agents of the catalogue and the user's config files,
// sorted; none where they cannot be read.
func userAgents(h *Host) []string {
	if h == nil {
		return nil
	}
	layers, err := userLayers(h, "")
	if err != nil {
		return nil
	}
	return agentNames(catalogue(layers))
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
