package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	sess "github.com/launchcli/launch/session"
)

// createdGrace is how long a created, never started container is left
// alone: a launch may be between its create and its start.
const createdGrace = time.Minute

// gcCommand is "launch gc".
func gcCommand(s iostreams.Streams, h *Host) *cli.Command {
	var dryRun, asJSON, images bool
	return &cli.Command{
		Name:      "gc",
		Usage:     "remove what launch left behind and no longer uses (--dry-run: only list it, sizes included)",
		UsageText: "launch gc [--dry-run] [--json] [--images]",
		Description: `A normal run leaves nothing, but a killed machine or a kill -9 can. launch gc
removes, for you only:
  - containers launch made that ended (a detached session's output goes
    with it: read it first with launch logs), created ones never started
    (after a minute), and attached sessions whose launch is gone (an orphan:
    stopped with SIGTERM first), with their network proxy sidecars;
  - network proxy sidecars and their volumes that no session uses and
    whose launch is gone;
  - SIF files in the pull cache ($XDG_CACHE_HOME/launch/sif) that no cache
    link points to;
  - half-done unpacks, and unpacked images whose SIF is gone, in
    $XDG_CACHE_HOME/launch/sandbox;
  - per-run scratch directories (launch.*) in $TMPDIR and $APPTAINER_TMPDIR
    that no running launch uses.
With --images, also the Docker and Podman images launch pulled (each pull
is recorded in $XDG_STATE_HOME/launch/images.json) that no config names
and no container uses (any container, ended ones and other users'
included), and the SIF images in the pull cache that no config names and
no process uses. The configs that count: the built-in catalogue, your
config ($XDG_CONFIG_HOME/launch/config.toml) and the .launch.toml of the
current directory: each [image_defaults] oci and sif with every agent's
tag, and each image and sif_path key. Run it from a project's directory to
keep that project's image. Removing a pulled image removes the reference
launch pulled; an image that has another name (a tag of yours) stays
under it.
Nothing else: containers launch did not make, images it did not pull,
other users' sessions and your own files in these directories stay.

Examples:
   launch gc --dry-run
   launch gc
   launch gc --images --dry-run`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Destination: &dryRun, Usage: "list what would be removed and its size; remove nothing"},
			&cli.BoolFlag{Name: "json", Destination: &asJSON, Usage: "print the list as JSON"},
			&cli.BoolFlag{Name: "images", Destination: &images, Usage: "also the images launch pulled (Docker, Podman, SIF) that no config names and nothing uses"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return withSessions(ctx, h, func(bs []sessionBackend) error {
				return runGC(ctx, s, h, bs, gcOptions{dryRun: dryRun, json: asJSON, images: images})
			})
		},
	}
}

// gcItem is a leftover and how to remove it.
type gcItem struct {
	sess.Leftover
	remove func(context.Context) error
}

// gcOptions are launch gc's flags.
type gcOptions struct{ dryRun, json, images bool }

// runGC finds the leftovers, prints them and, unless dryRun, removes them.
// Containers go first, so that an image only they used is free by the time
// --images looks; then images, then files.
func runGC(ctx context.Context, s iostreams.Streams, h *Host, bs []sessionBackend, o gcOptions) error {
	dryRun := o.dryRun
	// Ended detached sessions' protected paths first: a safety check, not
	// a removal, so --dry-run makes it too.
	gerr := checkEndedGuards(ctx, s.Err, h, bs)
	items, err := leftoverContainers(ctx, bs, time.Now())
	err = errors.Join(gerr, err)
	sidecars, serr := leftoverSidecars(ctx, bs, time.Now())
	items, err = append(items, sidecars...), errors.Join(err, serr)
	var failed []error
	// The sessions go first, then the files: ending a dead supervised
	// session ends the launch that used its scratch directory.
	items, failed = removeAll(ctx, items, dryRun, failed)
	if o.images {
		// Before the files: a SIF whose link goes takes its sandbox along.
		imgs, ierr := leftoverImages(ctx, h, bs, dryRun)
		sifs, serr := leftoverSIFs(h, filepath.Join(cacheHome(h), "launch", "sif"))
		err = errors.Join(err, ierr, serr)
		imgs, failed = removeAll(ctx, append(imgs, sifs...), dryRun, failed)
		items = append(items, imgs...)
	}
	files, ferr := leftoverFiles(h)
	err = errors.Join(err, ferr)
	files, failed = removeAll(ctx, files, dryRun, failed)
	items = append(items, files...)
	list := []sess.Leftover{}
	for _, it := range items {
		list = append(list, it.Leftover)
	}
	if o.json {
		if werr := writeJSON(s.Out, list); werr != nil {
			return werr
		}
	} else {
		printLeftovers(s.Out, list, dryRun)
	}
	return errors.Join(append(failed, err)...)
}

// removeAll removes items (unless dryRun) and returns those removed (all
// of them for a dry run), adding each failure to failed.
func removeAll(ctx context.Context, items []gcItem, dryRun bool, failed []error) ([]gcItem, []error) {
	if dryRun {
		return items, failed
	}
	kept := items[:0]
	for _, it := range items {
		if rerr := it.remove(context.WithoutCancel(ctx)); rerr != nil {
			failed = append(failed, fmt.Errorf("%s %s: %w", it.Kind, it.Path, rerr))
			continue
		}
		kept = append(kept, it)
	}
	return kept, failed
}

// printLeftovers writes the table and the total.
func printLeftovers(w io.Writer, list []sess.Leftover, dryRun bool) {
	if len(list) == 0 {
		fmt.Fprintln(w, "launch gc: nothing to remove")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSIZE\tWHAT\tWHY")
	var total int64
	for _, l := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Kind, sess.FormatSize(l.Size), l.Path, l.Why)
		if l.Size > 0 {
			total += l.Size
		}
	}
	tw.Flush()
	verb := "freed"
	if dryRun {
		verb = "would free"
	}
	items := "items"
	if len(list) == 1 {
		items = "item"
	}
	fmt.Fprintf(w, "launch gc: %s %s in %d %s%s\n", verb, sess.FormatSize(total), len(list), items, uncounted(list))
}

// uncounted says which items the total leaves out: those whose engine
// did not report a size.
func uncounted(list []sess.Leftover) string {
	n := 0
	for _, l := range list {
		if l.Size < 0 {
			n++
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		return " (1 size unknown, not counted)"
	}
	return fmt.Sprintf(" (%d sizes unknown, not counted)", n)
}

// leftoverContainers are the caller's containers that launch gc removes:
// ended, created and never started, or attached to a launch that is gone.
func leftoverContainers(ctx context.Context, bs []sessionBackend, now time.Time) ([]gcItem, error) {
	list, err := allSessions(ctx, bs, true)
	var out []gcItem
	sizes := map[*sessionBackend]map[string]int64{}
	sizeOf := func(f found) int64 {
		if f.b.sizes == nil {
			return -1
		}
		m, ok := sizes[f.b]
		if !ok {
			m, _ = f.b.sizes(ctx) // no sizes: shown as unknown
			sizes[f.b] = m
		}
		if n, ok := m[f.ID]; ok {
			return n
		}
		return -1
	}
	for _, f := range list {
		why := ""
		switch {
		case f.Status.Ended():
			why = "ended"
			if f.ExitCode != nil {
				why = fmt.Sprintf("ended (exit %d)", *f.ExitCode)
			}
		case f.Status == sess.Created && now.Sub(f.Started) > createdGrace:
			why = "created, never started"
		case !f.Detached && localEngine(f.Endpoint) && f.PID > 0 && !launchAlive(f.PID):
			why = fmt.Sprintf("an orphan: its launch (pid %d) is gone", f.PID)
		default:
			continue
		}
		f := f
		info := f.Info
		out = append(out, gcItem{
			Leftover: sess.Leftover{Kind: "container", Path: f.Name + " (" + f.Backend + ")", Why: why, Size: sizeOf(f), Session: &info},
			remove:   func(ctx context.Context) error { return f.b.stop(ctx, f.Info) },
		})
	}
	return out, err
}

// leftoverSidecars are proxy sidecars and their volumes that no session
// names and whose launch is gone (or, on a remote engine, that are older
// than createdGrace): a launch killed while it set them up.
func leftoverSidecars(ctx context.Context, bs []sessionBackend, now time.Time) ([]gcItem, error) {
	var out []gcItem
	var errs []error
	for _, b := range bs {
		if b.sidecars == nil {
			continue
		}
		list, err := b.sidecars(ctx)
		errs = append(errs, err)
		for _, x := range list {
			if now.Sub(x.Started) < createdGrace || (localEngine(x.Endpoint) && x.PID > 0 && launchAlive(x.PID)) {
				continue
			}
			what, kind := x.Sidecar, "sidecar"
			if what == "" {
				what, kind = x.SidecarVolume, "volume"
			} else if x.SidecarVolume != "" {
				what += " and volume " + x.SidecarVolume
			}
			x, remove := x, b.removeSidecar
			out = append(out, gcItem{
				Leftover: sess.Leftover{Kind: kind, Path: what + " (" + x.Backend + ")", Why: fmt.Sprintf("a network proxy sidecar no session uses (its launch, pid %d, is gone)", x.PID), Size: -1},
				remove:   func(ctx context.Context) error { return remove(ctx, x) },
			})
		}
	}
	return out, errors.Join(errs...)
}

// localEngine reports whether the engine runs on this host (a unix
// socket), so that a launcher pid in its labels is one of this host's.
func localEngine(endpoint string) bool { return strings.HasPrefix(endpoint, "unix://") }

// launchAlive reports whether process pid runs and is a launch.
func launchAlive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	return strings.Contains(filepath.Base(argv0), "launch")
}

// leftoverFiles are the cache and scratch leftovers of the singularity
// backend.
func leftoverFiles(h *Host) ([]gcItem, error) {
	cache := cacheHome(h)
	inUse := sess.ProcessesUsing("/proc")
	sifs, err := sess.UnlinkedSIFs(filepath.Join(cache, "launch", "sif"))
	boxes, berr := sess.StaleSandboxes(filepath.Join(cache, "launch", "sandbox"), inUse)
	tmp := h.Getenv("TMPDIR")
	if !filepath.IsAbs(tmp) {
		tmp = "/tmp"
	}
	scratch := sess.StaleScratch([]string{tmp, h.Getenv("APPTAINER_TMPDIR"), h.Getenv("SINGULARITY_TMPDIR")}, inUse)
	var out []gcItem
	for _, l := range append(append(sifs, boxes...), scratch...) {
		l := l
		out = append(out, gcItem{Leftover: l, remove: func(context.Context) error {
			if err := removeTree(l.Path); err != nil || l.Kind != "sandbox" {
				return err
			}
			// Its record of the SIF, which StaleSandboxes reads: without
			// it the next gc would list the sandbox again.
			if err := os.Remove(l.Path + ".source"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}})
	}
	return out, errors.Join(err, berr)
}

// cacheHome is $XDG_CACHE_HOME, or ~/.cache.
func cacheHome(h *Host) string {
	if cache := h.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(cache) {
		return cache
	}
	return filepath.Join(h.Home, ".cache")
}

// removeTree removes p, making directories writable first where a runtime
// left them read-only (an unpacked image).
func removeTree(p string) error {
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error { //nolint:errcheck // best effort, RemoveAll reports
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
