package main

import (
	"fmt"
	"strings"

	"github.com/launchcli/launch/mounts"
)

// options are the settings of one launch after merging, lowest first: the
// built-in catalogue, the user config, the project config, the environment
// (LLM_DEVCONTAINER_MOUNTS, LLM_DEVCONTAINER_CERTS, LAUNCH_BACKEND) and the
// flags. A scalar from a later source replaces an earlier one; lists (mounts,
// env, ro, mask, path-prepend) accumulate in that order.
type options struct {
	Backend        string
	Image          string
	Tag            string
	Arch           string
	SIFPath        string
	WorkspaceMount string
	PathPrepend    []string
	CondaEnv       string
	Certs          string
	Env            []string
	Mounts         []mounts.Spec
	GlobalReadOnly bool
	RO             []string
	Mask           []string
	Network        string
	Runtime        string
	GPUs           string
	Pull           string
	Yes            bool
	SingularityBin string
	NvCCLI         bool
	PodmanRootful  *bool

	DryRun  bool
	JSON    bool
	Verbose bool

	Defaults defaults
	Agents   map[string]agent
	// Project notes what the project's .launch.toml asked for that reaches
	// beyond the workspace: the repository handed to the agent should not
	// widen the agent's view unnoticed.
	Project projectAsks
	Agent   string
	Args    []string
}

// projectAsks are the mounts and host variables a project config adds.
type projectAsks struct {
	File    string
	Mounts  []mounts.Spec
	EnvHost []string // names passed from the host
}

// defaults are the resolved image defaults.
type defaults struct {
	OCI, SIF, Arch string
	User           string
	UID, GID       int
	Home           string
}

// mergeLayers applies the config layers to o.
func (o *options) mergeLayers(layers []layer) error {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	for _, l := range layers {
		c := l.cfg
		set(&o.Backend, c.Backend)
		set(&o.Image, c.Image)
		set(&o.Tag, c.Tag)
		set(&o.Arch, c.Arch)
		set(&o.SIFPath, c.SIFPath)
		set(&o.WorkspaceMount, c.WorkspaceMount)
		set(&o.CondaEnv, c.CondaEnv)
		set(&o.Certs, c.Certs)
		set(&o.Network, c.Network)
		set(&o.Runtime, c.Runtime)
		set(&o.GPUs, c.GPUs)
		set(&o.Pull, c.Pull)
		set(&o.SingularityBin, c.SingularityBin)
		if c.GlobalReadOnly != nil {
			o.GlobalReadOnly = *c.GlobalReadOnly
		}
		if c.Yes != nil {
			o.Yes = *c.Yes
		}
		if c.NvCCLI != nil {
			o.NvCCLI = *c.NvCCLI
		}
		if c.PodmanRootful != nil {
			o.PodmanRootful = c.PodmanRootful
		}
		o.PathPrepend = append(o.PathPrepend, c.PathPrepend...)
		o.Env = append(o.Env, c.Env...)
		if l.project {
			o.Project.File = l.file
			for _, e := range c.Env {
				if !strings.Contains(e, "=") {
					o.Project.EnvHost = append(o.Project.EnvHost, e)
				}
			}
		}
		o.RO = append(o.RO, c.RO...)
		o.Mask = append(o.Mask, c.Mask...)
		for _, s := range c.Mounts {
			sp, err := mounts.ParseSpec(s)
			if err != nil {
				return fmt.Errorf("%s: mounts: %w", l.file, err)
			}
			o.Mounts = append(o.Mounts, sp)
			if l.project {
				o.Project.Mounts = append(o.Project.Mounts, sp)
			}
		}
		d := c.Defaults
		set(&o.Defaults.OCI, d.OCI)
		set(&o.Defaults.SIF, d.SIF)
		set(&o.Defaults.Arch, d.Arch)
		set(&o.Defaults.User, d.User)
		set(&o.Defaults.Home, d.Home)
		if d.UID != nil {
			o.Defaults.UID = *d.UID
		}
		if d.GID != nil {
			o.Defaults.GID = *d.GID
		}
	}
	o.Agents = catalogue(layers)
	return nil
}

// mergeEnv applies the launcher's own environment variables.
func (o *options) mergeEnv(h *Host) error {
	if v := h.Getenv("LAUNCH_BACKEND"); v != "" {
		o.Backend = v
	}
	if v := h.Getenv("LLM_DEVCONTAINER_CERTS"); v != "" {
		o.Certs = v
	}
	if v := h.Getenv("LLM_DEVCONTAINER_MOUNTS"); strings.TrimSpace(v) != "" {
		specs, err := mounts.ParseList(v)
		if err != nil {
			return fmt.Errorf("LLM_DEVCONTAINER_MOUNTS: %w", err)
		}
		o.Mounts = append(o.Mounts, specs...)
	}
	return nil
}
