package session

import (
	"reflect"
	"testing"

	"github.com/launchcli/launch/internal/naming"
)

func TestLeftSidecars(t *testing.T) {
	side := func(name, vol, uid, pid string) map[string]string {
		return map[string]string{naming.LabelSidecar: name, naming.LabelSidecarVolume: vol, naming.LabelUser: uid, naming.LabelPID: pid}
	}
	agent := side("launch-proxy-1", "launch-net-1", "1000", "1")
	agent[naming.LabelPlan] = "{}"
	containers := []map[string]string{
		agent,
		side("launch-proxy-1", "launch-net-1", "1000", "1"), // a session's
		side("launch-proxy-2", "launch-net-2", "1000", "2"), // left, with its volume
		side("launch-proxy-3", "launch-net-3", "0", "3"),    // another user's
	}
	volumes := []Volume{
		{Name: "launch-net-1", Labels: side("launch-proxy-1", "launch-net-1", "1000", "1")},
		{Name: "launch-net-2", Labels: side("launch-proxy-2", "launch-net-2", "1000", "2")},
		{Name: "launch-net-4", Labels: side("launch-proxy-4", "launch-net-4", "1000", "4")}, // left alone
		{Name: "launch-net-5", Labels: side("launch-proxy-5", "launch-net-5", "0", "5")},    // another user's
	}
	got := LeftSidecars("docker", "unix:///x.sock", 1000, containers, volumes)
	type row struct {
		Backend, Endpoint, Name, Sidecar, Volume string
		PID, UID                                 int
	}
	var rows []row
	for _, i := range got {
		rows = append(rows, row{i.Backend, i.Endpoint, i.Name, i.Sidecar, i.SidecarVolume, i.PID, i.UID})
	}
	want := []row{
		{"docker", "unix:///x.sock", "launch-proxy-2", "launch-proxy-2", "launch-net-2", 2, 1000},
		{"docker", "unix:///x.sock", "launch-net-4", "", "launch-net-4", 4, 1000},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("LeftSidecars:\n got %+v\nwant %+v", rows, want)
	}
}
