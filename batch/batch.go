// Package batch runs many headless agent tasks: a TOML file lists them
// (workspace, agent, arguments, launch flags), and each becomes one normal
// launch, in its own workspace, with the same Plan rules as any other. It
// runs them locally with a concurrency limit, or one task of a Slurm job
// array at a time (RunOne), and writes a results table as each task ends.
//
// It imports only the standard library and BurntSushi/toml.
package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
)

// File is a batch file.
type File struct {
	// Concurrency is how many tasks run at once: at least 1; 4 when the
	// file leaves it out.
	Concurrency int `toml:"concurrency"`
	// Results is the results table's path, relative to the file; default
	// FILE.results.tsv. Logs go to FILE.logs/NAME.log.
	Results string `toml:"results"`
	Tasks   []Task `toml:"task"`

	// Path is the batch file's absolute path.
	Path string `toml:"-"`
}

// Task is one launch.
type Task struct {
	// Name names the task in the results and its log; default task-N.
	Name string `toml:"name"`
	// Workspace is the task's workspace, relative to the batch file.
	Workspace string `toml:"workspace"`
	// Agent and Args are what "launch AGENT ARGS..." would take.
	Agent string   `toml:"agent"`
	Args  []string `toml:"args"`
	// Flags are launch flags for this task only ("--network", "none").
	Flags []string `toml:"flags"`
}

// DefaultConcurrency is the concurrency when the file sets none.
const DefaultConcurrency = 4

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// forbidden are launch flags a task cannot take: the batch decides them.
var forbidden = map[string]string{
	"--slurm": "the batch decides where tasks run", "--slurm-args": "the batch decides where tasks run",
	"--dry-run": "use launch batch --dry-run", "--json": "use launch batch --dry-run", "--yes": "tasks never ask", "-y": "tasks never ask",
}

// Load reads and checks a batch file: every task names an agent and an
// existing workspace directory, names are unique, flags are flags.
func Load(path string) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f := &File{Path: abs}
	md, err := toml.DecodeFile(abs, f)
	if err != nil {
		return nil, fmt.Errorf("batch file %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("batch file %s: unknown key %q; want concurrency, results and [[task]] tables of name, workspace, agent, args, flags", path, und[0].String())
	}
	if len(f.Tasks) == 0 {
		return nil, fmt.Errorf("batch file %s: no [[task]]; add one per launch", path)
	}
	switch {
	case !md.IsDefined("concurrency"):
		f.Concurrency = DefaultConcurrency
	case f.Concurrency < 1:
		return nil, fmt.Errorf("batch file %s: concurrency = %d: want at least 1 (tasks at once); leave it out for %d", path, f.Concurrency, DefaultConcurrency)
	}
	seen := map[string]bool{}
	for i := range f.Tasks {
		t := &f.Tasks[i]
		if t.Name == "" {
			t.Name = fmt.Sprintf("task-%d", i+1)
		}
		where := fmt.Sprintf("batch file %s: task %d (%s)", path, i+1, t.Name)
		switch {
		case !nameRE().MatchString(t.Name):
			return nil, fmt.Errorf("%s: name: want letters, digits, '.', '_' and '-'", where)
		case seen[t.Name]:
			return nil, fmt.Errorf("%s: name used twice", where)
		case t.Agent == "":
			return nil, fmt.Errorf("%s: no agent; set agent = \"codex\" (or claude, pi, shell, ...)", where)
		case t.Workspace == "":
			return nil, fmt.Errorf("%s: no workspace; set workspace = \"DIR\" (relative to the batch file)", where)
		}
		seen[t.Name] = true
		ws := t.Workspace
		if !filepath.IsAbs(ws) {
			ws = filepath.Join(filepath.Dir(abs), ws)
		}
		if fi, err := os.Stat(ws); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s: workspace %q: not a directory", where, ws)
		}
		t.Workspace = filepath.Clean(ws)
		for _, fl := range t.Flags {
			name, _, _ := strings.Cut(fl, "=")
			if why, bad := forbidden[name]; bad {
				return nil, fmt.Errorf("%s: flags: %s: %s", where, fl, why)
			}
		}
		if len(t.Flags) > 0 && !strings.HasPrefix(t.Flags[0], "-") {
			return nil, fmt.Errorf("%s: flags %q: want launch flags such as [\"--network\", \"none\"]; the agent's arguments go in args", where, t.Flags)
		}
	}
	return f, nil
}

// ResultsPath is the results table.
func (f *File) ResultsPath() string {
	if f.Results == "" {
		return f.Path + ".results.tsv"
	}
	if filepath.IsAbs(f.Results) {
		return f.Results
	}
	return filepath.Join(filepath.Dir(f.Path), f.Results)
}

// LogPath is task t's log.
func (f *File) LogPath(t Task) string {
	return filepath.Join(f.Path+".logs", t.Name+".log")
}

// Argv is the launch command of task t, with launch's binary exe.
func (t Task) Argv(exe string) []string {
	out := append([]string{exe, "--yes"}, t.Flags...)
	out = append(out, t.Agent)
	if len(t.Args) > 0 {
		out = append(append(out, "--"), t.Args...)
	}
	return out
}

// Result is one row of the results table.
type Result struct {
	Task     string
	State    string // ok, failed, interrupted
	Exit     int
	Duration time.Duration
	Log      string
}

// Header is the results table's first line.
const Header = "task\tstate\texit\tseconds\tlog\n"

func (r Result) line() string {
	return fmt.Sprintf("%s\t%s\t%d\t%.1f\t%s\n", r.Task, r.State, r.Exit, r.Duration.Seconds(), r.Log)
}

// Reset starts the results table with its header and makes the log
// directory.
func (f *File) Reset() error {
	if err := os.MkdirAll(f.Path+".logs", 0o755); err != nil {
		return err
	}
	return os.WriteFile(f.ResultsPath(), []byte(Header), 0o644)
}

// appendResult adds a row under an exclusive lock: tasks of a Slurm array
// end at the same time, and on a shared file system a plain append may mix.
func (f *File) appendResult(r Result) error {
	fd, err := os.OpenFile(f.ResultsPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer fd.Close()
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(fd.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks too
	_, err = io.WriteString(fd, r.line())
	return err
}

// RunOne runs task i as launch exe would, its output in its log, and adds
// its row to the results table. env is the task's environment.
func (f *File) RunOne(ctx context.Context, exe string, i int, env []string) (Result, error) {
	t := f.Tasks[i]
	res := Result{Task: t.Name, Log: f.LogPath(t)}
	log, err := os.OpenFile(res.Log, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return res, err
	}
	defer log.Close()
	argv := t.Argv(exe)
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir, c.Env, c.Stdout, c.Stderr = t.Workspace, env, log, log
	start := time.Now()
	if err := c.Start(); err != nil {
		return res, err
	}
	stop := context.AfterFunc(ctx, func() { c.Process.Signal(syscall.SIGTERM) }) //nolint:errcheck // it may have ended
	err = c.Wait()
	stop()
	res.Duration = time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.State = "ok"
	case errors.As(err, &ee):
		res.State, res.Exit = "failed", ee.ExitCode()
		if ctx.Err() != nil {
			res.State = "interrupted"
		}
	default:
		return res, err
	}
	return res, f.appendResult(res)
}

// Run runs every task locally, Concurrency at a time, and returns the
// results in the order tasks ended. Cancelling ctx stops the running tasks
// (SIGTERM: each launch removes what it made) and starts no more.
func (f *File) Run(ctx context.Context, exe string, env []string, progress func(Result)) ([]Result, error) {
	var (
		mu   sync.Mutex
		out  []Result
		errs []error
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, f.Concurrency)
	for i := range f.Tasks {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-slots }()
			r, err := f.RunOne(ctx, exe, i, env)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("task %s: %w", f.Tasks[i].Name, err))
				return
			}
			out = append(out, r)
			if progress != nil {
				progress(r)
			}
		}(i)
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
