package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/launchcli/launch/internal/iostreams"
	sess "github.com/launchcli/launch/session"
	"github.com/launchcli/launch/supervisor"
)

// slurmBackend lists the caller's detached Slurm launches (launch --slurm
// --detach: batch jobs named launch-AGENT) as squeue shows them, while
// they are queued or running; their name is the job id. stop is scancel,
// logs reads the job's log; a batch job has no terminal to attach to.
func slurmBackend(h *Host) (sessionBackend, bool) {
	if _, err := h.LookPath("squeue"); err != nil {
		return sessionBackend{}, false
	}
	logDir := filepath.Join(stateDir(h), "slurm")
	// jobLogs are the logs of job id (launch-AGENT-JOBID.log).
	jobLogs := func(id string) []string {
		logs, _ := filepath.Glob(filepath.Join(logDir, "*-"+id+".log"))
		return logs
	}
	list := func(ctx context.Context, all bool) ([]sess.Info, error) {
		out, err := exec.CommandContext(ctx, "squeue", "-h", "-u", strconv.Itoa(h.UID), "-o", "%i|%j|%T|%S|%Z").Output()
		if err != nil {
			return nil, fmt.Errorf("squeue: %w", err)
		}
		var infos []sess.Info
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Split(line, "|")
			if len(f) != 5 || !strings.HasPrefix(f[1], "launch-") {
				continue
			}
			i := sess.Info{Name: f[0], ID: f[0], Agent: strings.TrimPrefix(f[1], "launch-"), Backend: "slurm",
				Workspace: f[4], Status: sess.Status(strings.ToLower(f[2])), Network: "-", Detached: true, UID: h.UID}
			if t, err := time.ParseInLocation("2006-01-02T15:04:05", f[3], time.Local); err == nil {
				i.Started = t
			}
			infos = append(infos, i)
		}
		if all {
			for _, i := range endedJobs(logDir, infos) {
				i.UID = h.UID
				infos = append(infos, i)
			}
		}
		return infos, nil
	}
	cancel := func(ctx context.Context, i sess.Info) error {
		if i.Status.Ended() {
			// Over: its log (and launch's record of it) is all that is left.
			for _, l := range jobLogs(i.ID) {
				if err := os.Remove(l); err != nil {
					return err
				}
				os.Remove(strings.TrimSuffix(l, ".log") + ".json")
			}
			return nil
		}
		if out, err := exec.CommandContext(ctx, "scancel", i.ID).CombinedOutput(); err != nil {
			return fmt.Errorf("scancel %s: %w: %s", i.ID, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	return sessionBackend{
		name: "slurm",
		list: list,
		stop: cancel, remove: cancel,
		logs: func(ctx context.Context, i sess.Info, follow bool, out, _ io.Writer) error {
			logs := jobLogs(i.ID)
			if len(logs) == 0 {
				return fmt.Errorf("Slurm job %s: no log under %s yet (it may still be queued)", i.ID, logDir)
			}
			queued := func() bool {
				b, err := exec.CommandContext(ctx, "squeue", "-h", "-j", i.ID).Output()
				return err == nil && len(strings.TrimSpace(string(b))) > 0
			}
			return supervisor.CopyLog(ctx, logs[0], follow, queued, out)
		},
		attach: func(_ context.Context, i sess.Info, _ iostreams.Streams, _ string) (bool, int, error) {
			return false, 0, usagef("Slurm job %s: a batch job has no terminal to attach to; follow its output with launch logs -f %s", i.ID, i.ID)
		},
		close: func() {},
	}, true
}

// endedJobs are the detached launches whose log (launch-AGENT-JOBID.log)
// is left and whose job squeue no longer shows: ended, exit code unknown.
func endedJobs(logDir string, queued []sess.Info) []sess.Info {
	logs, _ := filepath.Glob(filepath.Join(logDir, "launch-*-*.log"))
	var out []sess.Info
	for _, l := range logs {
		base := strings.TrimSuffix(filepath.Base(l), ".log")
		cut := strings.LastIndex(base, "-")
		id, agent := base[cut+1:], strings.TrimPrefix(base[:cut], "launch-")
		if _, err := strconv.Atoi(id); err != nil || len(sess.Find(queued, id)) > 0 {
			continue
		}
		i := sess.Info{Name: id, ID: id, Agent: agent, Backend: "slurm", Status: sess.Exited, Network: "-", Detached: true}
		// The log's times are when the job last wrote (a cancelled job:
		// when it was cancelled); when it was launched and where come
		// from launch's record, made as it submitted the job.
		if rec, err := readJobRecord(strings.TrimSuffix(l, ".log") + ".json"); err == nil {
			i.Workspace, i.Started = rec.Workspace, rec.Submitted
		}
		out = append(out, i)
	}
	return out
}

// jobRecord is what launch keeps of a detached Slurm launch next to its
// log (launch-AGENT-JOBID.json): where it runs and when it was submitted.
type jobRecord struct {
	Workspace string    `json:"workspace"`
	Submitted time.Time `json:"submitted"`
}

func writeJobRecord(dir, name, id string, r jobRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+"-"+id+".json"), b, 0o600)
}

func readJobRecord(p string) (jobRecord, error) {
	var r jobRecord
	b, err := readSmall(p, 1<<16)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	return r, err
}
