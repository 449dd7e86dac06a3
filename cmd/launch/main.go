// Command launch runs an AI coding agent in a container that sees only the
// workspace, the agent's credentials and the network it is allowed.
//
// main wires the OS (streams, signals, host facts) to the app and is the only
// place that chooses an exit code.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
)

func main() {
	if len(os.Args) > 1 && internalCommands[os.Args[1]] != nil {
		// In the container, as the entry wrapper of an allowlist.
		os.Exit(internalCommands[os.Args[1]](os.Args[2:]))
	}
	s := iostreams.System()
	_, inTerm := s.Terminal()
	h, err := systemHost(inTerm && s.OutTerminal())
	if err != nil {
		fmt.Fprintf(os.Stderr, "launch: %v\n", err)
		os.Exit(125)
	}
	// SIGINT, SIGTERM and SIGHUP cancel the context with the signal as its
	// cause: the backend stops and removes what it created, then launch
	// exits with 128 + the signal's number, as a shell reports it.
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for sig := range sigs {
			cancel(signalError{sig.(syscall.Signal)})
		}
	}()
	code := runApp(ctx, s, h, os.Args)
	signal.Stop(sigs)
	os.Exit(code)
}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return e.sig.String() + " received" }

// runApp runs the CLI on args and returns the exit code; errors are printed
// here, once.
func runApp(ctx context.Context, s iostreams.Streams, h *Host, args []string) int {
	app := newApp(s, h, func(ctx context.Context, f *flagState, cmd *cli.Command) error {
		return launch(ctx, s, h, f, cmd)
	})
	args = slurmFlag(args)
	h.Args = args
	if launcherHelp(app, args) {
		// "launch -h codex" is launch's help; urfave/cli would look for
		// a help topic called codex.
		args = []string{args[0], "--help"}
	}
	err := app.Run(ctx, args)
	code := exitCode(err)
	if err != nil {
		var ue usageError
		switch _, agent := err.(exitError); {
		case agent:
		case errors.As(err, &ue):
			fmt.Fprintln(s.Err, ue) // names its command: "launch ps: ..."
		default:
			fmt.Fprintf(s.Err, "launch: %s\n", strings.TrimSpace(err.Error()))
		}
	}
	return code
}

// slurmFlag rewrites --slurm=ARGS, before the agent's name (or after a
// subcommand's), as --slurm-args=ARGS: a flag is either a switch or takes a
// value.
func slurmFlag(args []string) []string {
	out := append([]string(nil), args...)
	sub := false
	for i := 1; i < len(out); i++ {
		a := out[i]
		if !sub && subcommands[a] {
			sub = true
			continue
		}
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		if v, ok := strings.CutPrefix(a, "--slurm="); ok {
			out[i] = "--slurm-args=" + v
		}
	}
	return out
}

// launcherHelp reports whether -h or --help comes before the agent's name:
// that asks for launch's own help. After the agent, it is the agent's.
func launcherHelp(app *cli.Command, args []string) bool {
	takesValue := takesValue(app.Flags)
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help":
			return true
		case a == "--" || !strings.HasPrefix(a, "-"):
			return false // the agent's name, or the end of the flags
		case !strings.Contains(a, "=") && takesValue[strings.TrimLeft(a, "-")]:
			i++ // the flag's value
		}
	}
	return false
}
