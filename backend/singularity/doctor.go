package singularity

import (
	"context"
	"errors"
	"os"
	"path"
	"strings"

	"github.com/launchcli/launch/internal/health"
)

// DoctorHost is what Doctor reads from the host. Host satisfies it.
type DoctorHost interface {
	// LookPath finds a command as exec.LookPath does.
	LookPath(file string) (string, error)
	// Output runs argv to completion and returns its standard output.
	Output(ctx context.Context, argv []string) ([]byte, error)
	// NeedsUserNS and FUSEUsable are Host's.
	NeedsUserNS() bool
	FUSEUsable() bool
}

// Doctor reports on the Apptainer/Singularity runtime: the binary (name is
// --singularity-bin, empty for the default search), its version, whether a
// user namespace is needed here, whether SIF files can be mounted
// (FUSE) or are unpacked into the sandbox cache, and whether image (a SIF
// path, or an oras:// or docker:// reference looked up in cacheDir) is
// present. Ready means the binary is found and answers --version.
func Doctor(ctx context.Context, h DoctorHost, name, image, cacheDir string) health.Report {
	r := health.Report{Backend: "singularity"}
	rt, err := FindRuntime(h.LookPath, name)
	if err != nil {
		what := "no apptainer or singularity on PATH"
		if name != "" {
			what = "runtime " + name + " not found"
		}
		r.Fail(what, "on an HPC cluster: module load apptainer (on a compute node: sinteractive); on Debian/Ubuntu install apptainer (https://apptainer.org/docs/admin/main/installation.html); or use --backend docker or podman")
		return r
	}
	r.Add("binary", rt.Path)
	out, err := h.Output(ctx, []string{rt.Path, "--version"})
	if err != nil {
		r.Fail(rt.Path+" --version: "+err.Error(), "reinstall the runtime, or point --singularity-bin at a working one")
		return r
	}
	flavour, version, err := parseVersion(string(out))
	if err != nil {
		r.Fail(rt.Path+" --version: "+err.Error(), "point --singularity-bin at apptainer or singularity")
		return r
	}
	r.Ready = true
	r.Add("version", string(flavour)+" "+version)
	r.Add("user namespace", map[bool]string{true: "needed here (--userns: root without CAP_SYS_RESOURCE)", false: "not needed"}[h.NeedsUserNS()])
	if h.FUSEUsable() {
		r.Add("/dev/fuse", "usable (SIF files are mounted)")
	} else {
		r.Add("/dev/fuse", "not usable (a SIF is unpacked once into launch's sandbox cache and that copy is reused: the first launch of an image is slower)")
	}
	r.Add("runsc", "not applicable (Apptainer has its own runtime)")
	if image != "" {
		doctorImage(&r, image, cacheDir)
	}
	return r
}

// doctorImage reports whether the image is there: a local SIF or sandbox,
// or a remote reference already pulled into the cache.
func doctorImage(r *health.Report, image, cacheDir string) {
	file := image
	scheme, rest, remote := strings.Cut(image, "://")
	if remote {
		if scheme != "oras" && scheme != "docker" || !path.IsAbs(cacheDir) {
			r.Add("image", image)
			return
		}
		file = path.Join(path.Clean(cacheDir), cacheKey(scheme, rest)+".sif")
	}
	_, err := os.Stat(file)
	switch {
	case err == nil && remote:
		r.Add("image", image+" (pulled: "+file+")")
	case err == nil:
		r.Add("image", image+" (present)")
	case errors.Is(err, os.ErrNotExist) && remote:
		r.Add("image", image+" (not pulled yet)")
		r.Warn("image "+image+" is not in launch's cache", "launch pulls it on first use into "+cacheDir+" (--pull missing); on a cluster, pull on a node with network access")
	default:
		r.Add("image", image+" (missing)")
		r.Fail("image "+image+": "+err.Error(), "check --sif-path, or build the SIF: apptainer build IMAGE.sif docker://...")
	}
}
