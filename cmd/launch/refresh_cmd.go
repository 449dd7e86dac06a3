package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/creds"
	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/shell"
)

// refreshFlags are the options of launch refresh (those of refresh.py).
type refreshFlags struct {
	kind, remote, user                     string
	full, showFiles, noExport, bedrockLine bool
}

// refreshCommand is "launch refresh": log in where a browser is, export the
// AWS credentials, convert the Codex login for Pi, and copy the files to a
// remote host.
func refreshCommand(s iostreams.Streams, h *Host) *cli.Command {
	var f refreshFlags
	kinds := make([]string, len(creds.Kinds))
	for i, k := range creds.Kinds {
		kinds[i] = string(k)
	}
	return &cli.Command{
		Name:      "refresh",
		Usage:     "refresh the agents' logins here (where a browser is) and copy them to a remote host",
		UsageText: "launch refresh [--kind KIND] [--remote HOST [--user USER] [--full]] [--no-export-creds] [--bedrock-export]\nlaunch refresh --show-files [--kind KIND]",
		Description: `Logins open a browser and wait for a redirect to localhost, which never
reaches a container or a cluster. Log in here, then copy the files: a running
container sees them at once, because they are mounted.

  codex    codex login status; codex login unless logged in with ChatGPT
  pi       the Codex login, written into ~/.pi/agent/auth.json (openai-codex)
  claude   AWS SSO for Claude Code on Bedrock (as bedrock), plus Claude's files
  bedrock  aws configure export-credentials; aws sso login when that fails;
           then ~/.aws/credentials.json (0600) and [profile llm-export] in
           ~/.aws/config (credential_process = sh -c 'cat ~/.aws/credentials.json')
  all      all of these (the default)

AWS uses your current profile (AWS_PROFILE). --remote HOST copies the files,
relative to your home, to the same places under HOST's home in one rsync over
ssh; --full adds each agent's settings, memories, skills and extensions.
--bedrock-export prints "export AWS_BEARER_TOKEN_BEDROCK=..." on stdout: a
short-term Bedrock key (12 hours at most, never longer than the AWS
credentials live); alone, it implies --kind bedrock.

Examples:
   launch refresh                          # every login, here
   launch refresh --remote biowulf         # and copy them to biowulf:~/
   launch refresh --kind codex --remote biowulf --full
   eval "$(launch refresh --bedrock-export)"
   launch refresh --show-files --kind all`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "kind", Value: "all", Destination: &f.kind, Usage: "what to refresh: " + strings.Join(kinds, ", ")},
			&cli.StringFlag{Name: "remote", Destination: &f.remote, Usage: "copy the files to HOST (an ssh host or alias; USER@HOST works too) after refreshing"},
			&cli.StringFlag{Name: "user", Destination: &f.user, Usage: "user name on the remote host (default: ssh's)"},
			&cli.BoolFlag{Name: "full", Destination: &f.full, Usage: "with --remote: copy settings, memories, skills and extensions too"},
			&cli.BoolFlag{Name: "show-files", Destination: &f.showFiles, Usage: "list the files --remote copies (and --full adds) and whether each exists; refresh nothing"},
			&cli.BoolFlag{Name: "no-export-creds", Destination: &f.noExport, Usage: "log in to AWS but write neither ~/.aws/credentials.json nor the llm-export profile"},
			&cli.BoolFlag{Name: "bedrock-export", Destination: &f.bedrockLine, Usage: "print export AWS_BEARER_TOKEN_BEDROCK=... (a short-term Bedrock key) on stdout"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runRefresh(ctx, s, h, f, cmd)
		},
	}
}

// runRefresh checks the options, then refreshes, copies and prints the
// Bedrock line, in that order.
func runRefresh(ctx context.Context, s iostreams.Streams, h *Host, f refreshFlags, cmd *cli.Command) error {
	if cmd.Args().Len() > 0 {
		return usagef("launch refresh takes no arguments, got %q (see launch refresh --help)", cmd.Args().First())
	}
	if f.bedrockLine && !cmd.IsSet("kind") {
		f.kind = string(creds.KindBedrock)
	}
	kind, err := creds.ParseKind(f.kind)
	if err != nil {
		return usagef("--kind: %w", err)
	}
	switch {
	case f.user != "" && f.remote == "":
		return usagef("--user needs --remote HOST")
	case f.full && f.remote == "" && !f.showFiles:
		return usagef("--full needs --remote HOST (or --show-files)")
	case f.bedrockLine && !kind.NeedsAWS():
		return usagef("--bedrock-export needs AWS credentials: use --kind bedrock, claude or all, not %s", kind)
	}
	if f.remote != "" {
		if err := creds.ValidRemote(f.remote, f.user); err != nil {
			return usagef("--remote: %w", err)
		}
	}
	if f.showFiles {
		return showFiles(s.Out, h, kind)
	}
	run := creds.ExecRunner{Env: h.Env, Stdin: s.In, Stderr: s.Err}
	res, err := creds.Refresh{
		Kind: kind, Home: h.Home, ExportCreds: !f.noExport,
		Getenv: h.Getenv, Run: run, Log: s.Err, Now: time.Now,
	}.Do(ctx)
	if err != nil {
		return err
	}
	if f.remote != "" {
		if err := pushFiles(ctx, s, h, run, kind, f); err != nil {
			return err
		}
	}
	if f.bedrockLine {
		return printBedrockLine(ctx, s, h, run, *res.AWS)
	}
	return nil
}

// showFiles lists the credential files of kind and the set-up that --full
// adds, each marked present or missing.
func showFiles(w io.Writer, h *Host, kind creds.Kind) error {
	auth, full := creds.Files(kind)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, set := range []struct {
		title string
		files []string
	}{{"credential files (launch refresh --remote HOST):", auth}, {"with --full, also:", full}} {
		if len(set.files) == 0 {
			continue
		}
		fmt.Fprintln(tw, set.title)
		present, _, err := creds.Present(h.Home, set.files, h.Stat)
		if err != nil {
			return err
		}
		for _, rel := range set.files {
			state := "missing"
			for _, p := range present {
				if p == rel {
					state = "present"
				}
			}
			fmt.Fprintf(tw, "  ~/%s\t%s\n", rel, state)
		}
	}
	return tw.Flush()
}

// pushFiles copies the files that exist to the remote home in one rsync;
// each missing one is named in a warning.
func pushFiles(ctx context.Context, s iostreams.Streams, h *Host, run creds.Runner, kind creds.Kind, f refreshFlags) error {
	files, full := creds.Files(kind)
	if f.full {
		files = append(files, full...)
	}
	present, missing, err := creds.Present(h.Home, files, h.Stat)
	if err != nil {
		return err
	}
	for _, m := range missing {
		fmt.Fprintf(s.Err, "launch: warning: ~/%s does not exist; not copied\n", m)
	}
	if len(present) == 0 {
		return fmt.Errorf("none of the files of --kind %s exists here, nothing to copy to %s; log in first (launch refresh --kind %s)", kind, f.remote, kind)
	}
	argv := creds.RsyncArgv(h.Home, present, f.remote, f.user)
	fmt.Fprintf(s.Err, "launch: %s\n", shell.Join(argv))
	if err := run.Interact(ctx, argv); err != nil {
		return fmt.Errorf("rsync to %s: %w; check that ssh %s works (keys, ~/.ssh/config) and that rsync is installed there", f.remote, err, f.remote)
	}
	fmt.Fprintf(s.Err, "launch: copied %d files to %s:~/\n", len(present), f.remote)
	return nil
}

// printBedrockLine prints the export line of a short-term Bedrock key.
func printBedrockLine(ctx context.Context, s iostreams.Streams, h *Host, run creds.Runner, c creds.ProcessCredentials) error {
	region := h.Getenv("AWS_REGION")
	if region == "" {
		region = h.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		out, _, err := run.Capture(ctx, []string{"aws", "configure", "get", "region"})
		if err == nil {
			region = strings.TrimSpace(string(out))
		}
	}
	tok, exp, err := creds.BedrockToken(c, region, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "launch: Bedrock key for %s, valid until %s (%s)\n", region, exp.Format(time.RFC3339), creds.HumanDuration(time.Until(exp)))
	_, err = fmt.Fprintf(s.Out, "export AWS_BEARER_TOKEN_BEDROCK=%s\n", tok)
	return err
}
