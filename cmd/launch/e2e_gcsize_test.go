//go:build integration

package main

import (
	"encoding/json"
	"strings"
	"testing"

	sess "github.com/launchcli/launch/session"
)

// TestE2EGCContainerSize: launch gc shows an ended container's size, its
// writable layer as the engine reports it (Docker, Podman), and counts it
// in the total.
func TestE2EGCContainerSize(t *testing.T) {
	for _, b := range e2eBackends {
		if b.name == backendSingularity {
			continue // no containers that outlive the run
		}
		t.Run(string(b.name), func(t *testing.T) {
			s := newSession(t, b)
			name, list := detachUntilEnded(t, s, "head -c 3000000 /dev/zero > /tmp/fill && sync")
			if len(list) != 1 || list[0].ExitCode == nil || *list[0].ExitCode != 0 {
				t.Fatalf("ps -a: %+v, want %s ended with 0", list, name)
			}
			out, errOut, code := s.runPlain("gc", "--dry-run", "--json")
			var left []sess.Leftover
			if err := json.Unmarshal([]byte(out), &left); code != 0 || err != nil {
				t.Fatalf("gc --dry-run --json: exit %d, %v:\n%s%s", code, err, out, errOut)
			}
			var size int64 = -2
			for _, l := range left {
				if l.Kind == "container" && strings.HasPrefix(l.Path, name+" ") {
					size = l.Size
				}
			}
			if size < 3000000 {
				t.Errorf("gc lists %s with size %d, want at least the 3000000 bytes it wrote: %+v", name, size, left)
			}
			// The table shows that size on the container's line, and the
			// total counts every size gc knows.
			var total int64
			for _, l := range left {
				if l.Size > 0 {
					total += l.Size
				}
			}
			out, _, _ = s.runPlain("gc", "--dry-run")
			shown := false
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, name+" ") && strings.Contains(line, sess.FormatSize(size)) {
					shown = true
				}
			}
			if !shown || !strings.Contains(out, "would free "+sess.FormatSize(total)+" in ") {
				t.Errorf("gc --dry-run does not show %s's size %s and the total %s:\n%s", name, sess.FormatSize(size), sess.FormatSize(total), out)
			}
		})
	}
}
