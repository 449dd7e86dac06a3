package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
)

// TestSlurmDryRun: under --slurm the dry run prints the srun command whose
// last part is launch itself with the user's arguments (less the flags that
// only the outer launch reads), GPUs asked by count, variables by name.
func TestSlurmDryRun(t *testing.T) {
	tests := []struct {
		name  string
		c     goldenCase
		want  string
		code  int
		wants []string // in stderr
		outs  []string // in stdout
	}{
		{name: "plain", c: goldenCase{args: []string{"--slurm", "--backend", "singularity", "--dry-run", "shell", "--", "make", "-j", "4"}},
			want: printedSrun("--job-name=launch-shell --ntasks=1 --export=HOME,PATH,USER /usr/local/bin/launch --yes --backend singularity shell -- make -j 4")},
		{name: "args-and-config", c: goldenCase{args: []string{"--slurm=--qos=long --constraint='a b'", "--dry-run", "-y", "--env", "OPENAI_API_KEY", "--gpus=0,1", "codex", "exec", "it's"},
			env:   []string{"OPENAI_API_KEY=sk-secret", "LAUNCH_BACKEND=singularity", "XDG_STATE_HOME=/s"},
			files: map[string]string{"home/ana/.config/launch/config.toml": "[slurm]\npartition = \"gpu\"\ntime = \"1:00:00\"\ncpus = 4\nmem = \"8G\"\nargs = [\"--account=lab\"]\n"}},
			want: printedSrun("--job-name=launch-codex --ntasks=1 --partition=gpu --time=1:00:00 --cpus-per-task=4 --mem=8G --gpus=2 --account=lab --qos=long '--constraint=a b' --export=HOME,LAUNCH_BACKEND,OPENAI_API_KEY,PATH,USER,XDG_STATE_HOME /usr/local/bin/launch --yes --gpus auto --env OPENAI_API_KEY codex exec 'it'\\''s'")},
		{name: "config-enabled", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "pi"},
			files: map[string]string{"home/ana/.config/launch/config.toml": "[slurm]\nenabled = true\n"}},
			want: printedSrun("--job-name=launch-pi --ntasks=1 --export=HOME,PATH,USER /usr/local/bin/launch --yes --backend singularity pi")},
		{name: "terminal", c: goldenCase{args: []string{"--slurm", "--dry-run", "--backend", "singularity", "shell"}, terminal: true, env: []string{"TERM=xterm"}},
			// The printed command decides --pty when it runs, whatever the dry
			// run's own terminal.
			want: printedSrun("--job-name=launch-shell --ntasks=1 --export=HOME,PATH,TERM,USER /usr/local/bin/launch --yes --backend singularity shell")},
		{name: "detach", c: goldenCase{args: []string{"--slurm", "--detach", "--dry-run", "--backend", "singularity", "shell", "make"}, env: []string{"XDG_STATE_HOME=/home/ana/st"}},
			want: "mkdir -p /home/ana/st/launch/slurm\nsbatch --parsable --chdir=/home/ana/proj <<'LAUNCH_SBATCH'\n#!/bin/sh\n#SBATCH --job-name=launch-shell\n#SBATCH --ntasks=1\n#SBATCH --output=/home/ana/st/launch/slurm/launch-shell-%j.log\n#SBATCH --export=HOME,PATH,USER,XDG_STATE_HOME\nexec /usr/local/bin/launch --yes --backend singularity shell make\nLAUNCH_SBATCH\n"},
		{name: "detach-on-apptainer-without-slurm", c: goldenCase{args: []string{"--detach", "--dry-run", "--backend", "singularity", "shell"}}, wants: []string{"--detach: a real run keeps the session under launch's own supervisor"}, outs: []string{"apptainer exec "}},
		{name: "detach-on-docker", c: goldenCase{args: []string{"--detach", "--dry-run", "--backend", "docker", "shell"}}, outs: []string{"docker run --init -d -i --name launch-shell-proj "}},
		{name: "detach-on-podman", c: goldenCase{args: []string{"--detach", "--dry-run", "--backend", "podman", "shell"}}, outs: []string{"podman run --init -d -i --name launch-shell-proj "}},
		{name: "gpus-all", c: goldenCase{args: []string{"--slurm", "--dry-run", "--gpus", "all", "--backend", "singularity", "shell"}}, code: 2,
			wants: []string{"--gpus all with --slurm", "gres"}},
		{name: "bad-time", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "shell"}, files: map[string]string{"home/ana/.config/launch/config.toml": "[slurm]\nenabled = true\ntime = \"1h\"\n"}}, code: 2,
			wants: []string{`slurm time "1h"`}},
		{name: "project-may-not", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "shell"}, files: map[string]string{"home/ana/proj/.launch.toml": "[slurm]\nenabled = true\naccount = \"theirs\"\n"}},
			want: "", wants: []string{"line 1: slurm: only your own config may set this"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runCase(t, tt.c)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errs)
			}
			if tt.want != "" && out != tt.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tt.want)
			}
			if tt.name == "project-may-not" && strings.HasPrefix(out, "srun") {
				t.Errorf("a project file put the launch on Slurm:\n%s", out)
			}
			for _, w := range tt.wants {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			for _, w := range tt.outs {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "sk-secret") {
				t.Errorf("a secret value is on the srun command line:\n%s", out)
			}
		})
	}
}

func TestWithoutFlags(t *testing.T) {
	app := newApp(iostreams.Streams{}, nil, nil)
	drop := map[string]bool{"slurm": true, "slurm-args": true, "dry-run": true, "gpus": true}
	got := withoutFlags([]string{"launch", "--slurm", "--gpus", "0", "--slurm-args", "--x", "--mount", "/a:/b", "--dry-run", "--env=A", "shell", "--gpus", "1"}, app, drop)
	want := []string{"--mount", "/a:/b", "--env=A", "shell", "--gpus", "1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("withoutFlags = %q, want %q", got, want)
	}
}

// printedSrun is what the dry run prints for srun ARGS: a subshell that
// decides --pty when it runs (shell.Terminal).
func printedSrun(args string) string {
	return "(\n" + strings.Join(shell.Terminal("--pty"), "\n") + "\nsrun $launch_tty " + args + "\n)\n"
}

// TestSlurmJobEnv: in a Slurm job the job's own variables reach the agent by
// name, without --env; outside a job a stray SLURM_ variable does not.
func TestSlurmJobEnv(t *testing.T) {
	passed := func(env ...string) map[string]plan.EnvVar {
		p, _ := resolveCase(t, goldenCase{args: []string{"shell"}, env: env})
		out := map[string]plan.EnvVar{}
		for _, e := range p.Env {
			out[e.Name] = e
		}
		return out
	}
	got := passed("SLURM_JOB_ID=42", "SLURM_CPUS_PER_TASK=4", "SLURM_ARRAY_TASK_ID=3")
	for _, n := range []string{"SLURM_JOB_ID", "SLURM_CPUS_PER_TASK", "SLURM_ARRAY_TASK_ID"} {
		if e, ok := got[n]; !ok || !e.FromHost {
			t.Errorf("in a job: %s not passed by name: %+v", n, got)
		}
	}
	if _, ok := passed("SLURM_CONF=/etc/slurm.conf")["SLURM_CONF"]; ok {
		t.Errorf("outside a job: SLURM_CONF passed")
	}
}
