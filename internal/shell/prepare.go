package shell

import (
	"fmt"
	"path"

	"github.com/launchcli/launch/plan"
)

// Prepare returns the shell lines that create the Plan's missing host paths
// (plan.Plan.Prepare) as a real run does: directories and files private to
// the user (0700, 0600), a file only when it is missing, with its content
// exactly. Every backend's snippet starts with these lines, so the printed
// command creates what it needs and the dry run itself creates nothing.
func Prepare(hp []plan.HostPath) []string {
	var lines []string
	for _, h := range hp {
		if h.Dir {
			lines = append(lines, "mkdir -p -m 0700 "+Quote(h.Path))
			continue
		}
		lines = append(lines, fmt.Sprintf("[ -e %[1]s ] || (umask 077 && mkdir -p %[2]s && printf '%%s' %[3]s > %[1]s)",
			Quote(h.Path), Quote(path.Dir(h.Path)), Quote(h.Content)))
	}
	return lines
}
