package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/batch"
	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/slurm"
)

// batchCommand is "launch batch FILE": many headless tasks, locally or as
// one Slurm job array.
func batchCommand(s iostreams.Streams, h *Host) *cli.Command {
	f := &flagState{}
	var task bool
	return &cli.Command{
		Name:      "batch",
		Usage:     "run the tasks a batch file lists: locally, or as one Slurm job array",
		UsageText: "launch [launch flags for every task] batch [--slurm[=ARGS]] [--dry-run] FILE",
		Description: `FILE (TOML) lists tasks; each is a normal launch (launch --yes FLAGS AGENT
-- ARGS) in its own workspace, with the same rules as any other:

   concurrency = 4            # at most this many at once (default 4, at least 1)
   [[task]]
   name = "repo-a"            # default task-N
   workspace = "repos/a"      # relative to FILE
   agent = "codex"
   args = ["exec", "summarise this repository"]
   flags = ["--network", "none"]

Each task's output goes to FILE.logs/NAME.log, and a row (task, state, exit,
seconds, log) goes to FILE.results.tsv as the task ends. Without Slurm the
tasks run here; with --slurm (or [slurm] enabled = true in your config) they
are one job array (sbatch --array, the concurrency as its limit), and launch
waits for it. --dry-run prints the sbatch script. concurrency is at least 1.

Launch flags given before batch (launch --backend singularity --sif-path
agents.sif batch FILE) apply to every task, ahead of its own flags, unless
the task sets the same flag. Every task is checked first, as its launch
would check it: a bad agent or flag in any task fails the batch (exit 2)
before anything runs or is queued. Exit status: 0 when every task
succeeded, 1 when one failed, 2 when the file or a task is wrong.

Examples:
   launch batch tasks.toml
   launch batch --slurm='--time=2:00:00' tasks.toml
   launch batch --slurm --dry-run tasks.toml`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "slurm", Destination: &f.slurm, Usage: "submit the tasks as one Slurm job array"},
			&cli.StringFlag{Name: "slurm-args", Destination: &f.slurmArgs, Usage: "more sbatch options, shell-quoted (implies --slurm)"},
			&cli.BoolFlag{Name: "dry-run", Destination: &f.dryRun, Usage: "print what would run (the sbatch script under Slurm); run nothing"},
			&cli.BoolFlag{Name: "task", Destination: &task, Hidden: true, Usage: "run task INDEX of FILE (what each array task runs)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if task {
				return batchTask(ctx, s, h, cmd, cmd.Args().Slice())
			}
			if cmd.Args().Len() != 1 {
				return usagef("launch batch takes one FILE (see launch batch --help)")
			}
			file, globals, err := loadBatch(cmd, cmd.Args().First())
			if err != nil {
				return err
			}
			dry := f.dryRun || rootBool(cmd, "dry-run")
			if f.slurm || rootBool(cmd, "slurm") {
				f.slurm = true
			}
			if v := rootText(cmd, "slurm-args"); f.slurmArgs == "" && v != "" {
				f.slurmArgs = v
			}
			if err := checkTasks(ctx, s, h, file); err != nil {
				return err
			}
			layers, err := userLayers(h, "")
			if err != nil {
				return err
			}
			on, so, err := slurmOf(layers, f)
			if err != nil {
				return err
			}
			if on {
				return batchSlurm(ctx, s, h, file, so, batchExport(h, layers, file), globals, dry)
			}
			return batchLocal(ctx, s, h, file, dry)
		},
	}
}

// batchLocal runs the tasks here.
func batchLocal(ctx context.Context, s iostreams.Streams, h *Host, file *batch.File, dry bool) error {
	if dry {
		for _, t := range file.Tasks {
			fmt.Fprintf(s.Out, "(cd %s && %s)\n", shell.Quote(t.Workspace), shell.Join(t.Argv(h.Executable)))
		}
		fmt.Fprintf(s.Err, "launch: dry run: %d tasks, %d at a time; nothing was run\n", len(file.Tasks), file.Concurrency)
		return nil
	}
	if err := file.Reset(); err != nil {
		return err
	}
	results, err := file.Run(ctx, h.Executable, h.Env, func(r batch.Result) {
		fmt.Fprintf(s.Err, "launch: batch: %s %s (exit %d, %.1fs); log %s\n", r.Task, r.State, r.Exit, r.Duration.Seconds(), r.Log)
	})
	if err != nil {
		return err
	}
	return batchSummary(s, file, len(results))
}

// batchSummary reads the results table back and sets the exit status.
func batchSummary(s iostreams.Streams, file *batch.File, ran int) error {
	b, err := os.ReadFile(file.ResultsPath())
	if err != nil {
		return err
	}
	failed := 0
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")[1:]
	for _, row := range rows {
		if f := strings.Split(row, "\t"); len(f) > 1 && f[1] != "ok" {
			failed++
		}
	}
	missing := len(file.Tasks) - len(rows)
	fmt.Fprintf(s.Err, "launch: batch: %d of %d tasks ok, %d failed, %d did not report; results in %s\n", len(rows)-failed, len(file.Tasks), failed, missing, file.ResultsPath())
	if failed > 0 || missing > 0 {
		return exitError{1}
	}
	return nil
}

// batchSlurm submits the tasks as one job array and waits for it.
func batchSlurm(ctx context.Context, s iostreams.Streams, h *Host, file *batch.File, so slurm.Options, export, globals []string, dry bool) error {
	// Each array task reads the file again: the global flags go with it.
	inner := append(append([]string{h.Executable}, globals...), "batch", "--task", file.Path)
	script := slurm.ArrayScript(so, "launch-batch", len(file.Tasks), file.Concurrency, export,
		filepath.Join(file.Path+".logs", "slurm-%A_%a.out"), inner)
	if dry {
		fmt.Fprintf(s.Err, "launch: dry run: submit with: sbatch --wait --chdir=%s < SCRIPT; nothing was submitted\n", shell.Quote(filepath.Dir(file.Path)))
		_, err := fmt.Fprint(s.Out, script)
		return err
	}
	if err := file.Reset(); err != nil {
		return err
	}
	c := exec.Command("sbatch", "--parsable", "--chdir="+filepath.Dir(file.Path))
	c.Env, c.Stdin, c.Stderr = h.Env, strings.NewReader(script), s.Err
	out, err := c.Output()
	if err != nil {
		return fmt.Errorf("sbatch: %w; is Slurm installed here?", err)
	}
	id := strings.TrimSpace(strings.Split(string(out), ";")[0])
	fmt.Fprintf(s.Err, "launch: batch: submitted %d tasks as Slurm job array %s; waiting for it (Ctrl-C cancels it)\n", len(file.Tasks), id)
	if err := waitJob(ctx, id); err != nil {
		exec.Command("scancel", id).Run() //nolint:errcheck // best effort: the user asked to stop
		return err
	}
	return batchSummary(s, file, len(file.Tasks))
}

// waitJob waits until Slurm no longer lists job id (every task of an array
// ended). sbatch --wait would do, but it polls with a back-off of many
// seconds; half a second keeps a short batch short.
func waitJob(ctx context.Context, id string) error {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	failures := 0
	for {
		out, err := exec.Command("squeue", "-h", "-j", id, "-o", "%i").CombinedOutput()
		switch {
		case err == nil && strings.TrimSpace(string(out)) == "":
			return nil
		case err != nil && bytes.Contains(out, []byte("Invalid job id")):
			return nil // ended, and already purged
		case err != nil:
			if failures++; failures > 120 {
				return fmt.Errorf("squeue -j %s: %v: %s; the job may still run: check with squeue", id, err, bytes.TrimSpace(out))
			}
		default:
			failures = 0
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// batchTask runs one task of a Slurm job array: FILE INDEX.
func batchTask(ctx context.Context, s iostreams.Streams, h *Host, cmd *cli.Command, args []string) error {
	if len(args) != 2 {
		return usagef("launch batch --task FILE INDEX")
	}
	file, _, err := loadBatch(cmd, args[0])
	if err != nil {
		return err
	}
	i, err := strconv.Atoi(args[1])
	if err != nil || i < 0 || i >= len(file.Tasks) {
		return usagef("launch batch --task: index %q: want 0 to %d", args[1], len(file.Tasks)-1)
	}
	r, err := file.RunOne(ctx, h.Executable, i, h.Env)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "launch: batch: %s %s (exit %d); log %s\n", r.Task, r.State, r.Exit, r.Log)
	if r.Exit != 0 {
		return exitError{r.Exit}
	}
	return nil
}

// batchExport are the variables the array's tasks may need: what launch
// reads, proxies, and what the tasks' agents inherit (their prefixes,
// Bedrock's AWS_ variables, each --env NAME). Names only.
func batchExport(h *Host, layers []layer, file *batch.File) []string {
	agents := catalogue(layers)
	prefixes := append([]string{"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}, launchPrefixes...)
	names := map[string]bool{}
	for _, t := range file.Tasks {
		a := agents[t.Agent]
		prefixes = append(prefixes, a.EnvPrefixes...)
		if len(a.BedrockSwitch) > 0 {
			prefixes = append(append(prefixes, "AWS_"), a.BedrockSwitch...)
		}
		for i, fl := range t.Flags {
			switch {
			case fl == "--env" && i+1 < len(t.Flags):
				n, _, _ := strings.Cut(t.Flags[i+1], "=")
				names[n] = true
			case strings.HasPrefix(fl, "--env="):
				n, _, _ := strings.Cut(strings.TrimPrefix(fl, "--env="), "=")
				names[n] = true
			}
		}
	}
	var out []string
	for _, n := range h.EnvNames() {
		keep := names[n]
		for _, r := range launchReads {
			keep = keep || n == r
		}
		for _, p := range prefixes {
			keep = keep || (p != "" && strings.HasPrefix(n, p))
		}
		if keep {
			out = append(out, n)
		}
	}
	return out
}

// notForTasks are launch flags that batch reads itself, or that no task may
// take: given to launch batch, they are the batch's (--dry-run, --slurm) or
// refused (--detach), never passed to a task.
var notForTasks = map[string]bool{
	"help": true, "h": true, "version": true, "dry-run": true, "json": true, "slurm": true, "slurm-args": true,
	"yes": true, "y": true, "detach": true, "d": true, "generate-shell-completion": true,
}

// loadBatch reads the batch file and puts the launch flags given to launch
// batch itself (launch --backend singularity batch FILE) before each task's
// own flags, except those the task sets itself. It returns the global flags
// as words, for the array tasks under Slurm.
func loadBatch(cmd *cli.Command, path string) (*batch.File, []string, error) {
	file, err := batch.Load(path)
	if err != nil {
		return nil, nil, usagef("%w", err)
	}
	if fl := rootFlag(cmd, "detach"); fl != nil && fl.IsSet() {
		return nil, nil, usagef("launch batch: --detach: the batch waits for its tasks; leave --detach out")
	}
	var all []string
	var groups [][]string // one per flag: its words
	var names [][]string  // the flag's names
	for _, fl := range cmd.Root().Flags {
		n := fl.Names()
		if !fl.IsSet() || notForTasks[n[0]] {
			continue
		}
		var words []string
		switch v := fl.Get().(type) {
		case []string:
			for _, x := range v {
				words = append(words, "--"+n[0]+"="+x)
			}
		default:
			words = []string{fmt.Sprintf("--%s=%v", n[0], v)}
		}
		groups, names = append(groups, words), append(names, n)
		all = append(all, words...)
	}
	takes := takesValue(cmd.Root().Flags)
	for i := range file.Tasks {
		t := &file.Tasks[i]
		own := taskFlagNames(t.Flags, takes)
		var pre []string
		for g, words := range groups {
			if !slices.ContainsFunc(names[g], func(n string) bool { return own[n] }) {
				pre = append(pre, words...)
			}
		}
		t.Flags = append(pre, t.Flags...)
	}
	return file, all, nil
}

// taskFlagNames are the names of the flags a task's flags set.
func taskFlagNames(flags []string, takes map[string]bool) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < len(flags); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(flags[i], "-"), "=")
		out[name] = true
		if !hasValue && takes[name] {
			i++
		}
	}
	return out
}

// rootFlag is the launch flag of that name, or nil.
func rootFlag(cmd *cli.Command, name string) cli.Flag {
	for _, fl := range cmd.Root().Flags {
		if slices.Contains(fl.Names(), name) {
			return fl
		}
	}
	return nil
}

// rootBool is whether the launch flag name was set to true before the
// subcommand (launch --dry-run batch FILE).
func rootBool(cmd *cli.Command, name string) bool {
	fl := rootFlag(cmd, name)
	if fl == nil || !fl.IsSet() {
		return false
	}
	b, _ := fl.Get().(bool)
	return b
}

// rootText is the launch flag name's value, or "".
func rootText(cmd *cli.Command, name string) string {
	fl := rootFlag(cmd, name)
	if fl == nil || !fl.IsSet() {
		return ""
	}
	v, _ := fl.Get().(string)
	return v
}

// checkTasks checks every task as its launch would (launch --json, in
// process: every check a real run makes, nothing run or created), before
// any task runs or the array is queued: a bad agent or flag in the tenth
// task fails the batch at once, not after nine tasks or in the queue.
func checkTasks(ctx context.Context, s iostreams.Streams, h *Host, file *batch.File) error {
	for _, t := range file.Tasks {
		th := *h
		th.Cwd, th.Terminal = t.Workspace, false
		argv := t.Argv(h.Executable)
		argv = append([]string{argv[0], "--json"}, argv[1:]...)
		th.Args = argv
		var errb bytes.Buffer
		code := runApp(ctx, iostreams.Streams{In: strings.NewReader(""), Out: io.Discard, Err: &errb}, &th, argv)
		if code != 0 {
			// The last line is the error; warnings come before it.
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			msg := strings.TrimPrefix(lines[len(lines)-1], "launch: ")
			return usagef("batch file %s: task %s: %s; nothing was run", file.Path, t.Name, msg)
		}
	}
	return nil
}
