package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/launchcli/launch/backend/singularity"
	sess "github.com/launchcli/launch/session"
)

// launch gc --images: the images launch pulled (recorded in
// $XDG_STATE_HOME/launch/images.json at each pull) that no config refers
// to and no container uses. An image launch did not pull is never a
// leftover.

// recordPull is the backends' OnPull hook for a real run: it adds the pull
// to the record under state. A record that cannot be written is a warning:
// the run goes on, and gc --images keeps the image.
func recordPull(state string, errw io.Writer, backend backendName, endpoint string) func(ref, id string) {
	return func(ref, id string) {
		p := sess.Pulled{Backend: string(backend), Endpoint: endpoint, Ref: ref, ID: id, Time: time.Now().UTC()}
		if err := sess.RecordPull(sess.ImagesFile(state), p); err != nil {
			fmt.Fprintf(errw, "launch: warning: %v; launch gc --images will not remove %s\n", err, ref)
		}
	}
}

// configuredImages are the OCI references the configs name, normalised
// (normalRef): see configuredRefs.
func configuredImages(h *Host) (map[string]bool, error) {
	oci, _, err := configuredRefs(h)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for r := range oci {
		out[normalRef(r)] = true
	}
	return out, nil
}

// configuredRefs are the image references the configs name, OCI ones and
// SIF ones: the built-in catalogue, the user's config
// ($XDG_CONFIG_HOME/launch/config.toml) and the current directory's
// .launch.toml (trusted or not: it only keeps more). Each image_defaults
// oci and sif with every agent's tag and every top-level tag, each
// top-level image (with its file's tag) and each sif_path.
func configuredRefs(h *Host) (oci, sif map[string]bool, err error) {
	layers, err := userLayers(h, "")
	if err != nil {
		return nil, nil, err
	}
	project := filepath.Join(h.Cwd, ".launch.toml")
	if b, err := h.ReadFile(project); err == nil {
		l, err := decodeConfig(project, string(b))
		if err != nil {
			return nil, nil, err
		}
		layers = append(layers, l)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, usagef("config %q: %w", project, err)
	}
	merged := imageDefaultsOf(layers)
	ociBases, sifBases := []string{merged.OCI}, []string{merged.SIF}
	tags := map[string]bool{"": true}
	for _, a := range catalogue(layers) {
		tags[a.Tag] = true
	}
	oci, sif = map[string]bool{}, map[string]bool{}
	for _, l := range layers {
		if d := l.cfg.ImageDefaults.OCI; d != nil {
			ociBases = append(ociBases, *d)
		}
		if d := l.cfg.ImageDefaults.SIF; d != nil {
			sifBases = append(sifBases, *d)
		}
		for _, a := range l.cfg.AgentTables {
			if a.Tag != nil {
				tags[*a.Tag] = true
			}
		}
		tags[string(l.cfg.Tag)] = true
		if l.cfg.Image != "" {
			oci[withTag(string(l.cfg.Image), string(l.cfg.Tag))] = true
		}
		if l.cfg.SIFPath != "" {
			sif[l.cfg.SIFPath] = true
		}
	}
	for t := range tags {
		for _, b := range ociBases {
			if b != "" {
				oci[withTag(b, t)] = true
			}
		}
		for _, b := range sifBases {
			if b != "" {
				sif[withTag(b, t)] = true
			}
		}
	}
	return oci, sif, nil
}

// normalRef is ref as the engines read it: docker.io/library/ added to a
// short name, :latest to one without a tag or digest. A reference that
// does not parse is kept as it is.
func normalRef(ref string) string {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.TagNameOnly(n).String()
}

// leftoverImages are the recorded pulls on the engines of bs that gc
// --images removes. A record whose reference is gone or names another
// image now (the user pulled or tagged over it) is no longer launch's: it
// is forgotten (unless dryRun) and its image is left alone.
func leftoverImages(ctx context.Context, h *Host, bs []sessionBackend, dryRun bool) ([]gcItem, error) {
	file := sess.ImagesFile(stateDir(h))
	recs, err := sess.ReadPulled(file)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	refs, err := configuredImages(h)
	if err != nil {
		return nil, err
	}
	var out []gcItem
	var stale []sess.Pulled
	var errs []error
	for i := range bs {
		b := &bs[i]
		var mine []sess.Pulled
		for _, r := range recs {
			if b.imageOf != nil && r.Backend == string(b.name) && r.Endpoint == b.endpoint {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			continue
		}
		keep, err := keptImages(ctx, b, refs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range mine {
			id, size, names, err := b.imageOf(ctx, r.Ref)
			switch {
			case err != nil:
				errs = append(errs, err)
				continue
			case id != r.ID:
				stale = append(stale, r)
				continue
			case refs[normalRef(r.Ref)] || keep[id]:
				continue
			}
			r := r
			why := "launch pulled it " + r.Time.Local().Format("2006-01-02 15:04") + "; no config names it, no container uses it"
			if others := otherNames(names, r.Ref); len(others) > 0 {
				// Only the reference goes: nothing is freed.
				why += "; only the name goes, the image stays as " + strings.Join(others, ", ")
				size = 0
			}
			out = append(out, gcItem{
				Leftover: sess.Leftover{Kind: "image", Path: r.Ref + " (" + r.Backend + ")", Size: size, Why: why},
				remove: func(ctx context.Context) error {
					if err := b.removeImage(ctx, r.Ref); err != nil {
						return err
					}
					return sess.ForgetPulled(file, r.Same)
				},
			})
		}
	}
	if len(stale) > 0 && !dryRun {
		errs = append(errs, sess.ForgetPulled(file, func(p sess.Pulled) bool {
			for _, s := range stale {
				if s == p {
					return true
				}
			}
			return false
		}))
	}
	return out, errors.Join(errs...)
}

// keptImages are the IDs, on b's engine, of the images a container uses
// and of those the configured references name.
func keptImages(ctx context.Context, b *sessionBackend, refs map[string]bool) (map[string]bool, error) {
	keep, err := b.imagesInUse(ctx)
	if err != nil {
		return nil, err
	}
	for ref := range refs {
		if id, _, _, err := b.imageOf(ctx, ref); err == nil && id != "" {
			keep[id] = true
		}
	}
	return keep, nil
}

// otherNames are the names of names that are not ref (normalised).
func otherNames(names []string, ref string) []string {
	var out []string
	for _, n := range names {
		if normalRef(n) != normalRef(ref) {
			out = append(out, n)
		}
	}
	return out
}

// leftoverSIFs are the SIF images launch pulled into its cache (dir:
// $XDG_CACHE_HOME/launch/sif; every link there is a pull of launch's, no
// record needed) whose reference no config names and that no running
// process uses: gc --images removes the cache link, and the SIF it points
// to once no other link does. The sandbox unpacked from it is then a
// leftover of its own (its SIF is gone).
func leftoverSIFs(h *Host, dir string) ([]gcItem, error) {
	_, refs, err := configuredRefs(h)
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for r := range refs {
		if link, ok := singularity.CacheLink(dir, r); ok {
			keep[link] = true
		}
	}
	inUse := sess.ProcessesUsing("/proc")
	links := map[string]string{}                                           // link: the SIF it points to
	users := map[string]int{}                                              // SIF: how many links point to it
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error { //nolint:errcheck // best effort: an unreadable tree keeps its links
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if t, err := filepath.EvalSymlinks(p); err == nil {
			links[p] = t
			users[t]++
		}
		return nil
	})
	var out []gcItem
	for _, link := range slices.Sorted(maps.Keys(links)) {
		target := links[link]
		if keep[link] || inUse(link) || inUse(target) {
			continue
		}
		size := int64(0)
		why := "a SIF launch pulled; no config names it, no process uses it"
		if users[target] == 1 {
			size = sess.DirSize(target)
		} else {
			why += "; only the link goes, other links keep its SIF"
		}
		link, target := link, target
		out = append(out, gcItem{
			Leftover: sess.Leftover{Kind: "image", Path: link + " (singularity)", Size: size, Why: why},
			remove: func(context.Context) error {
				if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				if users[target]--; users[target] == 0 {
					return removeTree(target)
				}
				return nil
			},
		})
	}
	return out, nil
}
