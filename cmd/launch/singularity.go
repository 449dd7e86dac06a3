package main

import (
	"errors"

	"github.com/launchcli/launch/plan"
)

func renderSingularity(p plan.Plan, o *options, h *Host) (launcher, error) {
	return nil, errors.New("singularity: not wired yet")
}
