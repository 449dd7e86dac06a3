package singularity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/shell"
)

// Where FUSE is not usable (/dev/fuse closed to ordinary users, as on many
// clusters), apptainer cannot mount a SIF: it unpacks it on every launch,
// 17 to 35 s for the agents' 536 MB image. With Config.SandboxDir, a SIF is
// unpacked once into SandboxDir/<sha256 of the SIF> (apptainer build
// --sandbox), and later launches run that directory, which needs no FUSE:
// a second launch starts in about a second. A changed SIF has another
// digest and is unpacked anew; an entry whose SIF is gone is removed at the
// next unpack (each entry records its SIF in <sha256>.source).

// sandboxCache is Config.SandboxDir and its size limit.
type sandboxCache struct {
	dir string
	max int64 // bytes; 0 means no limit
}

// Shell variables of the snippet's unpacking.
const shBox = "launch_box"

// ensure returns the unpacked sandbox of the SIF image, unpacking it first
// when the cache has none, within the size limit.
func (c *sandboxCache) ensure(ctx context.Context, e runner, binary, image string, s iostreams.Streams) (string, error) {
	sum, err := fileSHA256(image)
	if err != nil {
		return "", fmt.Errorf("unpacked image cache: %w", err)
	}
	box := filepath.Join(c.dir, sum)
	if fi, err := os.Stat(box); err == nil && fi.IsDir() {
		return box, nil
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return "", fmt.Errorf("unpacked image cache: %w", err)
	}
	c.prune(s.Err)
	fi, err := os.Stat(image)
	if err != nil {
		return "", err
	}
	// An unpacked image takes about three times its compressed SIF.
	need := 3 * fi.Size()
	if c.max > 0 {
		used := dirSize(c.dir)
		if used+need > c.max {
			return "", fmt.Errorf("unpacked image cache %s: it holds %s and unpacking %s needs about %s more, over the limit of %s (sandbox_cache_max); remove entries you no longer use (rm -rf %s/HASH) or raise sandbox_cache_max",
				c.dir, size(used), image, size(need), size(c.max), c.dir)
		}
	}
	fmt.Fprintf(s.Err, "launch: FUSE is not usable here, so apptainer cannot mount %s (%s): unpacking it once into %s (about %s); later launches reuse it\n", image, size(fi.Size()), box, size(need))
	part, err := os.MkdirTemp(c.dir, ".unpack.")
	if err != nil {
		return "", fmt.Errorf("unpacked image cache: %w", err)
	}
	defer removeAll(part) //nolint:errcheck // gone after the rename
	stop := func() {}
	if s.ErrTerminal() { // progress on a terminal only, never into a log
		stop = showProgress(s.Err, "unpacking "+filepath.Base(image), func() int64 { return dirSize(part) }, need, progressEvery)
	}
	code, err := e.Run(ctx, proc{Argv: []string{binary, "build", "--force", "--sandbox", part, image}, Env: e.Environ(), Streams: iostreams.Streams{In: strings.NewReader(""), Out: s.Err, Err: s.Err}})
	stop()
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", fmt.Errorf("unpack %s: %s build --sandbox exited with status %d", image, binary, code)
	}
	if err := os.Rename(part, box); err != nil && !errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Stat(box); serr != nil || !fi.IsDir() {
			return "", fmt.Errorf("unpacked image cache: %w", err)
		}
	}
	os.WriteFile(box+".source", []byte(image+"\n"), 0o600) //nolint:errcheck // only prune reads it
	fmt.Fprintf(s.Err, "launch: unpacked into %s (%s)\n", box, size(dirSize(box)))
	return box, nil
}

// prune removes the entries whose SIF is gone.
func (c *sandboxCache) prune(w io.Writer) {
	sources, _ := filepath.Glob(filepath.Join(c.dir, "*.source"))
	for _, src := range sources {
		b, err := os.ReadFile(src)
		if err != nil {
			continue
		}
		if _, err := os.Stat(strings.TrimSpace(string(b))); errors.Is(err, fs.ErrNotExist) {
			box := strings.TrimSuffix(src, ".source")
			if removeAll(box) == nil {
				os.Remove(src)
				fmt.Fprintf(w, "launch: removed the unpacked image %s: its SIF %s is gone\n", box, strings.TrimSpace(string(b)))
			}
		}
	}
}

// dirSize is the size of the files under dir (errors count as nothing).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error { //nolint:errcheck // best effort
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KB", (n+1023)/1024)
}

// snippetLines are the snippet's unpacking: the same digest, directory and
// build as ensure (without its size limit and pruning), leaving the
// directory to run in $launch_box.
func (c *sandboxCache) snippetLines(binary, image string) []string {
	img, dir := shell.Quote(image), shell.Quote(c.dir)
	return []string{
		shBox + "=" + img,
		"if [ -f " + img + " ]; then",
		"\t" + shBox + "=" + dir + "/$(sha256sum " + img + " | cut -d ' ' -f 1)",
		"\tif [ ! -d \"$" + shBox + "\" ]; then",
		"\t\tmkdir -p " + dir,
		"\t\t" + shPart + "=$(mktemp -d " + shell.Quote(c.dir+"/.unpack.XXXXXX") + ")",
		"\t\t" + shell.Quote(binary) + " build --force --sandbox \"$" + shPart + "\" " + img + " >&2",
		"\t\tmv \"$" + shPart + "\" \"$" + shBox + "\"",
		"\t\t" + shPart + "=",
		"\tfi",
		"fi",
	}
}
