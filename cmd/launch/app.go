package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "dev"

const description = `launch runs an AI coding agent (codex, claude, pi) or a shell in a container
that sees only the workspace (the current directory), the agent's credentials
and the network it is allowed. Docker, Podman and Singularity/Apptainer are
supported; --dry-run prints the equivalent commands instead of running them.

Everything after AGENT goes to the agent: "launch codex -h" is codex's help,
"launch -h codex" is this one. An optional "--" right after AGENT is dropped.
"launch shell CMD ARGS..." runs the command CMD ARGS... through bash -c,
quoted word by word; "launch shell 'SCRIPT'" (one argument) runs SCRIPT.

Settings come from, lowest first: the built-in agent catalogue, the user
config ($XDG_CONFIG_HOME/launch/config.toml, or --config FILE), the project
config (.launch.toml in the workspace), the environment (LAUNCH_BACKEND,
LLM_DEVCONTAINER_MOUNTS, LLM_DEVCONTAINER_CERTS) and the flags.

Examples:
   launch codex                                  # Codex on the current directory
   launch --dry-run claude                       # print the command, run nothing
   launch --backend docker --network none shell  # a shell with no network
   launch --mask .env --ro data claude           # hide .env, protect data/
   launch --env OPENAI_API_KEY --mount ~/ref:/ref:ro codex exec "summarise"
   launch --backend singularity --gpus auto shell -- nvidia-smi
   launch --memory 4g --cpus 2 codex             # bound what the agent can use
   launch --privileges image shell               # let the image's sudo work
   launch --json pi                              # print the resolved Plan
   launch --detach codex                         # start it and return; see launch ps

By default the agent has no capabilities, cannot gain privileges (setuid,
sudo) and may start at most 4096 processes, and launch refuses a workspace
that is or holds your home directory or a secret store (.ssh, .aws, ...);
see docs/security.md.

Exit status: the agent's own; 1 when you decline the confirmation; 2 for a
usage error (bad flag, path, config, an untrusted project file, a part of the
Plan the backend cannot enforce); 125 when launch or the engine fails;
126/127 when the command cannot run or is not found in the container;
128+N after signal N; 137 for an agent the kernel killed.

Sessions (docs/sessions.md): launch ps, attach, logs, stop, gc; launch help
SUBCOMMAND; launch help AGENT (its image, credentials, suggested allowlist);
launch completion bash|zsh|fish.`

// settingFlag is a flag that sets one key of Settings; its kind (string,
// list, bool) is the field's.
type settingFlag struct {
	key     string
	name    string // default: key with '_' as '-'
	usage   string
	aliases []string
}

func (s settingFlag) flagName() string {
	if s.name != "" {
		return s.name
	}
	return strings.ReplaceAll(s.key, "_", "-")
}

// settingFlags are the flags of the settings, in --help order.
var settingFlags = []settingFlag{
	{key: "backend", usage: "container backend: docker, podman or singularity (apptainer); default: podman on macOS, else singularity when apptainer/singularity is on PATH, else docker when its socket is there, else podman"},
	{key: "image", aliases: []string{"image-name"}, usage: "OCI image for docker/podman (default: ghcr.io/nichd-bspc/llm with the agent's tag)"},
	{key: "tag", usage: "image tag instead of the agent's default (codex-latest, claude-latest, pi-latest, latest); with --image, only for an image named without a tag"},
	{key: "arch", usage: "image architecture, as in linux/ARCH (default amd64 for the default image)"},
	{key: "sif_path", usage: "Singularity image: a .sif file, a sandbox directory, or an oras:// or docker:// reference"},
	{key: "workspace_mount", usage: "container path of the workspace (default: the same path as on the host)"},
	{key: "path_prepend", usage: "put a directory in front of the image's PATH in the container: relative to the workspace, or absolute under a mount (repeatable)"},
	{key: "conda_env", usage: "mount a conda environment (name or path) and put its bin first on PATH"},
	{key: "certs", usage: "PEM bundle of CA certificates, mounted read-only and named by SSL_CERT_FILE and friends, which replaces the trust store of the tools that read them: include the public roots, not only your CA (default $LLM_DEVCONTAINER_CERTS)"},
	{key: "env", usage: "set NAME=VALUE in the container, or pass the host's NAME by name (repeatable; wins over everything else)"},
	{key: "mounts", name: "mount", usage: "bind HOST[:CTR[:ro]] into the container; relative HOST is against the workspace (repeatable; $LLM_DEVCONTAINER_MOUNTS adds defaults)"},
	{key: "global_read_only", usage: "mount the workspace read-only"},
	{key: "git_dir_writable", usage: "when the workspace is a git worktree, mount its git directory (outside the workspace) writable, so that the agent can commit; all but its objects, refs, logs, index and HEAD stay read-only"},
	{key: "isolate", usage: "give the agent a copy of the workspace (with .git), not the workspace: afterwards what it left comes back as the git branch launch/SESSION (your working tree and index untouched), or as a new directory next to a workspace that is not a git repository (docs/agents.md)"},
	{key: "isolate_max", usage: "refuse --isolate for a workspace larger than this, such as 500M or 20G, or 0 for no limit (default 2G)"},
	{key: "ro", usage: "re-mount a path inside the workspace read-only (repeatable)"},
	{key: "mask", usage: "hide a path inside the workspace behind an empty read-only directory or file (repeatable)"},
	{key: "network", usage: "network policy: open, none, or allow=HOST[:PORT],... (*.NAME for the names under NAME, @AGENT for an agent's suggested list; only those hosts, by name, through launch's proxy, see --network-via) (default open)"},
	{key: "network_via", usage: "how --network allow=... is enforced: socket (launch's proxy on the host, through a Unix socket shared with the container; Linux) or sidecar (the proxy in a container of its own, the agent on an internal network; docker) (default: socket on Linux, sidecar on macOS)"},
	{key: "publish", usage: "serve the container's TCP port CTRPORT on the host's HOSTPORT, on 127.0.0.1 unless IP names another address: [IP:]HOSTPORT:CTRPORT (repeatable; needs --network open; with apptainer the agent's ports are the host's own, so HOSTPORT is CTRPORT)"},
	{key: "runtime", usage: "OCI runtime: runc or runsc (gVisor); docker and podman only"},
	{key: "gpus", usage: "GPUs: none, all, auto (all when CUDA_VISIBLE_DEVICES or a Slurm GPU allocation is set), or ids such as 0,1"},
	{key: "pull", usage: "when to fetch the image: missing, always or never (default: missing for launch's own default image, never for an image you name)"},
	{key: "privileges", usage: "least (the default: no capabilities, and setuid or sudo cannot raise privileges) or image (run the image as it intends: the engine's default capabilities, sudo works)"},
	{key: "cap_add", usage: "keep a Linux capability, by name (NET_BIND_SERVICE, CAP_CHOWN; repeatable)"},
	{key: "memory", usage: "memory limit of the container, such as 512m or 4g; past it the agent is killed (exit 137) (default: none)"},
	{key: "cpus", usage: "CPU limit of the container, such as 2 or 0.5 (default: none)"},
	{key: "pids", usage: "most processes and threads in the container at once (at least 16), or none (or 0) for no limit (default: 4096)"},
	{key: "allow_secrets", usage: "allow a workspace that is or holds your home directory, or holds a secret store (.ssh, .aws, .gnupg, ...); the plan names what it exposes"},
	{key: "podman_url", name: "url", usage: "the Podman service to use: unix:///path.sock, ssh://user@host[:port]/path.sock (key from $CONTAINER_SSHKEY) or tcp://host:port, as podman --url; default $CONTAINER_HOST, $CONTAINER_CONNECTION, the default connection, then the local sockets"},
	{key: "singularity_bin", usage: "apptainer or singularity binary to use (default: apptainer, then singularity, on PATH)"},
	{key: "yes", aliases: []string{"y"}, usage: "launch without asking for confirmation"},
}

// flagState is where the CLI's flags land: the raw text of each setting
// flag, parsed by Settings.setText once the command line is read, and the
// flags that are not settings.
type flagState struct {
	text  map[string]*string
	lists map[string]*[]string
	bools map[string]*bool

	config                string
	dryRun, verbose, json bool
	slurm                 bool
	slurmArgs             string
	detach                bool
	prompt                string
	skills                []string
	resume                string
	sshHosts              []string
	sshAgent              bool
	// login is set by launch login: the launch runs the agent's login.
	login *loginRequest
}

// flagFor is the flag that sets key, if any.
func (f *flagState) flagFor(key string) (string, bool) {
	for _, sf := range settingFlags {
		if sf.key == key {
			return sf.flagName(), true
		}
	}
	return "", false
}

// settings parses the setting flags the user gave into a layer; an error
// names the flag and the value.
func (f *flagState) settings(cmd *cli.Command) (*Settings, error) {
	var s Settings
	for _, sf := range settingFlags {
		name := sf.flagName()
		if !cmd.IsSet(name) {
			continue
		}
		var values []string
		switch {
		case f.text[sf.key] != nil:
			values = []string{*f.text[sf.key]}
		case f.lists[sf.key] != nil:
			values = *f.lists[sf.key]
		case f.bools[sf.key] != nil:
			values = []string{strconv.FormatBool(*f.bools[sf.key])}
		}
		for _, v := range values {
			if err := s.setText(sf.key, v); err != nil {
				return nil, usagef("--%s: %w", name, err)
			}
		}
	}
	return &s, nil
}

// cliFlags builds the CLI flags into f.
func (f *flagState) cliFlags() []cli.Flag {
	f.text, f.lists, f.bools = map[string]*string{}, map[string]*[]string{}, map[string]*bool{}
	settingsType := reflect.TypeFor[Settings]()
	var out []cli.Flag
	for _, sf := range settingFlags {
		name := sf.flagName()
		switch settingsType.Field(fieldByKey()[sf.key]).Type.Kind() {
		case reflect.Slice:
			f.lists[sf.key] = new([]string)
			out = append(out, &cli.StringSliceFlag{Name: name, Aliases: sf.aliases, Usage: sf.usage, Destination: f.lists[sf.key]})
		case reflect.Bool:
			f.bools[sf.key] = new(bool)
			out = append(out, &cli.BoolFlag{Name: name, Aliases: sf.aliases, Usage: sf.usage, Destination: f.bools[sf.key]})
		default:
			f.text[sf.key] = new(string)
			out = append(out, &cli.StringFlag{Name: name, Aliases: sf.aliases, Usage: sf.usage, Destination: f.text[sf.key]})
		}
	}
	out = append(out,
		&cli.StringFlag{Name: "config", Destination: &f.config, Usage: "user config file instead of $XDG_CONFIG_HOME/launch/config.toml"},
		&cli.StringFlag{Name: "prompt", Destination: &f.prompt, Usage: "give the agent the system prompt in FILE (instead of the agent's prompt or prompt_file in the config); a private copy is mounted read-only and named the agent's own way (docs/agents.md)"},
		&cli.StringSliceFlag{Name: "skill", Destination: &f.skills, Usage: "give the agent the skill NAME, from the project's or your skills directory (.claude/skills/NAME, ~/.claude/skills/NAME for claude), mounted read-only (repeatable)"},
		&cli.StringSliceFlag{Name: "ssh-host", Destination: &f.sshHosts, Usage: "let the agent reach HOST over SSH: its entry of your ~/.ssh/config, its known_hosts lines and its keys, read-only, and nothing else of ~/.ssh (repeatable; ssh_hosts in the config)"},
		&cli.BoolFlag{Name: "ssh-agent", Destination: &f.sshAgent, Usage: "with SSH hosts: forward your SSH agent ($SSH_AUTH_SOCK) instead of mounting the hosts' key files"},
		&cli.StringFlag{Name: "resume", Destination: &f.resume, Usage: "with --isolate: go on with the copy that the interrupted session SESSION kept, instead of a new copy"},
		&cli.BoolFlag{Name: "dry-run", Destination: &f.dryRun, Usage: "print the commands that would run (stdout: they decide -t when they run, so that launch --dry-run AGENT | sh is interactive in a terminal) and notes (stderr); run and create nothing"},
		&cli.BoolFlag{Name: "json", Destination: &f.json, Usage: "check everything a real run checks, then print the backend and the resolved Plan as JSON; run nothing (inherited values are shown by name only)"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Destination: &f.verbose, Usage: "explain what was mounted, skipped and why"},
		&cli.BoolFlag{Name: "slurm", Destination: &f.slurm, Usage: "run in a Slurm allocation: srun (--pty on a terminal) runs launch again there; [slurm] in the config sets partition, time, cpus, mem, gres, account; --slurm=ARGS adds srun options"},
		&cli.StringFlag{Name: "slurm-args", Destination: &f.slurmArgs, Usage: "more srun options, shell-quoted (implies --slurm; same as --slurm=ARGS)"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Destination: &f.detach, Usage: "start the session and return, printing its name (Docker, Podman): launch attach, logs, stop NAME; with --slurm: submit the launch as a batch job (sbatch) whose output goes to a log under $XDG_STATE_HOME/launch/slurm"},
	)
	return localFlags(out)
}

// localFlags marks the launch flags local to the root command: the cli
// package would otherwise add every one to each subcommand's flags and
// help. Given before a subcommand they are still parsed, and the commands
// that use them (doctor) read them from the root (cmd.IsSet looks there).
func localFlags(flags []cli.Flag) []cli.Flag {
	for _, fl := range flags {
		switch fl := fl.(type) {
		case *cli.StringFlag:
			fl.Local = true
		case *cli.StringSliceFlag:
			fl.Local = true
		case *cli.BoolFlag:
			fl.Local = true
		default:
			panic(fmt.Sprintf("launch flag %s of type %T: mark it local", fl.Names()[0], fl))
		}
	}
	return flags
}

// usageError is a command line the cli package refused (an unknown flag,
// a flag without its value): the message names the command and says
// where its usage is. Every error the package hands to OnUsageError is
// one, whatever its text.
type usageError struct {
	cmd string // "launch", "launch ps"
	err error
}

func (e usageError) Error() string {
	return fmt.Sprintf("%s: %v\nRun '%s --help' for usage.", e.cmd, e.err, e.cmd)
}

func (e usageError) Unwrap() []error { return []error{e.err, errUsage} }

// onUsageError makes the cli package's usage errors usageErrors, for cmd
// and every command under it: without it the package prints the error,
// the whole help, and returns the error to be printed again.
func onUsageError(cmd *cli.Command) {
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = func(_ context.Context, c *cli.Command, err error, _ bool) error {
			return usageError{cmd: c.FullName(), err: err}
		}
	}
	for _, sub := range cmd.Commands {
		onUsageError(sub)
	}
}

// newApp builds the CLI. run is called once flags are parsed; tests pass
// their own to capture them.
func newApp(s iostreams.Streams, h *Host, run func(ctx context.Context, f *flagState, cmd *cli.Command) error) *cli.Command {
	f := &flagState{}
	stop := 1
	app := &cli.Command{
		Name:                  "launch",
		Usage:                 "run an AI coding agent in a container that sees only what it needs",
		UsageText:             "launch [flags] AGENT [agent args...]\n\nAGENT: codex, claude, pi, shell, or one defined in a config file",
		Description:           description,
		Version:               version,
		Writer:                s.Out,
		ErrWriter:             s.Err,
		EnableShellCompletion: true,
		ShellComplete:         completeAgents(h),
		ConfigureShellCompletionCommand: func(c *cli.Command) {
			c.Hidden = false
			c.Usage = "print the shell completion script: launch completion bash|zsh|fish|pwsh"
		},
		DisableSliceFlagSeparator: true,
		StopOnNthArg:              &stop,
		Suggest:                   true,
		// main chooses exit codes; the library must never exit.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Flags:          f.cliFlags(),
		Commands: []*cli.Command{trustCommand(s, h), batchCommand(s, h), refreshCommand(s, h), credsCommand(s, h), doctorCommand(s, h, f), proxyCommand(s, h),
			loginCommand(f, run), psCommand(s, h), attachCommand(s, h), stopCommand(s, h), logsCommand(s, h), gcCommand(s, h), helpCommand(h, f), watchCommand(s, h), superviseCommand(h)},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() == 0 {
				return usagef("no AGENT given; try launch codex, launch claude, launch pi or launch shell")
			}
			return run(ctx, f, cmd)
		},
	}
	onUsageError(app)
	return app
}

// agentWords are the agent and its arguments as the user typed them, from
// launch's own argv: the parser takes a "--" after the agent for itself,
// and the help promises that only one is dropped. positional is what the
// parser found, used when argv does not show the agent (tests).
func agentWords(positional, argv []string, takes map[string]bool) []string {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			return positional
		case !strings.HasPrefix(a, "-") || a == "-":
			if len(positional) > 0 && a == positional[0] {
				return argv[i:]
			}
			return positional
		case !strings.Contains(a, "=") && takes[strings.TrimLeft(a, "-")]:
			i++ // the flag's value
		}
	}
	return positional
}

// agentArgs splits the positional arguments into the agent and its
// arguments, dropping an optional "--" right after the agent.
func agentArgs(args []string) (string, []string) {
	if len(args) == 0 {
		return "", nil // launch doctor: no agent to run
	}
	name, rest := args[0], args[1:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	return name, rest
}

// exitError carries the agent's exit code to main.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode maps an error from the app to the process exit code: 0, the
// agent's own code, 128+N when signal N interrupted the launch, 2 for usage
// errors, 125 for launch's own failures (as docker run does).
func exitCode(err error) int {
	var ee exitError
	var se signalError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &se):
		return 128 + int(se.sig)
	case errors.Is(err, errUsage):
		return 2
	}
	return 125
}
