package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/netpolicy"
	"github.com/launchcli/launch/plan"
)

// loginRequest is what `launch login` asks of a launch: run the agent's
// login (agent.Login) instead of the agent, with its callback port
// published on the host's 127.0.0.1.
type loginRequest struct {
	// port is the host port of the callback; 0 means the catalogue's
	// login_port.
	port int
	// anyway runs the login where no browser seems to be.
	anyway bool
}

// loginCommand is "launch login AGENT": the agent's own login, in its image,
// with the credential directory mounted writable as in every launch.
func loginCommand(f *flagState, run func(ctx context.Context, f *flagState, cmd *cli.Command) error) *cli.Command {
	var req loginRequest
	stop := 1 // the login's own arguments follow AGENT
	return &cli.Command{
		Name:      "login",
		Usage:     "run the agent's own login in its container, its browser callback published on 127.0.0.1, so that the credentials land where every launch finds them",
		UsageText: "launch login [--port N] [--no-browser-check] [launch flags] AGENT [login args...]",
		Description: `Runs the agent's login command (login in [agents.AGENT] of the catalogue:
codex login for codex) in the agent's image, with its credential directory
mounted writable and the network open. When the login waits for the
browser's redirect on a port (login_port: 1455 for codex), that port is
published on this machine's 127.0.0.1, so the browser here completes the
login. Docker and Podman: a relay in the container (launch's binary,
mounted read-only) carries the published port to the login's 127.0.0.1,
where it listens. Apptainer shares the host's network: the login listens
on the host's own port.

Needs a browser on this machine: without one (no DISPLAY or WAYLAND_DISPLAY
on Linux, or over ssh) it refuses and points to launch refresh, which logs
in where a browser is and copies the files. --no-browser-check runs it
anyway (ssh -L PORT:127.0.0.1:PORT forwards the callback from your laptop).

Examples:
   launch login codex
   launch --backend podman login codex
   launch login --port 21455 codex       # another host port (the container's stays 1455)`,
		StopOnNthArg: &stop,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "port", Destination: &req.port, Usage: "host port of the login's callback (default: the agent's login_port)"},
			&cli.BoolFlag{Name: "no-browser-check", Destination: &req.anyway, Usage: "run the login even where no browser seems to be"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() == 0 {
				return usagef("login: no AGENT given; try launch login codex")
			}
			f.login = &req
			return run(ctx, f, cmd)
		},
	}
}

// loginOptions turns o, a launch of the agent, into the launch of its
// login: the catalogue's login command (the user's arguments appended), an
// open network, and the callback port published on 127.0.0.1 through a
// relay where the container has a network of its own.
func loginOptions(o *options, h *Host, req loginRequest, backend backendName) error {
	a, err := agentOf(o)
	if err != nil {
		return err
	}
	if len(a.Login) == 0 {
		return usagef("login %s: the agent has no login command (login in [agents.%s]); log in on a machine with a browser and copy the files with launch refresh, or run launch %s and log in there", a.Name, a.Name, a.Name)
	}
	if a.LoginPort != 0 && !req.anyway {
		if why := noBrowser(h); why != "" {
			return usagef("login %s: no browser on this machine (%s), and the login waits for the browser's redirect to 127.0.0.1:%d here; log in where a browser is with launch refresh --kind %s (--remote HOST copies the files here), or forward the port (ssh -L %d:127.0.0.1:%d) and pass --no-browser-check", a.Name, why, a.LoginPort, a.Name, a.LoginPort, a.LoginPort)
		}
	}
	if o.Network.String() != string(plan.NetworkOpen) {
		// The login reaches its provider, and a published port needs an
		// open network.
		o.warnings = append(o.warnings, fmt.Sprintf("login: network open for the login (it reaches the provider and takes the callback), not %s", o.Network.String()))
		if err := o.setText("network", string(plan.NetworkOpen)); err != nil {
			return err
		}
	}
	a.Command, a.Shell = append([]string(nil), a.Login...), false
	o.Agents = cloneAgents(o.Agents)
	o.Agents[a.Name] = a
	if a.LoginPort == 0 {
		return nil
	}
	host := req.port
	if host == 0 {
		host = a.LoginPort
	}
	if host < 1 || host > 65535 {
		return usagef("--port %d: want a port from 1 to 65535", host)
	}
	if backend == backendSingularity {
		// The host's network: the login's port is the host's own (the
		// backend refuses another host port, and says why).
		o.Publish = append(o.Publish, portSetting{HostIP: plan.DefaultPublishIP, HostPort: host, ContainerPort: a.LoginPort})
		return nil
	}
	// Codex's login server listens on the container's 127.0.0.1, which a
	// published port does not reach (the engine forwards to the
	// container's address): a relay on another port of every address
	// carries it there.
	relay := a.LoginPort + 1
	if relay > 65535 {
		relay = a.LoginPort - 1
	}
	bin, err := linuxBinary(h, o.Arch.Arch)
	if err != nil {
		return usagef("login %s: the relay of the callback port runs %w", a.Name, err)
	}
	if err := o.setText("mounts", bin+":"+plan.ProxyBinary+":ro"); err != nil {
		return err
	}
	o.from["mounts"] = append(o.from["mounts"], origin{key: "launch login's relay"})
	a.Command = append([]string{plan.ProxyBinary, "_relay", "--listen", "0.0.0.0:" + strconv.Itoa(relay), "--to", "127.0.0.1:" + strconv.Itoa(a.LoginPort), "--"}, a.Command...)
	o.Agents[a.Name] = a
	o.Publish = append(o.Publish, portSetting{HostIP: plan.DefaultPublishIP, HostPort: host, ContainerPort: relay})
	return nil
}

// cloneAgents copies the catalogue, so that the login's changes stay its own.
func cloneAgents(m map[string]agent) map[string]agent {
	out := make(map[string]agent, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// noBrowser says why no browser can be opened here, or "" when one can: a
// session over ssh, or a Linux desktop-less session.
func noBrowser(h *Host) string {
	switch {
	case h.Getenv("SSH_CONNECTION") != "" || h.Getenv("SSH_TTY") != "":
		return "a session over ssh"
	case h.GOOS == "darwin":
		return ""
	case h.Getenv("DISPLAY") == "" && h.Getenv("WAYLAND_DISPLAY") == "":
		return "no DISPLAY or WAYLAND_DISPLAY"
	}
	if _, err := h.LookPath("xdg-open"); err != nil {
		return "no xdg-open on PATH"
	}
	return ""
}

// runRelay is "launch _relay --listen ADDR --to ADDR -- ARGV...": the entry
// wrapper of launch login in a container with a network of its own. It
// carries each connection to ADDR (the published port) on to --to (the
// login's callback on the container's 127.0.0.1), runs ARGV and exits with
// its status.
func runRelay(args []string) int {
	var listen, to string
	for len(args) >= 2 && args[0] != "--" {
		switch args[0] {
		case "--listen":
			listen = args[1]
		case "--to":
			to = args[1]
		default:
			return internalUsage("_relay", "unknown flag "+args[0])
		}
		args = args[2:]
	}
	if len(args) < 2 || args[0] != "--" || listen == "" || to == "" {
		return internalUsage("_relay", "want --listen ADDR --to ADDR -- COMMAND...")
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "launch: login relay: %v\n", err)
		return 125
	}
	go func() { _ = netpolicy.Relay(l, "tcp", to) }() // it ends with the process
	return runChild(args[1:])
}
