package docker

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/launchcli/launch/internal/health"
)

// prober is the part of the Engine API that Doctor reads.
type prober interface {
	DaemonHost() string
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
}

// Doctor reports on the Docker engine h points at: which endpoint answers,
// its version, whether it is rootless, whether runsc is registered, and
// whether image is present. Ready means an engine answers.
func Doctor(ctx context.Context, h Host, image string) health.Report {
	r := health.Report{Backend: "docker"}
	c, err := Connect(ctx, h)
	var ue *UnreachableError
	switch {
	case errors.As(err, &ue) && len(ue.Denied) > 0:
		r.Add("endpoints tried", strings.Join(ue.Tried, "; "))
		r.Fail("permission denied on the docker socket "+strings.Join(ue.Denied, ", "), DeniedFix)
		return r
	case errors.As(err, &ue):
		r.Add("endpoints tried", strings.Join(ue.Tried, "; "))
		r.Fail("no docker engine answers", "start dockerd (Linux: sudo systemctl start docker, or dockerd &), Docker Desktop, colima start or OrbStack; or point DOCKER_HOST at a running engine; or use --backend podman or singularity")
		return r
	case err != nil:
		r.Fail(err.Error(), "fix the docker context or DOCKER_HOST (docker context ls), or unset them")
		return r
	}
	defer c.Close()
	r.Ready = true
	probe(ctx, &r, c, image)
	return r
}

// probe reads the engine's facts through p.
func probe(ctx context.Context, r *health.Report, p prober, image string) {
	r.Add("endpoint", p.DaemonHost())
	res, err := p.Info(ctx, client.InfoOptions{})
	if err != nil {
		r.Fail("docker info: "+err.Error(), "check the engine's log; is it starting up?")
		return
	}
	info := res.Info
	r.Add("version", info.ServerVersion)
	rootless := "no"
	if slices.ContainsFunc(info.SecurityOptions, func(o string) bool { return strings.Contains(o, "name=rootless") }) {
		rootless = "yes"
	}
	r.Add("rootless", rootless)
	if rt, ok := info.Runtimes["runsc"]; ok {
		r.Add("runsc", "registered")
		if !allowsHostUDS(rt.Args) {
			r.Warn("--runtime runsc with --network allow=...: gVisor refuses connections to host Unix sockets (runtime arguments "+strings.Join(rt.Args, " ")+"), so the allowlist's proxy is unreachable under runsc",
				`add "runtimeArgs": ["--host-uds=open"] to the runsc entry of /etc/docker/daemon.json and reload dockerd (kill -HUP); --network none and open work as they are`)
		}
	} else {
		r.Add("runsc", "not registered (runtimes: "+strings.Join(sortedKeys(info.Runtimes), ", ")+")")
		r.Warn("--runtime runsc (gVisor) is not available on this engine",
			`install gVisor (https://gvisor.dev/docs/user_guide/install/), add {"runtimes": {"runsc": {"path": "/usr/local/bin/runsc"}}} to /etc/docker/daemon.json and restart dockerd (not on Docker Desktop for macOS)`)
	}
	if image == "" {
		return
	}
	_, err = p.ImageInspect(ctx, image)
	switch {
	case err == nil:
		r.Add("image", image+" (present)")
	case errdefs.IsNotFound(err):
		r.Add("image", image+" (not pulled yet)")
		r.Warn("image "+image+" is not on this engine", "launch pulls launch's own image on first use (--pull missing); or docker pull "+image)
	default:
		r.Add("image", image+" (cannot inspect)")
		r.Warn("inspect image "+image+": "+err.Error(), "check the engine's log")
	}
}
