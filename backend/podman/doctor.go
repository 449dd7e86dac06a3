package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/launchcli/launch/internal/health"
)

// DoctorCLI is how Doctor reaches Podman: through the podman program, as a
// user would (`podman info`, `podman image exists`). Doctor uses the CLI,
// not a service connection, so that it reports what the user's own podman
// sees, whether local or remote (CONTAINER_HOST, podman machine).
type DoctorCLI interface {
	// LookPath finds a program on the user's PATH.
	LookPath(name string) (string, error)
	// Capture runs argv and returns its standard output and error.
	Capture(ctx context.Context, argv []string) (stdout, stderr []byte, err error)
}

// info is the part of `podman info --format json` that Doctor reads.
type info struct {
	Host struct {
		Security struct {
			Rootless bool `json:"rootless"`
		} `json:"security"`
		OCIRuntime struct {
			Name string `json:"name"`
		} `json:"ociRuntime"`
		ServiceIsRemote bool `json:"serviceIsRemote"`
	} `json:"host"`
	Version struct {
		Version string `json:"Version"`
	} `json:"version"`
}

// Doctor reports on Podman: the binary; the service the user named (--url,
// CONTAINER_HOST, a connection), as launch reaches it; whether the podman
// command's service answers, its version, rootless or not; whether runsc is
// installed where Podman finds runtimes, and whether image is present.
// Ready means that both answer.
func Doctor(ctx context.Context, cli DoctorCLI, h Host, image string) health.Report {
	r := health.Report{Backend: "podman"}
	bin, err := cli.LookPath("podman")
	if err != nil {
		r.Fail("podman is not installed (not on PATH)", "install Podman (Debian/Ubuntu: apt-get install podman; macOS: Podman Desktop), or use --backend docker or singularity")
		return r
	}
	r.Add("binary", bin)
	if !doctorNamed(ctx, h, &r) {
		return r
	}
	out, errOut, err := cli.Capture(ctx, []string{bin, "info", "--format", "json"})
	if err != nil {
		r.Fail("podman info: "+lastLine(errOut, err), "start the service: podman machine start (macOS), systemctl --user start podman.socket (Linux, rootless); check CONTAINER_HOST and podman system connection list")
		return r
	}
	var in info
	if err := json.Unmarshal(out, &in); err != nil {
		r.Fail("podman info: unreadable output: "+err.Error(), "update Podman (4.0 or later)")
		return r
	}
	r.Ready = true
	r.Add("version", in.Version.Version)
	r.Add("rootless", yesNo(in.Host.Security.Rootless))
	if in.Host.ServiceIsRemote {
		r.Add("service", "remote (podman machine or CONTAINER_HOST)")
	}
	r.Add("default runtime", in.Host.OCIRuntime.Name)
	// Podman finds runtimes by name on its runtime paths ([engine.runtimes]
	// in containers.conf, /usr/local/bin and /usr/bin among them); PATH is
	// the user-visible approximation.
	if p, err := cli.LookPath("runsc"); err == nil {
		r.Add("runsc", "installed ("+p+")")
	} else {
		r.Add("runsc", "not installed")
		r.Warn("--runtime runsc (gVisor) is not available to Podman", "install gVisor's runsc in /usr/local/bin (https://gvisor.dev/docs/user_guide/install/); not available on macOS")
	}
	if image == "" {
		return r
	}
	_, errOut, err = cli.Capture(ctx, []string{bin, "image", "exists", image})
	var ee interface{ ExitCode() int }
	switch {
	case err == nil:
		r.Add("image", image+" (present)")
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		r.Add("image", image+" (not pulled yet)")
		r.Warn("image "+image+" is not in Podman's storage", "podman pull "+image)
	default:
		r.Add("image", image+" (cannot check)")
		r.Warn("podman image exists "+image+": "+lastLine(errOut, err), "check podman info")
	}
	return r
}

// doctorNamed checks the service the user named (--url, CONTAINER_HOST, a
// connection), through launch's own client: the podman command may read
// another (Podman 4 reads no podman-connections.json). A podman machine
// that is not running is said so, with the command that starts it. It
// reports false, with the problem in r, when launch cannot reach the
// service; true when it can, or when the user named none (the podman
// command's check below covers the default sockets).
func doctorNamed(ctx context.Context, h Host, r *health.Report) bool {
	eps, err := Endpoints(h)
	if err != nil {
		r.Fail(err.Error(), "fix the file it names, or list the connections: podman system connection ls")
		return false
	}
	ep := eps[0]
	if !ep.Named {
		return true
	}
	r.Add("connection", ep.String())
	c, err := dial(ctx, ep)
	if err != nil {
		r.Fail(unreachable(ep, err))
		return false
	}
	kind := "rootful"
	if c.Rootless {
		kind = "rootless"
	}
	if c.Machine {
		kind += ", in a podman machine"
	}
	r.Add("its service", kind)
	return true
}

// lastLine is the last line of a program's standard error, or err.
func lastLine(stderr []byte, err error) string {
	lines := strings.Split(strings.TrimSpace(string(bytes.TrimSpace(stderr))), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return strings.TrimPrefix(l, "Error: ")
	}
	return err.Error()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
