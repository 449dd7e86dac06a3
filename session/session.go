// Package session describes the sessions launch started: what `launch ps`
// lists and `launch attach`, `stop`, `logs` and `gc` act on, whichever
// backend runs them. Docker and Podman keep a session's facts in its
// container's labels (internal/naming); this package holds the neutral
// record, the detach keys and the rules shared by every backend.
//
// It imports internal/naming (the label keys) and the standard library;
// never a backend or cmd.
package session

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/launchcli/launch/internal/naming"
)

// DefaultDetachKeys is the key sequence that detaches `launch attach` from
// a session and leaves it running, as Docker's and Podman's attach.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// Status is the state of a session's container, as the engine reports it.
type Status string

// The statuses ps shows. An engine's other states (paused, restarting,
// removing, dead) are shown as the engine names them.
const (
	Created Status = "created"
	Running Status = "running"
	Exited  Status = "exited"
)

// Ended reports whether the session is over (its container exited or died).
func (s Status) Ended() bool { return s == Exited || s == "dead" || s == "stopped" }

// Info is one session as `launch ps` shows it.
type Info struct {
	// Name is the container's name, which every session command takes.
	Name string `json:"name"`
	// ID is the engine's container ID.
	ID string `json:"id"`
	// Agent is the agent's catalogue name.
	Agent string `json:"agent"`
	// Backend is the backend that runs it ("docker", "podman").
	Backend string `json:"backend"`
	// Endpoint names the engine (its socket) the session runs on.
	Endpoint string `json:"endpoint,omitempty"`
	// Workspace is the workspace's host path.
	Workspace string `json:"workspace"`
	// Started is when the launch that made it started; zero if unknown.
	Started time.Time `json:"started"`
	// Status is the engine's state of the container.
	Status Status `json:"status"`
	// ExitCode is the agent's exit code once the session has ended.
	ExitCode *int `json:"exit_code,omitempty"`
	// Network is the network policy ("none", "open", ...).
	Network string `json:"network"`
	// Ports are the published ports, IP:HOSTPORT:CTRPORT; empty for none.
	Ports []string `json:"ports,omitempty"`
	// Detached reports whether the session was started with --detach; an
	// attached one belongs to a running launch (PID).
	Detached bool `json:"detached"`
	// PID is the process id of the launch that started it.
	PID int `json:"pid,omitempty"`
	// UID is the user id of who started it.
	UID int `json:"uid"`
	// Sidecar and SidecarVolume name the proxy container and the volume of
	// its socket, for an allowlist enforced by a sidecar; removed with the
	// session. Empty otherwise.
	Sidecar       string `json:"sidecar,omitempty"`
	SidecarVolume string `json:"sidecar_volume,omitempty"`
}

// Sort orders sessions by start time, then name.
func Sort(list []Info) {
	slices.SortStableFunc(list, func(a, b Info) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Find returns the sessions in list whose name is name, or whose ID starts
// with name (at least 4 characters of it).
func Find(list []Info, name string) []Info {
	var out []Info
	for _, s := range list {
		if s.Name == name {
			return []Info{s}
		}
	}
	if len(name) >= 4 {
		for _, s := range list {
			if strings.HasPrefix(s.ID, name) {
				out = append(out, s)
			}
		}
	}
	return out
}

// CheckDetachKeys checks a detach key sequence as Docker and Podman take
// it: comma-separated keys, each one character ("a", "^") or "ctrl-X"
// where X is a letter, '@', '[', '\\', ']', '^' or '_'. Empty is allowed
// and means no detach keys (every key reaches the agent).
func CheckDetachKeys(keys string) error {
	_, err := DetachKeyBytes(keys)
	return err
}

// DetachKeyBytes are the bytes a terminal sends for the detach keys keys
// (see CheckDetachKeys): "ctrl-p,ctrl-q" is 0x10 0x11. Empty keys are none.
func DetachKeyBytes(keys string) ([]byte, error) {
	if keys == "" {
		return nil, nil
	}
	var out []byte
	for _, k := range strings.Split(keys, ",") {
		if len(k) == 1 {
			out = append(out, k[0])
			continue
		}
		x, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-")
		switch {
		case ok && len(x) == 1 && x[0] >= 'a' && x[0] <= 'z':
			out = append(out, x[0]-'a'+1)
			continue
		case ok && len(x) == 1 && strings.Contains("@[\\]^_", x):
			out = append(out, x[0]-'@')
			continue
		}
		return nil, fmt.Errorf("detach keys %q: key %q: want one character or ctrl-X (a letter, @, [, \\, ], ^ or _), comma-separated, as %q", keys, k, DefaultDetachKeys)
	}
	return out, nil
}

// FromLabels fills a session's launch facts from its container's labels
// (internal/naming); the engine's facts (ID, name, status) are the
// caller's to fill.
func FromLabels(labels map[string]string) Info {
	i := Info{
		Agent:     labels[naming.LabelAgent],
		Workspace: labels[naming.LabelWorkspace],
		Network:   labels[naming.LabelNetwork],
		Detached:  labels[naming.LabelDetached] == "true",
		UID:       -1,

		Sidecar:       labels[naming.LabelSidecar],
		SidecarVolume: labels[naming.LabelSidecarVolume],
	}
	if v := labels[naming.LabelPorts]; v != "" {
		i.Ports = strings.Split(v, ",")
	}
	if t, err := time.Parse(time.RFC3339, labels[naming.LabelStarted]); err == nil {
		i.Started = t
	}
	if n, err := strconv.Atoi(labels[naming.LabelPID]); err == nil {
		i.PID = n
	}
	if n, err := strconv.Atoi(labels[naming.LabelUser]); err == nil {
		i.UID = n
	}
	return i
}

// Mine reports whether labels are those of a container launch made for the
// user uid. A container without the user label (made by a launch before
// sessions) is nobody's.
func Mine(labels map[string]string, uid int) bool {
	_, ours := labels[naming.LabelPlan]
	return ours && labels[naming.LabelUser] == strconv.Itoa(uid)
}
