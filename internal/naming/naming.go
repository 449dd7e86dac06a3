// Package naming holds the rules for the names and labels that launch gives
// containers, shared by every engine that has them (Docker, Podman): one
// container-name rule, one set of label keys, one rule for clashing labels.
//
// It imports plan and the standard library only.
package naming

import (
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/launchcli/launch/plan"
)

// Label keys. Every container launch creates carries LabelAgent,
// LabelWorkspace and LabelPlan; a real run adds LabelPID and LabelStarted.
const (
	LabelAgent     = "dev.launch.agent"
	LabelWorkspace = "dev.launch.workspace"
	// LabelPlan carries plan.Plan.Hash, so a container can be traced to the
	// plan that made it.
	LabelPlan = "dev.launch.plan"
	// LabelPID holds the process id of the launch that created the container.
	LabelPID = "dev.launch.pid"
	// LabelStarted holds when that launch started, in RFC 3339 UTC.
	LabelStarted = "dev.launch.started"
	// LabelUser holds the uid of who ran launch: `launch ps` lists only
	// the caller's sessions on an engine that several users share.
	LabelUser = "dev.launch.user"
	// LabelNetwork holds the network policy, for `launch ps`.
	LabelNetwork = "dev.launch.network"
	// LabelPorts holds the published ports (plan.Port's IP:HOSTPORT:CTRPORT,
	// comma-separated), for `launch ps`; absent when none.
	LabelPorts = "dev.launch.ports"
	// LabelDetached is "true" on a session started with --detach: no
	// launch process is attached to it.
	LabelDetached = "dev.launch.detached"
	// LabelSidecar, on an agent's container, names the proxy sidecar of
	// its allowlist (plan.Sidecar); on the sidecar container and its
	// volume it holds the sidecar's name, marking them as launch's.
	LabelSidecar = "dev.launch.sidecar"
	// LabelSidecarVolume names the volume of the sidecar's socket.
	LabelSidecarVolume = "dev.launch.sidecar-volume"
)

// SidecarLabels are the labels of the sidecar and of its volume: the
// marker LabelSidecar with the sidecar's name, LabelSidecarVolume with the
// volume's, and the run's labels that say whose it is and which launch
// made it (LabelUser, LabelPID, LabelStarted).
func SidecarLabels(name, volume string, run map[string]string) map[string]string {
	m := map[string]string{LabelSidecar: name, LabelSidecarVolume: volume}
	for _, k := range []string{LabelUser, LabelPID, LabelStarted} {
		if v, ok := run[k]; ok {
			m[k] = v
		}
	}
	return m
}

// AgentLabels are the run labels extra of an agent's container and, when
// its allowlist goes through the proxy sidecar x (not nil), the labels that
// name that sidecar and its volume (LabelSidecar, LabelSidecarVolume); a key
// of extra wins.
func AgentLabels(x *plan.Sidecar, extra map[string]string) map[string]string {
	if x == nil {
		return extra
	}
	m := map[string]string{LabelSidecar: x.Name, LabelSidecarVolume: x.Volume}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// validName is the engines' rule for container names (Docker's and
// Podman's are the same).
var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) })

// CheckName reports whether name is a container name the engines take;
// empty is allowed (the engine then picks one).
func CheckName(name string) error {
	if name != "" && !validName().MatchString(name) {
		return plan.Errorf(plan.ErrInvalid, "container name %q: want letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	return nil
}

// ContainerName is the name launch gives a Plan's container:
// launch-AGENT-WORKSPACEDIR, each run of characters the engines refuse made
// one '-'.
func ContainerName(p plan.Plan) string {
	return JoinName("launch", p.Agent, filepath.Base(p.Workspace))
}

// JoinName builds a valid container name from its parts
// ("launch", "codex", "my proj" → "launch-codex-my-proj"): each run of
// characters the engine refuses becomes one '-', and empty parts are left out.
func JoinName(parts ...string) string {
	var out []string
	for _, p := range parts {
		var b strings.Builder
		dash := false
		for _, r := range p {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
			if !ok {
				if !dash && b.Len() > 0 {
					b.WriteByte('-')
				}
				dash = true
				continue
			}
			b.WriteRune(r)
			dash = false
		}
		if s := strings.Trim(b.String(), "-._"); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "-")
}

// Numbered is the name tried for the n-th attempt when name is taken:
// name, name-2, name-3, ...
func Numbered(name string, n int) string {
	if n <= 1 {
		return name
	}
	return name + "-" + strconv.Itoa(n)
}

// RunLabels are the labels of a real run (never of a dry run, whose output
// must not change from one run to the next): the launcher's pid and start
// time.
func RunLabels(pid int, started time.Time) map[string]string {
	return map[string]string{
		LabelPID:     strconv.Itoa(pid),
		LabelStarted: started.UTC().Format(time.RFC3339),
	}
}

// SessionLabels are the labels of a real run that `launch ps` reads besides
// the Plan's: who ran it, its network policy, and whether it is detached.
func SessionLabels(uid int, network string, detached bool) map[string]string {
	m := map[string]string{LabelUser: strconv.Itoa(uid), LabelNetwork: network}
	if detached {
		m[LabelDetached] = "true"
	}
	return m
}

// Labels are all the labels of p's container: the Plan's own, LabelPlan and
// extra (RunLabels, say). A key given twice, or a key with '=' or blanks,
// is an error wrapping plan.ErrInvalid on every engine.
func Labels(p plan.Plan, extra map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(p.Labels)+len(extra)+1)
	add := func(from string, m map[string]string) error {
		for _, k := range sortedKeys(m) {
			if k == "" || strings.ContainsAny(k, "= \t\n") {
				return plan.Errorf(plan.ErrInvalid, "label %q (%s): a key has no '=' or blanks and is not empty", k, from)
			}
			if _, dup := out[k]; dup {
				return plan.Errorf(plan.ErrInvalid, "label %q (%s): already set; a label is set once", k, from)
			}
			out[k] = m[k]
		}
		return nil
	}
	if err := add("plan", p.Labels); err != nil {
		return nil, err
	}
	if err := add("launch", map[string]string{LabelPlan: p.Hash()}); err != nil {
		return nil, err
	}
	if err := add("run", extra); err != nil {
		return nil, err
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
