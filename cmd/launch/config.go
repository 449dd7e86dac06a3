package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/launchcli/launch/creds"
)

//go:embed agents.toml
var builtinTOML string

// fileConfig is one config file: the built-in catalogue, the user's
// $XDG_CONFIG_HOME/launch/config.toml or a project's .launch.toml. Pointer
// fields are unset when the file does not name them.
type fileConfig struct {
	Backend        *string  `toml:"backend"`
	Image          *string  `toml:"image"`
	Tag            *string  `toml:"tag"`
	Arch           *string  `toml:"arch"`
	SIFPath        *string  `toml:"sif_path"`
	WorkspaceMount *string  `toml:"workspace_mount"`
	PathPrepend    []string `toml:"path_prepend"`
	CondaEnv       *string  `toml:"conda_env"`
	Certs          *string  `toml:"certs"`
	Env            []string `toml:"env"`
	Mounts         []string `toml:"mounts"`
	GlobalReadOnly *bool    `toml:"global_read_only"`
	RO             []string `toml:"ro"`
	Mask           []string `toml:"mask"`
	Network        *string  `toml:"network"`
	Runtime        *string  `toml:"runtime"`
	GPUs           *string  `toml:"gpus"`
	Pull           *string  `toml:"pull"`
	Yes            *bool    `toml:"yes"`
	SingularityBin *string  `toml:"singularity_bin"`
	NvCCLI         *bool    `toml:"singularity_nvccli"`
	PodmanRootful  *bool    `toml:"podman_rootful"`

	Defaults imageDefaults          `toml:"image_defaults"`
	Agents   map[string]agentConfig `toml:"agents"`
}

// imageDefaults are the default images and the image's user.
type imageDefaults struct {
	OCI  *string `toml:"oci"`
	SIF  *string `toml:"sif"`
	Arch *string `toml:"arch"`
	User *string `toml:"user"`
	UID  *int    `toml:"uid"`
	GID  *int    `toml:"gid"`
	Home *string `toml:"home"`
}

// agentConfig is one [agents.NAME] table; unset fields keep the value of a
// lower layer.
type agentConfig struct {
	Command       []string     `toml:"command"`
	Shell         *bool        `toml:"shell"`
	Tag           *string      `toml:"tag"`
	EnvPrefixes   []string     `toml:"env_prefixes"`
	BedrockSwitch []string     `toml:"bedrock_switch"`
	Credentials   []creds.Path `toml:"credentials"`
}

// agent is a resolved catalogue entry.
type agent struct {
	Name string
	// Command is argv of the agent; user arguments are appended.
	Command []string
	// Shell agents run their arguments as one "bash -c" script.
	Shell bool
	// Tag is the default image tag for this agent.
	Tag string
	// EnvPrefixes: host variables starting with one of these are passed.
	EnvPrefixes []string
	// BedrockSwitch: when one of these host variables is "1", Bedrock is on.
	BedrockSwitch []string
	Credentials   []creds.Path
}

// layer is a decoded config file and where it came from.
type layer struct {
	file    string // "" for the built-in catalogue
	project bool   // the workspace's .launch.toml
	cfg     fileConfig
}

// ErrConfig is wrapped by every config file error; it is a usage error.
var ErrConfig = errors.New("config error")

// decodeConfig decodes one config file's text. Unknown keys and type errors
// are reported with the file, the key and the line.
func decodeConfig(name, text string) (fileConfig, error) {
	var c fileConfig
	md, err := toml.Decode(text, &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fileConfig{}, fmt.Errorf("%s: line %d: %s: %w", name, pe.Position.Line, pe.Message, ErrConfig)
		}
		return fileConfig{}, fmt.Errorf("%s: %s: %w", name, strings.TrimPrefix(err.Error(), "toml: "), ErrConfig)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return fileConfig{}, fmt.Errorf("%s: line %d: unknown key %q; see docs/config.md for the keys: %w", name, keyLine(text, k), k.String(), ErrConfig)
	}
	for n, a := range c.Agents {
		if !validAgentName(n) {
			return fileConfig{}, fmt.Errorf("%s: agent name %q: want lower-case letters, digits and '-': %w", name, n, ErrConfig)
		}
		for _, p := range a.Credentials {
			if err := p.Validate(); err != nil {
				return fileConfig{}, fmt.Errorf("%s: [agents.%s]: %v: %w", name, n, err, ErrConfig)
			}
		}
	}
	return c, nil
}

var agentNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func validAgentName(n string) bool { return agentNameRE.MatchString(n) }

// keyLine finds the line where the last part of key is defined, as a key or
// a table header; 0 when it cannot be found.
func keyLine(text string, k toml.Key) int {
	last := regexp.QuoteMeta(k[len(k)-1])
	re := regexp.MustCompile(`^\s*(\[+\s*)?([A-Za-z0-9_.\-"' ]*\.)?\s*"?` + last + `"?\s*(=|\]|\.)`)
	for i, line := range strings.Split(text, "\n") {
		if re.MatchString(line) {
			return i + 1
		}
	}
	return 0
}

// loadLayers reads the built-in catalogue, the user config and the project
// config, in that order. A missing file is no error; --config FILE replaces
// the user config and must exist.
func loadLayers(h *Host, configFlag string) ([]layer, error) {
	builtin, err := decodeConfig("built-in catalogue", builtinTOML)
	if err != nil {
		panic(err) // the embedded catalogue is tested
	}
	layers := []layer{{cfg: builtin}}

	userFile := configFlag
	if userFile == "" {
		dir := h.Getenv("XDG_CONFIG_HOME")
		if dir == "" {
			dir = filepath.Join(h.Home, ".config")
		}
		userFile = filepath.Join(dir, "launch", "config.toml")
	}
	for _, f := range []struct {
		path              string
		required, project bool
	}{{userFile, configFlag != "", false}, {filepath.Join(h.Cwd, ".launch.toml"), false, true}} {
		b, err := h.ReadFile(f.path)
		if errors.Is(err, os.ErrNotExist) && !f.required {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("config %q: %w (%w)", f.path, err, ErrConfig)
		}
		c, err := decodeConfig(f.path, string(b))
		if err != nil {
			return nil, err
		}
		layers = append(layers, layer{file: f.path, project: f.project, cfg: c})
	}
	return layers, nil
}

// catalogue merges the agents of all layers: a later layer overrides an
// earlier one key by key.
func catalogue(layers []layer) map[string]agent {
	out := map[string]agent{}
	for _, l := range layers {
		for name, c := range l.cfg.Agents {
			a := out[name]
			a.Name = name
			if c.Command != nil {
				a.Command = c.Command
			}
			if c.Shell != nil {
				a.Shell = *c.Shell
			}
			if c.Tag != nil {
				a.Tag = *c.Tag
			}
			if c.EnvPrefixes != nil {
				a.EnvPrefixes = c.EnvPrefixes
			}
			if c.BedrockSwitch != nil {
				a.BedrockSwitch = c.BedrockSwitch
			}
			if c.Credentials != nil {
				a.Credentials = c.Credentials
			}
			out[name] = a
		}
	}
	return out
}
