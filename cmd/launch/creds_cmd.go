package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/creds"
	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

// credsCommand is "launch creds": which credential files exist and when
// each token expires.
func credsCommand(s iostreams.Streams, h *Host) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:      "creds",
		Usage:     "show the agents' credential files and when each token expires",
		UsageText: "launch creds [--json] [AGENT...]",
		Description: `For each credential file launch knows how to read (Codex's auth.json, the
exported AWS credentials.json, Claude's .credentials.json, Pi's auth.json):
which agents use it, whether it exists, and when its token expires. A token
that has expired or expires within the hour comes with the command that
renews it. AGENT narrows the list to those agents.

Examples:
   launch creds
   launch creds --json codex`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Destination: &asJSON, Usage: "print the list as JSON"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			st, err := credStatus(h, cmd.Args().Slice(), h.Now())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(s.Out, st)
			}
			printCredStatus(s.Out, h.Home, st)
			return nil
		},
	}
}

// credStatus reports every token file under the credential paths of the
// named agents (all agents of the built-in catalogue and the user config
// when none is named), one entry per file.
func credStatus(h *Host, agents []string, now time.Time) ([]creds.Status, error) {
	layers, err := userLayers(h, "")
	if err != nil {
		return nil, err
	}
	cat := catalogue(layers)
	if len(agents) == 0 {
		for name := range cat {
			agents = append(agents, name)
		}
		sort.Strings(agents)
	}
	users := map[string][]string{} // token file → agents
	for _, name := range agents {
		a, ok := cat[name]
		if !ok {
			return nil, usagef("creds: unknown agent %q; the agents: %s", name, strings.Join(sortedKeys(cat), ", "))
		}
		var roots []string
		for _, c := range a.Credentials {
			roots = append(roots, c.Rel)
		}
		for _, tf := range creds.TokenFilesUnder(roots) {
			users[tf.Rel] = append(users[tf.Rel], name)
		}
	}
	var out []creds.Status
	for _, tf := range creds.TokenFiles {
		if len(users[tf.Rel]) == 0 {
			continue
		}
		st := creds.Check(tf, h.Home, now, h.ReadFile)
		st.Agents = users[tf.Rel]
		out = append(out, st)
	}
	return out, nil
}

// printCredStatus writes the table, then one line per token to renew.
func printCredStatus(w io.Writer, home string, st []creds.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tAGENTS\tSTATE\tEXPIRES")
	for _, s := range st {
		exp := "-"
		if s.State != creds.StateMissing {
			exp = s.Describe()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", tilde(home, s.File), strings.Join(s.Agents, ", "), s.State, exp)
	}
	tw.Flush()
	for _, s := range creds.Expiring(st) {
		fmt.Fprintf(w, "to renew %s: %s\n", tilde(home, s.File), s.Fix)
	}
}

// tilde shows a path under home as ~/...
func tilde(home, p string) string {
	if rel, err := filepath.Rel(home, p); err == nil && !strings.HasPrefix(rel, "..") {
		return "~/" + filepath.ToSlash(rel)
	}
	return p
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// warnExpiring tells, before a real launch, which credentials the agent is
// given have expired or expire within the hour, and how to renew them.
func warnExpiring(w io.Writer, p plan.Plan, now time.Time) {
	for _, s := range creds.Expiring(creds.PlanStatus(p, now, os.ReadFile)) {
		fmt.Fprintf(w, "launch: warning: %s (%s) %s; renew it with: %s\n", s.File, s.What, s.Describe(), s.Fix)
	}
}
