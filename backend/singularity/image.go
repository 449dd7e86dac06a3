package singularity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/sylabs/sif/v2/pkg/sif"

	"github.com/launchcli/launch/plan"
)

// Kinds of local image.
const (
	KindSIF     = "sif"
	KindSandbox = "sandbox"
)

// ImageInfo is what Inspect read from a local image, without running it.
type ImageInfo struct {
	// Path is the image as given (a cache link is not resolved).
	Path string
	// Kind is KindSIF or KindSandbox.
	Kind string
	// Arch is the image's architecture in GOARCH form ("amd64"); empty when
	// the image does not say (a sandbox without a build-arch label).
	Arch string
	// Labels are the image's labels: for a SIF, those of its JSON labels
	// object (Singularity 3.x) merged with those of Apptainer's
	// inspect-metadata.json object; for a sandbox, .singularity.d/labels.json.
	Labels map[string]string
}

// archLabel is the label apptainer build writes with the build architecture.
const archLabel = "org.label-schema.build-arch"

// Inspect reads a local image: a SIF file is opened read-only with the SIF
// library (not a SIF is an error), a directory is taken as a sandbox.
func Inspect(path string) (ImageInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ImageInfo{}, fmt.Errorf("image %q: no such file or directory; give a .sif file, a sandbox directory, or an oras:// or docker:// reference", path)
		}
		return ImageInfo{}, fmt.Errorf("image %q: %w", path, err)
	}
	if st.IsDir() {
		return inspectSandbox(path)
	}
	return inspectSIF(path)
}

func inspectSIF(path string) (ImageInfo, error) {
	// LoadContainerFromPath opens read-write unless told otherwise, which
	// fails on a shared, read-only image (and would need no lock anyway).
	f, err := sif.LoadContainerFromPath(path, sif.OptLoadWithFlag(os.O_RDONLY))
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %q: not a SIF file (%v); give an image made by apptainer build or apptainer pull, or a sandbox directory", path, err)
	}
	defer f.UnloadContainer() //nolint:errcheck // read-only: nothing to flush
	info := ImageInfo{Path: path, Kind: KindSIF, Labels: map[string]string{}}
	if a := f.PrimaryArch(); a != "" && a != "unknown" {
		info.Arch = a
	} else if d, err := f.GetDescriptor(sif.WithPartitionType(sif.PartPrimSys)); err == nil {
		if _, _, arch, err := d.PartitionMetadata(); err == nil {
			info.Arch = goArch(arch)
		}
	}
	if d, err := f.GetDescriptor(sif.WithDataType(sif.DataLabels)); err == nil {
		b, err := d.GetData()
		if err != nil {
			return ImageInfo{}, fmt.Errorf("image %q: labels: %w", path, err)
		}
		if err := decodeLabels(b, info.Labels); err != nil {
			return ImageInfo{}, fmt.Errorf("image %q: labels: %w", path, err)
		}
	}
	f.WithDescriptors(func(d sif.Descriptor) bool {
		if d.DataType() != sif.DataGenericJSON || d.Name() != "inspect-metadata.json" {
			return false
		}
		b, e := d.GetData()
		if e == nil {
			var md struct {
				Data struct {
					Attributes struct {
						Labels map[string]string `json:"labels"`
					} `json:"attributes"`
				} `json:"data"`
			}
			if e = json.Unmarshal(b, &md); e == nil {
				for k, v := range md.Data.Attributes.Labels {
					info.Labels[k] = v
				}
			}
		}
		err = e
		return true
	})
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %q: inspect-metadata.json: %w", path, err)
	}
	return info, nil
}

func inspectSandbox(path string) (ImageInfo, error) {
	info := ImageInfo{Path: path, Kind: KindSandbox, Labels: map[string]string{}}
	if _, err := os.Stat(filepath.Join(path, "bin")); err != nil {
		if _, err2 := os.Stat(filepath.Join(path, ".singularity.d")); err2 != nil {
			return ImageInfo{}, fmt.Errorf("image %q: a directory but not a sandbox (no bin/ or .singularity.d/); build one with apptainer build --sandbox", path)
		}
	}
	b, err := os.ReadFile(filepath.Join(path, ".singularity.d", "labels.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return ImageInfo{}, fmt.Errorf("image %q: %w", path, err)
	default:
		if err := decodeLabels(b, info.Labels); err != nil {
			return ImageInfo{}, fmt.Errorf("image %q: .singularity.d/labels.json: %w", path, err)
		}
	}
	info.Arch = goArch(info.Labels[archLabel])
	return info, nil
}

// decodeLabels adds the string values of a JSON object to m; other values
// are kept in their JSON form.
func decodeLabels(b []byte, m map[string]string) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			m[k] = s
		} else {
			m[k] = string(v)
		}
	}
	return nil
}

// goArch maps the names images use to GOARCH names.
func goArch(a string) string {
	switch a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "unknown":
		return ""
	}
	return a
}

// checkArch refuses an image built for another architecture than the one
// the Plan asks for, or, when it asks for none, the host's.
func checkArch(info ImageInfo, platform plan.Platform) error {
	want := platform.Arch
	from := "this host is"
	if platform.IsZero() {
		want = runtime.GOARCH
	} else {
		from = "the plan asks for"
	}
	if info.Arch == "" || info.Arch == want {
		return nil
	}
	return fmt.Errorf("image %q: built for %s, %s %s; use an image built for %s (--sif-path, or --arch for the catalogue's)", info.Path, info.Arch, from, want, want)
}
