package session

import (
	"strconv"

	"github.com/launchcli/launch/internal/naming"
)

// Volume is a volume's name and labels, as an engine lists it.
type Volume struct {
	Name   string
	Labels map[string]string
}

// LeftSidecars is what of an engine's sidecar containers and volumes
// belongs to the user uid and no session's container names: what a launch
// killed between creating them and creating its agent's container leaves
// behind. containers are the labels of the containers labelled
// naming.LabelSidecar (agents' and sidecars'), volumes the volumes so
// labelled. Each leftover is an Info of the backend and endpoint whose
// Sidecar and SidecarVolume name what to remove (one of them may be empty),
// with the PID and start time of the launch that made it. The user is
// checked here as well as in the engine's filter: Podman ORs label filters
// on volumes.
func LeftSidecars(backend, endpoint string, uid int, containers []map[string]string, volumes []Volume) []Info {
	user := strconv.Itoa(uid)
	used := map[string]bool{} // the sidecars and volumes sessions name
	for _, l := range containers {
		if _, agent := l[naming.LabelPlan]; agent {
			used[l[naming.LabelSidecar]] = true
			used[l[naming.LabelSidecarVolume]] = true
		}
	}
	var out []Info
	left := func(labels map[string]string, container, vol string) {
		i := FromLabels(labels)
		i.Backend, i.Endpoint, i.Name, i.Sidecar, i.SidecarVolume = backend, endpoint, container, container, vol
		if i.Name == "" {
			i.Name = vol
		}
		out = append(out, i)
	}
	for _, l := range containers {
		name := l[naming.LabelSidecar]
		if _, agent := l[naming.LabelPlan]; agent || used[name] || l[naming.LabelUser] != user {
			continue
		}
		used[l[naming.LabelSidecarVolume]] = true // removed with it
		left(l, name, l[naming.LabelSidecarVolume])
	}
	for _, v := range volumes {
		if !used[v.Name] && v.Labels[naming.LabelUser] == user {
			left(v.Labels, "", v.Name)
		}
	}
	return out
}
