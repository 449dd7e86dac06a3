package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/launchcli/launch/creds"
)

//go:embed agents.toml
var builtinTOML string

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
	// Settings are the agent's settings under its credential paths that
	// its native runs on the host read as commands: read-only inside.
	Settings []creds.Path `toml:"settings"`

	// Privileges and limits of this agent: they win over the top-level
	// keys of every config file, and flags win over them.
	Privileges *privilegeMode `toml:"privileges"`
	CapAdd     []capability   `toml:"cap_add"`
	Memory     *memorySetting `toml:"memory"`
	CPUs       *cpusSetting   `toml:"cpus"`
	PIDs       *pidsSetting   `toml:"pids"`

	// What the agent is given (docs/agents.md): its system prompt, as
	// text or a file, and how the agent takes one; its skills, and where
	// the agent looks for them.
	Prompt         *string  `toml:"prompt"`
	PromptFile     *string  `toml:"prompt_file"`
	PromptArgs     []string `toml:"prompt_args"`
	PromptReplaces *bool    `toml:"prompt_replaces"`
	Skills         []string `toml:"skills"`
	SkillsHome     *string  `toml:"skills_home"`
	SkillsProject  *string  `toml:"skills_project"`
	SkillManifest  *string  `toml:"skill_manifest"`
	SSHHosts       []string `toml:"ssh_hosts"`
	SSHAgent       *bool    `toml:"ssh_agent"`
	// NetworkAllow is the agent's suggested allowlist (HOST[:PORT] each),
	// used only when a policy names it: --network allow=@codex.
	NetworkAllow []string `toml:"network_allow"`
	// Login is the agent's own login command (launch login AGENT); LoginPort
	// the port on the container's 127.0.0.1 its browser callback listens on
	// (0: a login without a callback).
	Login     []string `toml:"login"`
	LoginPort *int     `toml:"login_port"`
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
	// Settings are the files and directories under the credential paths
	// that name commands the agent's native runs on the host run (hooks,
	// notify, MCP servers, extensions): mounted read-only inside.
	Settings []creds.Path
	// Privileges, CapAdd and the limits are the agent's own settings
	// ([agents.NAME] privileges, cap_add, memory, cpus, pids); nil or
	// empty when no layer set them.
	Privileges *privilegeMode
	CapAdd     []capability
	Memory     *memorySetting
	CPUs       *cpusSetting
	PIDs       *pidsSetting
	// Prompt and PromptFile are the agent's system prompt (at most one is
	// set, by the last layer that set either); PromptArgs the arguments
	// that give the agent a prompt file, "{file}" standing for its path
	// (empty: the agent takes none); PromptReplaces says the prompt
	// replaces the agent's built-in instructions rather than adding to
	// them.
	Prompt, PromptFile *string
	PromptArgs         []string
	PromptReplaces     bool
	// Skills are the skill names asked for; SkillsHome (relative to the
	// home, on the host and in the container) and SkillsProject (relative
	// to the workspace) where the agent looks for them; SkillManifest the
	// file every skill directory holds.
	Skills                                   []string
	SkillsHome, SkillsProject, SkillManifest string
	// SSHHosts are the hosts the agent may reach over SSH; SSHAgent
	// forwards the caller's SSH agent instead of mounting their keys.
	SSHHosts []string
	SSHAgent bool
	// NetworkAllow is the suggested allowlist (network_allow).
	NetworkAllow []string
	// Login and LoginPort are the agent's login command and its callback
	// port (login, login_port); empty and 0 when it has none.
	Login     []string
	LoginPort int
}

// layer is a decoded config file and where it came from.
type layer struct {
	file    string // "built-in catalogue" for the embedded one
	project bool   // the workspace's .launch.toml
	cfg     Settings
	md      toml.MetaData
	text    string
	// ignored are keys the layer sets that do not apply (user-only keys in
	// a project file); warnings say so.
	ignored  map[string]bool
	warnings []string
	// reviewed maps each host path a project file names (expanded) to
	// where its links led when the file was reviewed ("" when it did not
	// exist), so that what is mounted or read is what was judged.
	reviewed map[string]string
}

// defined reports whether the layer's file sets key, and where.
func (l layer) defined(key string) (origin, bool) {
	if !l.md.IsDefined(key) || l.ignored[key] {
		return origin{}, false
	}
	return origin{file: l.file, line: keyLine(l.text, toml.Key{key}), key: key, project: l.project}, true
}

// decodeConfig decodes one config file's text. Unknown keys and type errors
// are reported with the file, the key and the line.
func decodeConfig(name, text string) (layer, error) {
	l := layer{file: name, text: text}
	md, err := toml.Decode(text, &l.cfg)
	if err != nil {
		return layer{}, configError(name, err)
	}
	l.md = md
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return layer{}, usagef("%s: line %d: unknown key %q; see docs/config.md for the keys", name, keyLine(text, k), k.String())
	}
	for n, a := range l.cfg.AgentTables {
		if !validAgentName(n) {
			return layer{}, usagef("%s: agent name %q: want lower-case letters, digits and '-'", name, n)
		}
		if subcommands[n] {
			return layer{}, usagef("%s: agent name %q: taken by the command launch %s; choose another name", name, n, n)
		}
		for _, p := range append(append([]creds.Path{}, a.Credentials...), a.Settings...) {
			if err := p.Validate(); err != nil {
				return layer{}, usagef("%s: [agents.%s]: %w", name, n, err)
			}
		}
		if err := checkAgentContext(a); err != nil {
			return layer{}, usagef("%s: [agents.%s]: %w", name, n, err)
		}
	}
	return l, nil
}

// typeError is how the TOML decoder reports a value of the wrong type.
var typeError = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): incompatible types: TOML value has type ([^;]+); destination has type (.+)$`)
})

// configError rewords a decoding error in the user's words: file, line,
// key, and what was wanted.
func configError(name string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if pe.LastKey != "" && pe.Message != "" && !strings.HasPrefix(pe.Message, "expected") {
			return usagef("%s: line %d: %s: %s", name, pe.Position.Line, pe.LastKey, pe.Message)
		}
		return usagef("%s: line %d: %s", name, pe.Position.Line, pe.Message)
	}
	if m := typeError().FindStringSubmatch(err.Error()); m != nil {
		return usagef("%s: line %s: %s: want %s, not %s", name, m[1], m[2], kindWord(m[4]), kindWord(m[3]))
	}
	return usagef("%s: %s", name, strings.TrimPrefix(err.Error(), "toml: "))
}

// kindWord names a TOML or Go type as a user would.
func kindWord(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"), strings.HasPrefix(t, "slice"), t == "array":
		return "a list"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "struct"), t == "table", strings.HasPrefix(t, "main."):
		return "a table"
	case strings.Contains(t, "int"), t == "integer":
		return "a whole number"
	case strings.Contains(t, "float"):
		return "a number"
	case strings.Contains(t, "bool"):
		return "true or false"
	}
	return "a string"
}

var agentNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`) })

func validAgentName(n string) bool { return agentNameRE().MatchString(n) }

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
	layers := []layer{builtin}

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
		b, err := readConfig(h, f.path)
		if errors.Is(err, os.ErrNotExist) && !f.required {
			continue
		}
		if err != nil {
			return nil, usagef("config %q: %w", f.path, err)
		}
		l, err := decodeConfig(f.path, string(b))
		if err != nil {
			return nil, err
		}
		l.project = f.project
		if l.project {
			if err := reviewProject(&l, layers, h); err != nil {
				return nil, err
			}
		}
		layers = append(layers, l)
	}
	return layers, nil
}

// maxConfig caps the size of a config file. A .launch.toml comes with the
// repository: one that is a link to /dev/zero, or a huge file, must not
// run launch out of memory.
const maxConfig = 1 << 20

// readConfig reads a config file that must be a regular file (after its
// links) of at most maxConfig bytes. Where the host can open files, what
// is read is the very file that was checked, never more than the cap.
func readConfig(h *Host, path string) ([]byte, error) {
	fi, err := h.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := configFileOK(fi); err != nil {
		return nil, err
	}
	if h.Open == nil {
		b, err := h.ReadFile(path)
		if err == nil && len(b) > maxConfig {
			err = errTooLarge
		}
		return b, err
	}
	f, err := h.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := configFileOK(fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfig+1))
	if err == nil && len(b) > maxConfig {
		err = errTooLarge
	}
	return b, err
}

var errTooLarge = fmt.Errorf("larger than %d KiB; a config file is a few lines of TOML", maxConfig>>10)

// configFileOK accepts a regular file no larger than maxConfig.
func configFileOK(fi fs.FileInfo) error {
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s, not a regular file; a config file must be one (remove or replace it)", fileKind(fi.Mode()))
	case fi.Size() > maxConfig:
		return errTooLarge
	}
	return nil
}

// fileKind names what a path that is not a regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// catalogue merges the agents of all layers: a later layer overrides an
// earlier one key by key.
func catalogue(layers []layer) map[string]agent {
	out := map[string]agent{}
	for _, l := range layers {
		for name, c := range l.cfg.AgentTables {
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
			if c.Settings != nil {
				a.Settings = c.Settings
			}
			setGiven(&a.Privileges, c.Privileges)
			setGiven(&a.Memory, c.Memory)
			setGiven(&a.CPUs, c.CPUs)
			setGiven(&a.PIDs, c.PIDs)
			a.CapAdd = append(a.CapAdd, c.CapAdd...)
			if c.Prompt != nil || c.PromptFile != nil {
				a.Prompt, a.PromptFile = c.Prompt, c.PromptFile
			}
			if c.PromptArgs != nil {
				a.PromptArgs = c.PromptArgs
			}
			setIf(&a.PromptReplaces, c.PromptReplaces)
			a.Skills = append(a.Skills, c.Skills...)
			setIf(&a.SkillsHome, c.SkillsHome)
			setIf(&a.SkillsProject, c.SkillsProject)
			setIf(&a.SkillManifest, c.SkillManifest)
			a.SSHHosts = append(a.SSHHosts, c.SSHHosts...)
			setIf(&a.SSHAgent, c.SSHAgent)
			if c.NetworkAllow != nil {
				a.NetworkAllow = c.NetworkAllow
			}
			if c.Login != nil {
				a.Login = c.Login
			}
			setIf(&a.LoginPort, c.LoginPort)
			out[name] = a
		}
	}
	return out
}

// setGiven replaces *dst with src when a layer gave it.
func setGiven[T any](dst **T, src *T) {
	if src != nil {
		*dst = src
	}
}
