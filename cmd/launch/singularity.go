package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/launchcli/launch/backend/singularity"
	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

type singularityLauncher struct {
	singularity.Rendered
	// imageLog is where Exec's report on the image goes (--verbose); Run
	// points it at the launch's stderr.
	imageLog *io.Writer
	// started is told each runtime process's pid (the orphan watcher).
	started func(pid int)
}

// renderSingularity finds the runtime binary (without running it) and fills
// the backend's Config from host facts: the variables to keep out of the
// container, whether a user namespace or --unsquash is needed here, and the
// image cache.
func renderSingularity(p plan.Plan, o *options, h *Host) (launcher, error) {
	if err := sifChecks(p, o, h); err != nil {
		return nil, err
	}
	rt, err := singularity.FindRuntime(h.LookPath, o.SingularityBin)
	switch {
	case err != nil && o.DryRun && errors.Is(err, singularity.ErrNoRuntime):
		// A dry run prints what would run where the runtime is.
		rt = singularity.Runtime{Path: "apptainer", Flavour: singularity.FlavourApptainer}
	case err != nil:
		return nil, err
	}
	cache := h.Getenv("XDG_CACHE_HOME")
	if !filepath.IsAbs(cache) {
		cache = filepath.Join(h.Home, ".cache")
	}
	c := singularity.Config{
		Binary:   rt.Path,
		Flavour:  rt.Flavour,
		Clear:    singularity.ClearNames(h.Env),
		UserNS:   h.NeedsUserNS(),
		Unsquash: !h.FUSEUsable(),
		NvCCLI:   o.NvCCLI,
		CacheDir: filepath.Join(cache, "launch", "sif"),
	}
	if c.Unsquash {
		// Without FUSE a SIF is unpacked once and kept, not on every launch.
		c.SandboxDir = filepath.Join(cache, "launch", "sandbox")
		c.SandboxMax = int64(o.SandboxMax)
	}
	if p.Limits.Any() {
		c.NoLimits = h.CgroupLimits(rt.Path)
	}
	// Large temporary files (an unsquashed image) go where the user keeps
	// the runtime's own: node-local scratch on a cluster, say.
	for _, v := range []string{"APPTAINER_TMPDIR", "SINGULARITY_TMPDIR"} {
		if d := h.Getenv(v); filepath.IsAbs(d) {
			c.ScratchDir = filepath.Clean(d)
			break
		}
	}
	imageLog := new(io.Writer)
	*imageLog = io.Discard
	if o.Verbose {
		c.OnImage = func(i singularity.ImageInfo) { reportImage(*imageLog, i) }
	}
	r, err := singularity.Render(p, c)
	switch {
	case errors.Is(err, plan.ErrUnsupported) || errors.Is(err, plan.ErrInvalid):
		// A usage error (exit 2) that still wraps the plan's kind, which
		// unsupportedError's %v drops; errUsageMark prints nothing.
		return nil, fmt.Errorf("%w%w", err, errUsageMark{})
	case err != nil:
		return nil, err
	}
	return singularityLauncher{Rendered: r, imageLog: imageLog}, nil
}

// sifChecks refuses what a dry run would otherwise print and a real run
// then fail on: an OCI --image (this backend runs SIF images, and would
// silently run the catalogue's SIF instead), and a local --sif-path that
// does not exist or is not an image (an empty file, say).
func sifChecks(p plan.Plan, o *options, h *Host) error {
	if o.Image != "" && o.SIFPath == "" {
		return usagef("%s %q: an OCI image, which the singularity backend does not run (it runs SIF images); pass --sif-path docker://%s to have apptainer fetch and convert it, or --sif-path FILE.sif", o.from.of("image", 0), o.Image, o.Image)
	}
	if o.SIFPath == "" || strings.Contains(p.Image.SIF, "://") {
		return nil
	}
	if _, err := h.Stat(p.Image.SIF); err != nil {
		return usagef("%s %q: no such file or directory; give a .sif file, a sandbox directory, or an oras:// or docker:// reference", o.from.of("sif_path", 0), p.Image.SIF)
	}
	if h.InspectSIF != nil {
		if err := h.InspectSIF(p.Image.SIF); err != nil {
			return usagef("%s: %v", o.from.of("sif_path", 0), err)
		}
	}
	return nil
}

// reportImage prints what the SIF says about itself, labels sorted.
func reportImage(w io.Writer, i singularity.ImageInfo) {
	fmt.Fprintf(w, "launch: image %s (%s, %s)\n", i.Path, i.Kind, orDefault(i.Arch, "architecture not recorded"))
	keys := make([]string, 0, len(i.Labels))
	for k := range i.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "launch:   label %s=%s\n", k, i.Labels[k])
	}
}

func (l singularityLauncher) Run(ctx context.Context, s iostreams.Streams) (int, error) {
	*l.imageLog = s.Err
	return l.Exec(ctx, singularity.Host{Started: l.started}, s)
}
