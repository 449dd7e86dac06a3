// Command launch runs an AI coding agent in a container that sees only the
// workspace, the agent's credentials and the network it is allowed.
//
// main wires the OS (streams, signals, host facts) to the app and is the only
// place that chooses an exit code.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
)

func main() {
	s := iostreams.System()
	_, inTerm := s.Terminal()
	h, err := systemHost(inTerm && s.OutTerminal())
	if err != nil {
		fmt.Fprintf(os.Stderr, "launch: %v\n", err)
		os.Exit(125)
	}
	// SIGINT, SIGTERM and SIGHUP cancel the context: the backend stops and
	// removes what it created, then launch exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := runApp(ctx, s, h, os.Args)
	stop()
	os.Exit(code)
}

// runApp runs the CLI on args and returns the exit code; errors are printed
// here, once.
func runApp(ctx context.Context, s iostreams.Streams, h *Host, args []string) int {
	app := newApp(s, func(ctx context.Context, f *flagState, cmd *cli.Command) error {
		return launch(ctx, s, h, f, cmd)
	})
	err := app.Run(ctx, args)
	code := exitCode(err)
	if err != nil {
		if _, agent := err.(exitError); !agent {
			fmt.Fprintf(s.Err, "launch: %s\n", strings.TrimSpace(err.Error()))
		}
	}
	return code
}
