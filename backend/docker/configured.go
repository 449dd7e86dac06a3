package docker

import (
	"os"
	"strings"
)

// Configured reports whether h points at a Docker engine, without asking
// it: DOCKER_HOST or a Docker context is set, or one of the well-known
// sockets exists. cmd/launch uses it to choose a default backend; the
// connection rules stay here, with Endpoints.
func Configured(h Host) bool {
	eps, err := Endpoints(h)
	if err != nil {
		return true // a context is named but broken: Connect says why
	}
	exists := h.Exists
	if exists == nil {
		exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	for _, ep := range eps {
		p, unix := strings.CutPrefix(ep.Host, "unix://")
		if !unix || exists(p) {
			return true
		}
	}
	return false
}
