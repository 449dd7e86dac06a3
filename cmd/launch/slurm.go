package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
	"github.com/launchcli/launch/slurm"
)

// slurmConfig is the [slurm] table; an unset key keeps a lower layer's
// value, and args accumulate.
type slurmConfig struct {
	Enabled   *bool    `toml:"enabled"`
	Partition *string  `toml:"partition"`
	Time      *string  `toml:"time"`
	CPUs      *int     `toml:"cpus"`
	Mem       *string  `toml:"mem"`
	Gres      *string  `toml:"gres"`
	Account   *string  `toml:"account"`
	Args      []string `toml:"args"`
}

// slurmOf merges [slurm] of every layer and the --slurm flags: whether the
// launch runs under Slurm, and what it asks for.
func slurmOf(layers []layer, f *flagState) (bool, slurm.Options, error) {
	var on bool
	var o slurm.Options
	for _, l := range layers {
		c := l.cfg.Slurm
		setIf(&on, c.Enabled)
		setIf(&o.Partition, c.Partition)
		setIf(&o.Time, c.Time)
		setIf(&o.Mem, c.Mem)
		setIf(&o.Gres, c.Gres)
		setIf(&o.Account, c.Account)
		setIf(&o.CPUs, c.CPUs)
		o.Args = append(o.Args, c.Args...)
	}
	if f.slurm || f.slurmArgs != "" {
		on = true
	}
	if f.slurmArgs != "" {
		words, err := mounts.Words(f.slurmArgs)
		if err != nil {
			return false, o, usagef("--slurm %q: %w", f.slurmArgs, err)
		}
		o.Args = append(o.Args, words...)
	}
	if err := o.Validate(); err != nil {
		return false, o, usagef("%w", err)
	}
	return on, o, nil
}

// slurmJob is a launch under Slurm: the srun argv, whose last part is
// launch itself, run again in the allocation with the same arguments.
type slurmJob struct {
	argv []string
	// printed is argv with --pty, for the dry run: the printed command
	// decides --pty when it runs (shell.Terminal), as argv did from
	// launch's own terminal.
	printed []string
	// script, for a detached launch, is the sbatch script (argv is then
	// sbatch, reading it on stdin) and logs the directory its log goes to;
	// name is the job's name (launch-AGENT) and workspace where it runs.
	script, logs    string
	name, workspace string
}

// slurmArgv builds the srun command for Plan p. GPUs are asked of Slurm by
// count, and the launch in the allocation takes those it was given
// (--gpus auto follows CUDA_VISIBLE_DEVICES there).
func slurmArgv(o *options, h *Host, p plan.Plan, app *cli.Command) (slurmJob, error) {
	so := o.Slurm
	switch {
	case p.GPUs.All && !asksGPUs(so):
		return slurmJob{}, usagef("--gpus all with --slurm: say how many GPUs to ask Slurm for (--gpus 0,1 asks for two), or set gres = \"gpu:N\" in [slurm]")
	case len(p.GPUs.Devices) > 0:
		so.GPUs = len(p.GPUs.Devices)
	}
	inner := []string{h.Executable, "--yes"}
	if p.GPUs.Any() || o.GPUs.auto {
		inner = append(inner, "--gpus", "auto")
	}
	inner = append(inner, withoutFlags(h.Args, app, map[string]bool{
		"slurm": true, "slurm-args": true, "dry-run": true, "json": true, "yes": true, "y": true, "gpus": true, "detach": true, "d": true,
	})...)
	name, export := "launch-"+p.Agent, exportNames(o, h, p)
	if o.Detach {
		logs := filepath.Join(stateDir(h), "slurm")
		return slurmJob{
			argv:   []string{"sbatch", "--parsable", "--chdir=" + h.Cwd},
			script: slurm.JobScript(so, name, export, filepath.Join(logs, name+"-%j.log"), inner),
			logs:   logs, name: name, workspace: h.Cwd,
		}, nil
	}
	return slurmJob{argv: slurm.Srun(so, name, p.TTY, export, inner), printed: slurm.Srun(so, name, true, export, inner)}, nil
}

// stateDir is $XDG_STATE_HOME/launch, or ~/.local/state/launch.
func stateDir(h *Host) string {
	dir := h.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(h.Home, ".local", "state")
	}
	return filepath.Join(dir, "launch")
}

// asksGPUs reports whether the options ask Slurm for GPUs by themselves.
func asksGPUs(o slurm.Options) bool {
	if strings.Contains(o.Gres, "gpu") {
		return true
	}
	for _, a := range o.Args {
		if strings.HasPrefix(a, "--gres=gpu") || strings.HasPrefix(a, "--gpus") || strings.HasPrefix(a, "-G") {
			return true
		}
	}
	return false
}

// launchReads are the host variables launch itself reads, and the prefixes
// of more: the launch in the allocation needs them to make the same Plan.
var (
	launchReads    = []string{"HOME", "PATH", "USER", "LOGNAME", "TERM", "COLORTERM", "LANG", "TZ", "TMPDIR"}
	launchPrefixes = []string{"LC_", "XDG_", "LAUNCH_", "LLM_DEVCONTAINER_", "APPTAINER_", "SINGULARITY_"}
)

// exportNames are the variables srun copies into the allocation: what
// launch reads, and every variable the Plan inherits by name. Only names:
// Slurm reads the values from srun's own environment.
func exportNames(o *options, h *Host, p plan.Plan) []string {
	var out []string
	for _, n := range h.EnvNames() {
		keep := false
		for _, r := range launchReads {
			keep = keep || n == r
		}
		for _, pre := range launchPrefixes {
			keep = keep || strings.HasPrefix(n, pre)
		}
		if keep {
			out = append(out, n)
		}
	}
	for _, e := range p.Env {
		if e.FromHost {
			out = append(out, e.Name)
		}
	}
	for _, e := range o.Env {
		if !e.HasValue {
			out = append(out, e.Name) // set on the node only (SLURM_JOB_ID)
		}
	}
	return out
}

// withoutFlags is args (argv[0] left out) without the named launch flags
// (and their values), which may appear only before the agent's name.
func withoutFlags(args []string, app *cli.Command, drop map[string]bool) []string {
	takes := takesValue(app.Flags)
	var out []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...) // the agent and its arguments
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		value := !hasValue && takes[name] && i+1 < len(args)
		if drop[name] {
			if value {
				i++
			}
			continue
		}
		out = append(out, a)
		if value {
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// takesValue maps every name of the flags that take a value.
func takesValue(flags []cli.Flag) map[string]bool {
	out := map[string]bool{}
	for _, f := range flags {
		if tv, ok := f.(interface{ TakesValue() bool }); ok && tv.TakesValue() {
			for _, n := range f.Names() {
				out[n] = true
			}
		}
	}
	return out
}

// printSlurm is the dry run under Slurm: the srun command on stdout, and
// what happens in the allocation on stderr.
func printSlurm(w, notes io.Writer, j slurmJob) error {
	fmt.Fprintln(notes, "launch: slurm: only the variables named in --export are copied from your environment; their values never appear on a command line or in a script")
	fmt.Fprintln(notes, "launch: slurm: in the allocation, launch runs again with your arguments and makes the plan there (its GPUs, scratch and image cache); see it with --dry-run on a node")
	if j.script != "" {
		_, err := fmt.Fprintf(w, "mkdir -p %s\n%s <<'LAUNCH_SBATCH'\n%sLAUNCH_SBATCH\n", shell.Quote(j.logs), shell.Join(j.argv), j.script)
		return err
	}
	lines := append(append([]string{"("}, shell.Terminal("--pty")...), shell.JoinTTY(j.printed, "--pty"), ")")
	_, err := fmt.Fprintln(w, strings.Join(lines, "\n"))
	return err
}

// runSlurm runs the srun command with launch's environment and streams, or
// submits the detached job and says where its log is.
func runSlurm(ctx context.Context, s iostreams.Streams, h *Host, j slurmJob) error {
	if j.script != "" {
		if err := os.MkdirAll(j.logs, 0o700); err != nil {
			return err
		}
		var out bytes.Buffer
		code, err := slurm.Run(ctx, j.argv, h.Env, strings.NewReader(j.script), &out, s.Err)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("sbatch exited with status %d", code)
		}
		id := strings.TrimSpace(strings.Split(out.String(), ";")[0])
		// Slurm forgets an ended job (MinJobAge) unless accounting keeps
		// it: launch ps -a reads the workspace and the submission time
		// from this record, not from the log's times.
		if err := writeJobRecord(j.logs, j.name, id, jobRecord{Workspace: j.workspace, Submitted: h.Now()}); err != nil {
			fmt.Fprintf(s.Err, "launch: warning: job %s: %v; launch ps -a will not show its workspace once it ends\n", id, err)
		}
		fmt.Fprintln(s.Out, id)
		fmt.Fprintf(s.Err, "launch: submitted Slurm job %s; its log: %s (tail -f it); stop it with scancel %s\n", id, filepath.Join(j.logs, "*-"+id+".log"), id)
		return nil
	}
	code, err := slurm.Run(ctx, j.argv, h.Env, s.In, s.Out, s.Err)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// launchSlurm is launch's last step under Slurm: print the srun command, or
// ask and run it.
func launchSlurm(ctx context.Context, s iostreams.Streams, o *options, h *Host, p plan.Plan, backend backendName, cmd *cli.Command) error {
	j, err := slurmArgv(o, h, p, cmd.Root())
	if err != nil {
		return err
	}
	switch {
	case o.JSON:
		return printJSON(s.Out, backend, p, j.argv)
	case o.DryRun:
		return printSlurm(s.Out, s.Err, j)
	}
	if err := askToLaunch(ctx, s, o, p, backend); err != nil {
		return err
	}
	return runSlurm(ctx, s, h, j)
}
