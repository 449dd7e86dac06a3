package main

import (
	"context"
	"errors"
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
func runLabels(o *options, h *Host) map[string]string {
	if o.DryRun {
		return nil
	}
	return naming.RunLabels(h.PID, time.Now())
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
}

func renderDocker(p plan.Plan, o *options, h *Host) (launcher, error) {
	dh := dockerHost(h)
	r, err := docker.Render(p, docker.Config{
		Name:        containerName(p),
		Labels:      runLabels(o, h),
		StopTimeout: stopTimeout,
		ConfigDir:   dh.ConfigDir,
		// dockerd on Linux shares the host's uids; Docker Desktop, Colima
		// and OrbStack (macOS, Windows) map ownership to the caller.
		HostIDs: h.GOOS == "linux",
	})
	if err != nil {
		return nil, unsupportedError(err)
	}
	return dockerLauncher{Rendered: r, host: dh}, nil
}

func (l dockerLauncher) Run(ctx context.Context, s iostreams.Streams) (int, error) {
	c, err := docker.Connect(ctx, l.host)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return l.Exec(ctx, c, s)
}

type podmanLauncher struct{ podman.Rendered }

func renderPodman(p plan.Plan, o *options, h *Host) (launcher, error) {
	// Without a connection (the executor comes with the Podman issue), the
	// podman package guesses whether the service is rootless.
	r, err := podman.Render(p, podman.Config{
		Rootless: podman.AssumeRootless(h.GOOS, h.UID, o.PodmanRootful),
		Name:     naming.ContainerName(p),
		Labels:   runLabels(o, h),
		CgroupV1: p.Limits.Any() && h.GOOS == "linux" && h.CgroupV1(),
	})
	if err != nil {
		return nil, unsupportedError(err)
	}
	return podmanLauncher{r}, nil
}

// Run refuses honestly: the Podman executor is a later issue.
func (podmanLauncher) Run(context.Context, iostreams.Streams) (int, error) {
	return 0, usagef("the podman backend cannot start containers yet; run the command that launch --dry-run --backend podman prints, or use --backend docker or singularity")
}
