package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/launchcli/launch/backend/docker"
	"github.com/launchcli/launch/backend/podman"
	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/plan"
)

// This file adapts each backend to launcher: it fills the backend's Config
// from options and host facts (the backend's Render never looks anything
// up) and connects to the engine only for a real run.

// stopTimeout is how long, in seconds, an interrupted run gives the agent
// between SIGTERM and SIGKILL: an agent that ignores SIGTERM must not keep
// Ctrl-C waiting for the engine's default 10 s.
const stopTimeout = 3

// containerName is launch-<agent>-<workspace directory name>.
func containerName(p plan.Plan) string { return naming.ContainerName(p) }

// runLabels are the labels of a real run, so that a container can be traced
// to the launch that made it (launcher pid, start time). A dry run leaves
// them out, so that it prints the same command every time.
func runLabels(o *options, h *Host, p plan.Plan) map[string]string {
	if o.DryRun {
		return nil
	}
	labels := naming.RunLabels(h.PID, time.Now())
	maps.Copy(labels, naming.SessionLabels(h.UID, p.Network.String(), o.Detach && !o.SlurmOn))
	if len(p.Publish) > 0 {
		labels[naming.LabelPorts] = strings.Join(portList(p.Publish), ",")
	}
	return labels
}

// portList is each published port as -p takes it (IP:HOSTPORT:CTRPORT).
func portList(ports []plan.Port) []string {
	var out []string
	for _, x := range ports {
		out = append(out, x.String())
	}
	return out
}

// unsupportedError turns a backend's capability error into a usage error:
// the user asked for something this backend cannot do, and the message says
// what to use instead.
func unsupportedError(err error) error {
	if errors.Is(err, plan.ErrUnsupported) || errors.Is(err, plan.ErrInvalid) {
		return usagef("%w", err)
	}
	return err
}

type dockerLauncher struct {
	docker.Rendered
	host docker.Host
	// state is $XDG_STATE_HOME/launch, where pulls are recorded.
	state string
}

func renderDocker(p plan.Plan, o *options, h *Host) (launcher, error) {
	dh := dockerHost(h)
	r, err := docker.Render(p, docker.Config{
		Name:        containerName(p),
		Labels:      runLabels(o, h, p),
		StopTimeout: stopTimeout,
		ConfigDir:   dh.ConfigDir,
		Detach:      o.Detach && !o.SlurmOn,
		// dockerd on Linux shares the host's uids; Docker Desktop, Colima
		// and OrbStack (macOS, Windows) map ownership to the caller.
		HostIDs: h.GOOS == "linux",
	})
	if err != nil {
		return nil, unsupportedError(err)
	}
	return dockerLauncher{Rendered: r, host: dh, state: stateDir(h)}, nil
}

func (l dockerLauncher) Run(ctx context.Context, s iostreams.Streams) (int, error) {
	c, err := docker.Connect(ctx, l.host)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r := l.Rendered
	r.OnPull = recordPull(l.state, s.Err, backendDocker, c.DaemonHost())
	return r.Exec(ctx, c, s)
}

// podmanLauncher runs a Podman plan. Render guesses whether the service is
// rootless (podman.AssumeRootless); Run asks the service and renders again
// when the guess was wrong, so that the user mapping is the service's.
type podmanLauncher struct {
	podman.Rendered
	p    plan.Plan
	cfg  podman.Config
	host podman.Host
	// state is $XDG_STATE_HOME/launch, where pulls are recorded.
	state string
}

func renderPodman(p plan.Plan, o *options, h *Host) (launcher, error) {
	cfg := podman.Config{
		Rootless:    podman.AssumeRootless(h.GOOS, h.UID, o.PodmanRootful),
		Name:        naming.ContainerName(p),
		Labels:      runLabels(o, h, p),
		StopTimeout: stopTimeout,
		Detach:      o.Detach && !o.SlurmOn,
		CgroupV1:    p.Limits.Any() && h.GOOS == "linux" && h.CgroupV1(),
	}
	// Podman on macOS runs its service in a podman machine, a Linux VM of
	// the Mac's architecture that shares some directories.
	cfg.Machine = podmanMachine(h, o.PodmanURL)
	r, err := podman.Render(p, cfg)
	if err != nil {
		return nil, unsupportedError(err)
	}
	ph := podmanHost(h)
	ph.URL = o.PodmanURL
	return podmanLauncher{Rendered: r, p: p, cfg: cfg, host: ph, state: stateDir(h)}, nil
}

func (l podmanLauncher) Run(ctx context.Context, s iostreams.Streams) (int, error) {
	c, err := podman.Connect(ctx, l.host)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r := l.Rendered
	if c.Rootless != l.cfg.Rootless {
		cfg := l.cfg
		cfg.Rootless = c.Rootless
		if r, err = podman.Render(l.p, cfg); err != nil {
			return 0, unsupportedError(err)
		}
		kind := "rootful"
		if c.Rootless {
			kind = "rootless"
		}
		fmt.Fprintf(s.Err, "launch: the podman service at %s is %s; set podman_rootful = %t in your config (~/.config/launch/config.toml) to match it, so that --dry-run prints this run's command\n", c.Endpoint(), kind, !c.Rootless)
		for _, n := range r.Notes() {
			if strings.HasPrefix(n, "user namespace") || strings.HasPrefix(n, "rootful podman") {
				fmt.Fprintf(s.Err, "launch: %s\n", n)
			}
		}
	}
	r.OnPull = recordPull(l.state, s.Err, backendPodman, c.Endpoint())
	return r.Exec(ctx, c, s)
}

// podmanHost is the host as the podman backend reads it.
func podmanHost(h *Host) podman.Host {
	return podman.Host{
		Getenv:   h.Getenv,
		Home:     h.Home,
		GOOS:     h.GOOS,
		UID:      h.UID,
		ReadFile: h.ReadFile,
		Exists:   func(p string) bool { _, err := h.Stat(p); return err == nil },
		LookPath: h.LookPath,
	}
}
