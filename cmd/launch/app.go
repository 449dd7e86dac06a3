package main

import (
	"context"
	"errors"
	"fmt"
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
   launch --json pi                              # print the resolved Plan`

// flagState is where the CLI's flags land.
type flagState struct {
	backend, image, tag, arch, sifPath, workspaceMount, condaEnv, certs string
	network, runtime, gpus, pull, config, singularityBin                string
	pathPrepend, env, mount, ro, mask                                   []string
	globalReadOnly, dryRun, verbose, json, yes                          bool
}

// newApp builds the CLI. run is called with the merged options once flags
// are parsed; tests pass their own to capture the options.
func newApp(s iostreams.Streams, run func(ctx context.Context, f *flagState, cmd *cli.Command) error) *cli.Command {
	f := &flagState{}
	stop := 1
	str := func(name string, dst *string, usage string, aliases ...string) *cli.StringFlag {
		return &cli.StringFlag{Name: name, Destination: dst, Usage: usage, Aliases: aliases}
	}
	list := func(name string, dst *[]string, usage string) *cli.StringSliceFlag {
		return &cli.StringSliceFlag{Name: name, Destination: dst, Usage: usage}
	}
	boolean := func(name string, dst *bool, usage string, aliases ...string) *cli.BoolFlag {
		return &cli.BoolFlag{Name: name, Destination: dst, Usage: usage, Aliases: aliases}
	}
	return &cli.Command{
		Name:                      "launch",
		Usage:                     "run an AI coding agent in a container that sees only what it needs",
		UsageText:                 "launch [flags] AGENT [agent args...]\n\nAGENT: codex, claude, pi, shell, or one defined in a config file",
		Description:               description,
		Version:                   version,
		Writer:                    s.Out,
		ErrWriter:                 s.Err,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		StopOnNthArg:              &stop,
		Suggest:                   true,
		// main chooses exit codes; the library must never exit.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return usagef("%v (see launch --help)", err)
		},
		Flags: []cli.Flag{
			str("backend", &f.backend, "container backend: docker, podman or singularity (apptainer); default: podman on macOS, else singularity when apptainer/singularity is on PATH, else docker"),
			str("image", &f.image, "OCI image for docker/podman (default: ghcr.io/nichd-bspc/llm with the agent's tag)", "image-name"),
			str("tag", &f.tag, "image tag instead of the agent's default (codex-latest, claude-latest, pi-latest, latest)"),
			str("arch", &f.arch, "image architecture, as in linux/ARCH (default amd64 for the default image)"),
			str("sif-path", &f.sifPath, "Singularity image: a .sif file, a sandbox directory, or an oras:// or docker:// reference"),
			str("workspace-mount", &f.workspaceMount, "container path of the workspace (default: the same path as on the host)"),
			list("path-prepend", &f.pathPrepend, "prepend a directory to PATH in the container: relative to the workspace, or absolute under a mount (repeatable)"),
			str("conda-env", &f.condaEnv, "mount a conda environment (name or path) and put its bin first on PATH"),
			str("certs", &f.certs, "PEM bundle of extra CA certificates, mounted read-only and named by SSL_CERT_FILE and friends (default $LLM_DEVCONTAINER_CERTS)"),
			list("env", &f.env, "set NAME=VALUE in the container, or pass the host's NAME by name (repeatable; wins over everything else)"),
			list("mount", &f.mount, "bind HOST[:CTR[:ro]] into the container; relative HOST is against the workspace (repeatable; $LLM_DEVCONTAINER_MOUNTS adds defaults)"),
			boolean("global-read-only", &f.globalReadOnly, "mount the workspace read-only"),
			list("ro", &f.ro, "re-mount a path inside the workspace read-only (repeatable)"),
			list("mask", &f.mask, "hide a path inside the workspace behind an empty read-only directory or file (repeatable)"),
			str("network", &f.network, "network policy: open, none, or allow=HOST[:PORT],... (default open)"),
			str("runtime", &f.runtime, "OCI runtime: runc or runsc (gVisor); docker and podman only"),
			str("gpus", &f.gpus, "GPUs: none, all, auto (all when CUDA_VISIBLE_DEVICES or a Slurm GPU allocation is set), or ids such as 0,1"),
			str("pull", &f.pull, "when to fetch the image: missing, always or never (default missing; only the default image is fetched unasked)"),
			str("singularity-bin", &f.singularityBin, "apptainer or singularity binary to use (default: apptainer, then singularity, on PATH)"),
			str("config", &f.config, "user config file instead of $XDG_CONFIG_HOME/launch/config.toml"),
			boolean("dry-run", &f.dryRun, "print the commands that would run (stdout) and notes (stderr); run and create nothing"),
			boolean("json", &f.json, "print the resolved Plan as JSON and run nothing (inherited values are shown by name only)"),
			boolean("yes", &f.yes, "launch without asking for confirmation", "y"),
			boolean("verbose", &f.verbose, "explain what was mounted, skipped and why", "v"),
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() == 0 {
				return usagef("no AGENT given; try launch codex, launch claude, launch pi or launch shell")
			}
			return run(ctx, f, cmd)
		},
	}
}

// agentArgs splits the positional arguments into the agent and its
// arguments, dropping an optional "--" right after the agent.
func agentArgs(args []string) (string, []string) {
	name, rest := args[0], args[1:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	return name, rest
}

// buildOptions merges config layers, the environment and the flags.
func buildOptions(h *Host, f *flagState, cmd *cli.Command) (*options, error) {
	layers, err := loadLayers(h, f.config)
	if err != nil {
		return nil, usagef("%v", strings.TrimSuffix(err.Error(), ": "+ErrConfig.Error()))
	}
	o := &options{}
	if err := o.mergeLayers(layers); err != nil {
		return nil, usagef("%v", err)
	}
	if err := o.mergeEnv(h); err != nil {
		return nil, usagef("%v", err)
	}
	set := func(name string, dst *string, v string) {
		if cmd.IsSet(name) {
			*dst = v
		}
	}
	set("backend", &o.Backend, f.backend)
	set("image", &o.Image, f.image)
	set("tag", &o.Tag, f.tag)
	set("arch", &o.Arch, f.arch)
	set("sif-path", &o.SIFPath, f.sifPath)
	set("workspace-mount", &o.WorkspaceMount, f.workspaceMount)
	set("conda-env", &o.CondaEnv, f.condaEnv)
	set("certs", &o.Certs, f.certs)
	set("network", &o.Network, f.network)
	set("runtime", &o.Runtime, f.runtime)
	set("gpus", &o.GPUs, f.gpus)
	set("pull", &o.Pull, f.pull)
	set("singularity-bin", &o.SingularityBin, f.singularityBin)
	if cmd.IsSet("global-read-only") {
		o.GlobalReadOnly = f.globalReadOnly
	}
	if cmd.IsSet("yes") {
		o.Yes = f.yes
	}
	o.PathPrepend = append(o.PathPrepend, f.pathPrepend...)
	o.Env = append(o.Env, f.env...)
	o.RO = append(o.RO, f.ro...)
	o.Mask = append(o.Mask, f.mask...)
	for _, s := range f.mount {
		sp, err := parseMountFlag(s)
		if err != nil {
			return nil, err
		}
		o.Mounts = append(o.Mounts, sp)
	}
	o.DryRun, o.JSON, o.Verbose = f.dryRun, f.json, f.verbose
	o.Agent, o.Args = agentArgs(cmd.Args().Slice())
	return o, nil
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
