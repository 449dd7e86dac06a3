package shell

import (
	"maps"
	"slices"
)

// Sidecar is what a printed snippet needs to know of a proxy sidecar
// (docker's or podman's, which take the same commands): the CLI, the volume
// the sidecar shares with the agent and its create options and labels, the
// sidecar's name and run command, and the line it prints once it listens.
type Sidecar struct {
	CLI           string // "docker" or "podman"
	Volume        string
	VolumeOptions map[string]string
	VolumeLabels  map[string]string
	Name          string
	Run           []string // the sidecar's `CLI run -d ...`
	Ready         string
}

// Wrap is the subshell that creates the volume and the sidecar, waits until
// the sidecar listens, runs the agent's command line run, and removes both
// on every exit of the subshell; a detached run keeps them once its
// container runs. term are the terminal lines (Terminal) for an attached
// run, prepare the host preparation (Prepare). Only what the snippet made is
// removed: a volume of that name from before (an earlier launch with the
// same pid, whose session may be detached) stops it instead.
func (s Sidecar) Wrap(term, prepare []string, run string, detach bool) []string {
	create := []string{s.CLI, "volume", "create"}
	for _, k := range slices.Sorted(maps.Keys(s.VolumeOptions)) {
		create = append(create, "--opt", k+"="+s.VolumeOptions[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.VolumeLabels)) {
		create = append(create, "--label", k+"="+s.VolumeLabels[k])
	}
	create = append(create, s.Volume)
	vol, name := Quote(s.Volume), Quote(s.Name)
	removeVolume := s.CLI + " volume rm " + vol + " >/dev/null 2>&1"
	removeBoth := s.CLI + " rm -f " + name + " >/dev/null 2>&1; " + removeVolume
	exists := s.CLI + " volume inspect " + vol + " >/dev/null 2>&1 && { echo " +
		Quote("launch: volume "+s.Volume+" exists: see launch ps, or remove it with launch gc") + " >&2; exit 125; }"
	ready := "i=0; until " + s.CLI + " logs " + name + " 2>&1 | grep -q " + Quote(s.Ready) +
		"; do i=$((i+1)); if [ $i -ge 150 ]; then " + s.CLI + " logs " + name + "; exit 125; fi; sleep 0.1; done"
	lines := append([]string{"("}, term...)
	lines = append(lines, prepare...)
	lines = append(lines,
		exists,
		Join(create)+" >/dev/null || exit 125",
		"trap "+Quote(removeVolume)+" EXIT",
		"trap : HUP INT TERM",
		Join(s.Run)+" >/dev/null || exit 125",
		"trap "+Quote(removeBoth)+" EXIT",
		ready,
	)
	if detach {
		// The session outlives this shell: keep its sidecar.
		run += " && trap - EXIT"
	}
	return append(lines, run, ")")
}
