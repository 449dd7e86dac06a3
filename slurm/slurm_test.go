package slurm

import (
	"reflect"
	"strings"
	"testing"
)

func TestSrun(t *testing.T) {
	o := Options{Partition: "gpu", Time: "8:00:00", CPUs: 4, Mem: "16G", Gres: "lscratch:10", Account: "lab", Args: []string{"--constraint=x2695"}, GPUs: 2}
	got := Srun(o, "launch-codex", true, []string{"HOME", "OPENAI_API_KEY", "bad-name", "HOME"}, []string{"/usr/bin/launch", "--yes", "codex"})
	want := []string{"srun", "--pty", "--job-name=launch-codex", "--ntasks=1", "--partition=gpu", "--time=8:00:00", "--cpus-per-task=4", "--mem=16G", "--gres=lscratch:10", "--gpus=2", "--account=lab", "--constraint=x2695", "--export=HOME,OPENAI_API_KEY,PATH", "/usr/bin/launch", "--yes", "codex"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Srun =\n%q\nwant\n%q", got, want)
	}
	if got := Srun(Options{}, "x", false, nil, []string{"/l"}); !reflect.DeepEqual(got, []string{"srun", "--job-name=x", "--ntasks=1", "--export=PATH", "/l"}) {
		t.Errorf("Srun with defaults = %q", got)
	}
}

func TestValidate(t *testing.T) {
	for _, ok := range []Options{{}, {Time: "30"}, {Time: "1-12:00:00"}, {Time: "2:30"}, {Mem: "500"}, {Mem: "16g"}, {Args: []string{"--qos=long"}}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Time: "1h"}, `time "1h"`},
		{Options{Mem: "lots"}, `mem "lots"`},
		{Options{Partition: "a b"}, `partition "a b"`},
		{Options{Account: "x,y"}, `account "x,y"`},
		{Options{Args: []string{"1:00"}}, `args "1:00"`},
		{Options{CPUs: -1}, "negative"},
	} {
		err := c.o.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

func TestArrayScript(t *testing.T) {
	got := ArrayScript(Options{Partition: "norm", Time: "30"}, "launch-batch", 20, 4, []string{"HOME", "SECRET"}, "/b/f.logs/slurm-%A_%a.out", []string{"/usr/bin/launch", "batch", "--task", "/b/my file.toml"})
	want := `#!/bin/sh
#SBATCH --job-name=launch-batch
#SBATCH --array=0-19%4
#SBATCH --ntasks=1
#SBATCH --output=/b/f.logs/slurm-%A_%a.out
#SBATCH --partition=norm
#SBATCH --time=30
#SBATCH --export=HOME,PATH,SECRET
exec /usr/bin/launch batch --task '/b/my file.toml' "$SLURM_ARRAY_TASK_ID"
`
	if got != want {
		t.Errorf("ArrayScript =\n%s\nwant\n%s", got, want)
	}
}

func TestJobScript(t *testing.T) {
	got := JobScript(Options{Time: "8:00:00"}, "launch-codex", []string{"HOME"}, "/s/launch-codex-%j.log", []string{"/usr/bin/launch", "--yes", "codex", "--", "exec", "it's"})
	want := `#!/bin/sh
#SBATCH --job-name=launch-codex
#SBATCH --ntasks=1
#SBATCH --output=/s/launch-codex-%j.log
#SBATCH --time=8:00:00
#SBATCH --export=HOME,PATH
exec /usr/bin/launch --yes codex -- exec 'it'\''s'
`
	if got != want {
		t.Errorf("JobScript =\n%s\nwant\n%s", got, want)
	}
}
