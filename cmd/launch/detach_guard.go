package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/launchcli/launch/creds"
	"github.com/launchcli/launch/guard"
)

// The protected paths of a detached Docker or Podman session: launch is not
// there when the session ends, so it fingerprints them at the detach
// (guard.Take, as an attached run does), keeps the fingerprint in
// $XDG_STATE_HOME/launch/guard/BACKEND-NAME.json, and checks it when a
// session command finds the session ended (launch stop, attach, ps, gc):
// what changed is moved aside and reported, as after an attached run. A
// supervised (Apptainer) session needs none of this: the launch its
// supervisor runs is attached and checks itself.

// guardRecord is a detached session's fingerprint of its protected paths.
type guardRecord struct {
	Backend   backendName    `json:"backend"`
	Name      string         `json:"name"`
	Workspace string         `json:"workspace"`
	Started   time.Time      `json:"started"`
	Snapshot  guard.Snapshot `json:"snapshot"`
}

// startedSlack is how much later than its record a session under the
// record's name may have started (dev.launch.started, set when the run was
// rendered: before the record) and still be the recorded one; one that
// started later is a later session under the same name.
const startedSlack = time.Minute

func guardDir(h *Host) string { return filepath.Join(stateDir(h), "guard") }

func guardFile(h *Host, backend backendName, name string) string {
	return filepath.Join(guardDir(h), string(backend)+"-"+name+".json")
}

// saveGuard writes rec, atomically.
func saveGuard(h *Host, rec guardRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return creds.WriteFileAtomic(guardFile(h, rec.Backend, rec.Name), b, 0o600)
}

// readGuards reads every record; an unreadable one is skipped.
func readGuards(h *Host) []guardRecord {
	entries, err := os.ReadDir(guardDir(h))
	if err != nil {
		return nil
	}
	var out []guardRecord
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(guardDir(h), e.Name()))
		var rec guardRecord
		if err == nil && json.Unmarshal(b, &rec) == nil && rec.Name != "" {
			out = append(out, rec)
		}
	}
	return out
}

// checkEndedGuards checks the protected paths of each recorded detached
// session that has ended: its session is listed as ended, or is no longer
// listed by a backend of its kind that answered (stopped and removed). A
// session still running, or on a backend that did not answer, waits for a
// later command. Changes are moved aside and reported on w; the record of
// a checked session is removed.
func checkEndedGuards(ctx context.Context, w io.Writer, h *Host, bs []sessionBackend) error {
	recs := readGuards(h)
	if len(recs) == 0 {
		return nil
	}
	var list []found
	answered := map[backendName]bool{}
	for i := range bs {
		l, err := bs[i].list(ctx, true)
		if err != nil {
			continue
		}
		answered[bs[i].name] = true
		for _, x := range l {
			list = append(list, found{x, &bs[i]})
		}
	}
	var errs []error
	for _, rec := range recs {
		if !guardSessionEnded(rec, answered[rec.Backend], list) {
			continue
		}
		what := fmt.Sprintf("detached session %s (%s, workspace %s)", rec.Name, rec.Backend, rec.Workspace)
		if err := checkProtectedOf(w, what, rec.Snapshot); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(guardFile(h, rec.Backend, rec.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// guardSessionEnded reports whether rec's session is over, as list (every
// session of the backends that answered) shows it; answered reports
// whether a backend of rec's kind did.
func guardSessionEnded(rec guardRecord, answered bool, list []found) bool {
	for _, f := range list {
		if backendName(f.Backend) != rec.Backend || f.Name != rec.Name || !f.Detached {
			continue
		}
		if f.Started.After(rec.Started.Add(startedSlack)) {
			continue // a later session under the same name
		}
		return f.Status.Ended()
	}
	return answered
}
