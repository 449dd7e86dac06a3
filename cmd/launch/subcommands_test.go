package main

import (
	"context"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
)

// TestSubcommandsReserved keeps the reserved names in step with the
// commands newApp registers: a command missing from subcommands could be
// shadowed by an agent of the same name, and --slurm=ARGS after it would
// not be rewritten.
func TestSubcommandsReserved(t *testing.T) {
	app := newApp(iostreams.Streams{}, nil, func(context.Context, *flagState, *cli.Command) error { return nil })
	names := []string{"help", "completion"} // added by the cli package
	for _, c := range app.Commands {
		names = append(names, c.Name)
		names = append(names, c.Aliases...)
	}
	for _, n := range names {
		if !subcommands[n] {
			t.Errorf("command %q is not reserved in subcommands (trust_cmd.go)", n)
		}
	}
}
