package main

import (
	"errors"

	"github.com/launchcli/launch/plan"
)

func renderDocker(p plan.Plan, o *options, h *Host) (launcher, error) {
	return nil, errors.New("docker: not wired yet")
}

func renderPodman(p plan.Plan, o *options, h *Host) (launcher, error) {
	return nil, errors.New("podman: not wired yet")
}

func renderSingularity(p plan.Plan, o *options, h *Host) (launcher, error) {
	return nil, errors.New("singularity: not wired yet")
}
