package main

import (
	"testing"
	"time"

	sess "github.com/launchcli/launch/session"
)

// TestGuardSessionEnded: a detached session's record is checked when its
// session is listed as ended, or is gone from a backend of its kind that
// answered; not while it runs, not when its backend did not answer, and a
// later session under the same name does not stand for it.
func TestGuardSessionEnded(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rec := guardRecord{Backend: backendDocker, Name: "launch-shell-p", Started: at}
	ses := func(status sess.Status, started time.Time) []found {
		return []found{{Info: sess.Info{Name: "launch-shell-p", Backend: "docker", Detached: true, Status: status, Started: started}}}
	}
	for _, tc := range []struct {
		name     string
		answered bool
		list     []found
		want     bool
	}{
		{"running", true, ses(sess.Running, at.Add(-time.Second)), false},
		{"exited", true, ses(sess.Exited, at.Add(-time.Second)), true},
		{"removed", true, nil, true},
		{"backend did not answer", false, nil, false},
		{"a later session of that name", true, ses(sess.Running, at.Add(time.Hour)), true},
		{"started before the record (rendered, then confirmed)", true, ses(sess.Running, at.Add(-10*time.Minute)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := guardSessionEnded(rec, tc.answered, tc.list); got != tc.want {
				t.Errorf("ended = %v, want %v", got, tc.want)
			}
		})
	}
}
