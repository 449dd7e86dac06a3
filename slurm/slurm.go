// Package slurm wraps a launch in a Slurm allocation. launch adds no
// scheduler of its own: an interactive launch runs under srun (with a
// pseudo-terminal when it has one), and the launch inside the allocation is
// launch itself, run again with the same arguments, so that the Plan is
// made where the agent runs (its GPUs, scratch space and image cache are
// the node's) by the same rules as anywhere else, whatever the backend.
//
// Environment values never reach an argv: Slurm copies the caller's whole
// environment by default; launch names the variables to copy
// (--export=NAME,...), and Slurm reads their values itself.
//
// It imports only the standard library.
package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Options are what a launch asks Slurm for; the zero value asks for the
// cluster's defaults.
type Options struct {
	Partition string   `toml:"partition" json:"partition,omitempty"`
	Time      string   `toml:"time" json:"time,omitempty"`
	CPUs      int      `toml:"cpus" json:"cpus,omitempty"`
	Mem       string   `toml:"mem" json:"mem,omitempty"`
	Gres      string   `toml:"gres" json:"gres,omitempty"`
	Account   string   `toml:"account" json:"account,omitempty"`
	Args      []string `toml:"args" json:"args,omitempty"` // more srun/sbatch options, each one word
	// GPUs is how many GPUs to ask for (--gpus=N); 0 asks for none.
	GPUs int `toml:"-" json:"gpus,omitempty"`
}

var (
	// Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
	timeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+(:\d+){0,2}|\d+-\d+(:\d+){0,2})$`) })
	memRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\d+[KMGTkmgt]?$`) })
	wordRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_.:+=/-]+$`) })
)

// Validate checks each option's form; the error names the key and what is
// wanted.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, w := range []struct{ key, v string }{{"partition", o.Partition}, {"account", o.Account}, {"gres", o.Gres}} {
		if w.v != "" && !wordRE().MatchString(w.v) {
			bad("slurm %s %q: one word of letters, digits and _.:+=/-", w.key, w.v)
		}
	}
	if o.Time != "" && !timeRE().MatchString(o.Time) {
		bad("slurm time %q: want minutes, H:M:S or D-H:M:S (as sbatch --time)", o.Time)
	}
	if o.Mem != "" && !memRE().MatchString(o.Mem) {
		bad("slurm mem %q: want a size such as 16G (as sbatch --mem)", o.Mem)
	}
	if o.CPUs < 0 || o.GPUs < 0 {
		bad("slurm cpus/gpus: must not be negative")
	}
	for _, a := range o.Args {
		if !strings.HasPrefix(a, "-") {
			bad("slurm args %q: each is an srun/sbatch option starting with '-' (write --time=1:00, not --time 1:00)", a)
		}
	}
	return errors.Join(errs...)
}

// flags are the allocation's options, as srun and sbatch both take them.
func (o Options) flags() []string {
	var out []string
	add := func(name, v string) {
		if v != "" {
			out = append(out, "--"+name+"="+v)
		}
	}
	add("partition", o.Partition)
	add("time", o.Time)
	if o.CPUs > 0 {
		add("cpus-per-task", strconv.Itoa(o.CPUs))
	}
	add("mem", o.Mem)
	add("gres", o.Gres)
	if o.GPUs > 0 {
		add("gpus", strconv.Itoa(o.GPUs))
	}
	add("account", o.Account)
	return append(out, o.Args...)
}

// Export is the --export value: the names given, sorted and unique, PATH
// always among them (without it Slurm gives the task no PATH). A name that
// is not a portable variable name is dropped: Slurm's list is
// comma-separated.
func Export(names []string) string {
	set := map[string]bool{"PATH": true}
	for _, n := range names {
		if validName(n) {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for i, c := range n {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Srun is the argv that runs argv in a new allocation, one task, with a
// pseudo-terminal when pty is set, copying only the named variables.
func Srun(o Options, name string, pty bool, export []string, argv []string) []string {
	out := []string{"srun"}
	if pty {
		out = append(out, "--pty")
	}
	out = append(out, "--job-name="+name, "--ntasks=1")
	out = append(out, o.flags()...)
	out = append(out, "--export="+Export(export))
	return append(out, argv...)
}

// Run runs argv (srun) with the given environment and streams, and returns
// its exit status, which srun makes the task's: 128+N when killed by signal
// N. Cancelling ctx sends SIGTERM to srun, which passes it to the task and
// ends the step; Run still waits for it. Signals from a terminal reach srun
// directly (it shares launch's process group), so none is sent twice.
func Run(ctx context.Context, argv, env []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	c := exec.Command(argv[0], argv[1:]...)
	c.Env, c.Stdin, c.Stdout, c.Stderr = env, stdin, stdout, stderr
	if err := c.Start(); err != nil {
		return -1, fmt.Errorf("slurm: %w; is Slurm installed here (srun on PATH)?", err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			c.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have ended
		case <-done:
		}
	}()
	err := c.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return -1, fmt.Errorf("slurm: %w", err)
}

// JobScript is the sbatch script of one detached job that runs argv, its
// output (stdout and stderr) going to output (sbatch's %j pattern).
func JobScript(o Options, name string, export []string, output string, argv []string) string {
	return script(append([]string{"--job-name=" + name, "--ntasks=1", "--output=" + output}, o.flags()...), export, argv, "")
}

// ArrayScript is the sbatch script of a job array of n tasks, at most
// concurrency of them at once. Each array task runs argv with its index
// ($SLURM_ARRAY_TASK_ID) appended; Slurm's own output for each goes to
// output (sbatch's %A and %a patterns). Values never appear in it: the
// variables are exported by name.
func ArrayScript(o Options, name string, n, concurrency int, export []string, output string, argv []string) string {
	opts := []string{"--job-name=" + name, fmt.Sprintf("--array=0-%d%%%d", n-1, concurrency), "--ntasks=1", "--output=" + output}
	return script(append(opts, o.flags()...), export, argv, ` "$SLURM_ARRAY_TASK_ID"`)
}

// script is an sbatch script: the options as #SBATCH lines, the variables
// by name, then exec argv and tail (already quoted).
func script(opts, export, argv []string, tail string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	for _, f := range append(opts, "--export="+Export(export)) {
		fmt.Fprintf(&b, "#SBATCH %s\n", f)
	}
	b.WriteString("exec")
	for _, a := range argv {
		b.WriteString(" " + quote(a))
	}
	b.WriteString(tail + "\n")
	return b.String()
}

// quote quotes s for sh.
func quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
