package main

import (
	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/slurm"
)

// options are the settings of one launch after merging every layer, with
// where each value came from, the agent catalogue, and what the command line
// said beyond settings.
type options struct {
	Settings
	// from says where each setting came from, for messages.
	from     origins
	Defaults defaults
	Agents   map[string]agent

	// userConfig is the user config file that was read, or "".
	userConfig string
	// reviewed are the host paths the project file names, each as the
	// review of that file resolved it (layer.reviewed).
	reviewed map[string]string
	// warnings are about the config files (a user-only key in a project
	// file); resolve passes them on.
	warnings []string

	// SlurmOn runs the launch under Slurm, asking for Slurm.
	SlurmOn bool
	Slurm   slurm.Options
	// Detach starts the session and returns: a container left running on
	// Docker and Podman (launch attach, ps, logs, stop), a batch job under
	// Slurm.
	Detach bool

	// PromptFile (--prompt) replaces the agent's prompt; SkillFlags
	// (--skill) add to its skills.
	PromptFile string
	SkillFlags []string
	// SSHHostFlags (--ssh-host) add to the agent's SSH hosts;
	// SSHAgentFlag (--ssh-agent) forwards the SSH agent.
	SSHHostFlags []string
	SSHAgentFlag bool
	// Resume names the interrupted isolated session to go on with.
	Resume string

	DryRun  bool
	JSON    bool
	Verbose bool
	Agent   string
	Args    []string
}

// defaults are the resolved image defaults.
type defaults struct {
	OCI, SIF, Arch string
	User           string
	UID, GID       int
	Home           string
}

// settingEnv are the environment variables that set a key, between the
// config files and the flags.
var settingEnv = []struct {
	name, key string
	list      bool // a shell-style list of values
}{
	{"LAUNCH_BACKEND", "backend", false},
	{"LLM_DEVCONTAINER_CERTS", "certs", false},
	{"LLM_DEVCONTAINER_MOUNTS", "mounts", true},
}

// buildOptions merges the config layers, the environment and the flags, in
// that order, into one options value.
func buildOptions(h *Host, f *flagState, cmd *cli.Command) (*options, error) {
	layers, err := loadLayers(h, f.config)
	if err != nil {
		return nil, err
	}
	o := &options{from: origins{}}
	for _, l := range layers[1:] {
		if !l.project {
			o.userConfig = l.file
		} else {
			o.reviewed = l.reviewed
		}
		o.warnings = append(o.warnings, l.warnings...)
	}
	for _, l := range layers {
		o.mergeFrom(&l.cfg, l.defined, o.from)
	}
	o.Defaults = imageDefaultsOf(layers)
	o.Agents = catalogue(layers)

	env, err := envLayer(h)
	if err != nil {
		return nil, err
	}
	o.mergeFrom(env, func(key string) (origin, bool) {
		for _, e := range settingEnv {
			if e.key == key && h.Getenv(e.name) != "" {
				return origin{env: e.name, key: key}, true
			}
		}
		return origin{}, false
	}, o.from)

	flags, err := f.settings(cmd)
	if err != nil {
		return nil, err
	}
	o.mergeFrom(flags, func(key string) (origin, bool) {
		if name, ok := f.flagFor(key); ok && cmd.IsSet(name) {
			return origin{flag: name, key: key}, true
		}
		return origin{}, false
	}, o.from)

	if o.SlurmOn, o.Slurm, err = slurmOf(layers, f); err != nil {
		return nil, err
	}
	o.Detach = f.detach
	o.DryRun, o.JSON, o.Verbose = f.dryRun, f.json, f.verbose
	o.PromptFile, o.SkillFlags, o.Resume = f.prompt, f.skills, f.resume
	o.SSHHostFlags, o.SSHAgentFlag = f.sshHosts, f.sshAgent
	o.Agent, o.Args = agentArgs(agentWords(cmd.Args().Slice(), h.Args, takesValue(cmd.Root().Flags)))
	return o, nil
}

// envLayer reads the variables of settingEnv into a layer.
func envLayer(h *Host) (*Settings, error) {
	var s Settings
	for _, e := range settingEnv {
		v := h.Getenv(e.name)
		if v == "" {
			continue
		}
		values := []string{v}
		if e.list {
			var err error
			if values, err = mounts.Words(v); err != nil {
				return nil, usagef("%s: %w", e.name, err)
			}
		}
		for _, x := range values {
			if err := s.setText(e.key, x); err != nil {
				return nil, usagef("%s: %w", e.name, err)
			}
		}
	}
	return &s, nil
}

// imageDefaultsOf merges [image_defaults] of every layer, key by key.
func imageDefaultsOf(layers []layer) defaults {
	var out defaults
	for _, l := range layers {
		d := l.cfg.ImageDefaults
		setIf(&out.OCI, d.OCI)
		setIf(&out.SIF, d.SIF)
		setIf(&out.Arch, d.Arch)
		setIf(&out.User, d.User)
		setIf(&out.Home, d.Home)
		setIf(&out.UID, d.UID)
		setIf(&out.GID, d.GID)
	}
	return out
}

// setIf sets *dst to *src when a layer set src: a table merged key by key.
func setIf[T any](dst, src *T) {
	if src != nil {
		*dst = *src
	}
}
