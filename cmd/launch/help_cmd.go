package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"
)

// helpCommand is "launch help [COMMAND|AGENT]": launch's help, a
// subcommand's, or an agent's entry of the catalogue (the built-in one and
// the user's config; a project's .launch.toml is left out, as it may not
// be trusted).
func helpCommand(h *Host, f *flagState) *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show this help, a subcommand's (launch help ps), or an agent's entry of the catalogue (launch help codex)",
		UsageText: "launch help [COMMAND|AGENT]",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			root := cmd.Root()
			name := cmd.Args().First()
			if cmd.Args().Len() > 1 {
				return usagef("launch help takes one COMMAND or AGENT (see launch help)")
			}
			if name == "" {
				return cli.ShowRootCommandHelp(root)
			}
			if c := root.Command(name); c != nil && !c.Hidden {
				return cli.ShowCommandHelp(ctx, root, name)
			}
			layers, err := userLayers(h, f.config)
			if err != nil {
				return err
			}
			agents := catalogue(layers)
			a, ok := agents[name]
			if !ok {
				return usagef("help %q: no such command or agent; commands: %s; agents: %s", name,
					strings.Join(visibleCommands(root), ", "), strings.Join(sortedKeys(agents), ", "))
			}
			printAgentHelp(root.Writer, a, imageDefaultsOf(layers), definedIn(layers, name))
			return nil
		},
	}
}

// visibleCommands are the names of the subcommands launch --help lists.
func visibleCommands(root *cli.Command) []string {
	var out []string
	for _, c := range root.Commands {
		if !c.Hidden {
			out = append(out, c.Name)
		}
	}
	return out
}

// definedIn are the files that define or change the agent, lowest first.
func definedIn(layers []layer, name string) []string {
	var out []string
	for _, l := range layers {
		if _, ok := l.cfg.AgentTables[name]; ok {
			out = append(out, l.file)
		}
	}
	return out
}

// printAgentHelp prints the agent's entry: what runs, in which image, with
// which credentials and settings, the suggested allowlist, and how the
// arguments and a prompt reach it.
func printAgentHelp(w io.Writer, a agent, d defaults, files []string) {
	fmt.Fprintf(w, "AGENT %s (from %s)\n\n", a.Name, strings.Join(files, ", then "))
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "   %-13s %s\n", k+":", v)
		}
	}
	if a.Shell {
		row("runs", strings.Join(a.Command, " ")+` -c "ARGS" (launch `+a.Name+` CMD ARGS... runs CMD ARGS..., quoted word by word, through bash -c; launch `+a.Name+` 'SCRIPT' runs SCRIPT; with no ARGS, an interactive shell)`)
	} else {
		row("runs", strings.Join(a.Command, " ")+" ARGS... (launch "+a.Name+" ARGS passes ARGS as typed after the command; an optional -- right after "+a.Name+" is dropped)")
	}
	row("image", withTag(d.OCI, a.Tag)+" (Docker, Podman; --image, --tag); "+withTag(d.SIF, a.Tag)+" (Singularity/Apptainer; --sif-path)")
	var cred []string
	for _, c := range a.Credentials {
		s := "~/" + c.Rel
		var notes []string
		if c.Dir {
			notes = append(notes, "directory")
		}
		if c.Create {
			notes = append(notes, "created when missing")
		}
		if c.Bedrock {
			notes = append(notes, "only with Bedrock")
		}
		if len(notes) > 0 {
			s += " (" + strings.Join(notes, ", ") + ")"
		}
		cred = append(cred, s)
	}
	if len(cred) == 0 {
		cred = []string{"none"}
	}
	row("credentials", strings.Join(cred, ", ")+"; mounted read-write at the same path under the container's home")
	var set []string
	for _, s := range a.Settings {
		set = append(set, "~/"+s.Rel)
	}
	row("read-only", strings.Join(set, ", "))
	var env []string
	for _, p := range a.EnvPrefixes {
		env = append(env, p+"*")
	}
	if len(env) > 0 {
		row("environment", strings.Join(env, ", ")+" passed from the host")
	}
	if len(a.BedrockSwitch) > 0 {
		row("bedrock", strings.Join(a.BedrockSwitch, " or ")+"=1 on the host switches to Amazon Bedrock")
	}
	if len(a.NetworkAllow) > 0 {
		row("network", "--network allow=@"+a.Name+" allows "+strings.Join(a.NetworkAllow, ", "))
	} else {
		row("network", "no suggested allowlist (network_allow)")
	}
	if len(a.PromptArgs) > 0 {
		how := "adds to"
		if a.PromptReplaces {
			how = "replaces"
		}
		row("prompt", "--prompt FILE passes "+strings.ReplaceAll(strings.Join(a.PromptArgs, " "), "{file}", "FILE")+" ("+how+" the agent's own instructions)")
	}
	if a.SkillsHome != "" || a.SkillsProject != "" {
		row("skills", "--skill NAME from "+strings.Join(nonEmpty("~/"+a.SkillsHome, a.SkillsProject), " or ")+" (directories holding "+a.SkillManifest+")")
	}
	fmt.Fprintf(w, "\nChange it under [agents.%s] in your config (docs/agents.md); launch --help for the flags.\n", a.Name)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && s != "~/" {
			out = append(out, s)
		}
	}
	return out
}
