package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/launchcli/launch/backend/singularity"
	"github.com/launchcli/launch/internal/iostreams"
)

// TestModesRefuseAlike: --dry-run, --json and a real run refuse the same
// bad inputs with the same exit code and message (issue 26). A real run is
// tried only once both printing modes refused, so that it stops before it
// would run anything.
func TestModesRefuseAlike(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.sif")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const kept = "home/ana/.local/state/launch/isolated/shell-20261201-154233-4242"
	elsewhere := map[string]string{kept + "/f": "x", kept + ".json": `{"source": "/home/ana/other"}`}
	tests := []struct {
		name  string
		args  []string
		want  string // in the one line of the message
		files map[string]string
	}{
		{"detach-host-proxy-docker", []string{"--backend", "docker", "--detach", "--network", "allow=example.com", "shell"}, "--detach with --network allow=...", nil},
		{"detach-host-proxy-podman", []string{"--backend", "podman", "--detach", "--network", "allow=example.com", "shell"}, "--detach with --network allow=...", nil},
		{"detach-isolate", []string{"--backend", "docker", "--detach", "--isolate", "shell"}, "--detach with --isolate", nil},
		{"empty-sif-path", []string{"--backend", "singularity", "--sif-path", empty, "shell"}, `--sif-path: image "` + empty + `": not a SIF file`, nil},
		{"docker-with-sif-path", []string{"--backend", "docker", "--sif-path", empty, "shell"}, `--sif-path "` + empty + `": a SIF image, which the docker backend does not run`, nil},
		{"docker-with-url", []string{"--backend", "docker", "--url", "unix:///run/podman/podman.sock", "shell"}, `--url "unix:///run/podman/podman.sock": the Podman service to use, which the docker backend does not use`, nil},
		{"bogus-url", []string{"--backend", "podman", "--url", "bogus://", "shell"}, `--url "bogus://": not a Podman service address`, nil},
		{"upper-case-image", []string{"--backend", "docker", "--image", "UPPER/Case", "shell"}, `--image: "UPPER/Case": invalid reference format`, nil},
		{"sidecar-without-allowlist", []string{"--backend", "docker", "--network-via", "sidecar", "shell"}, "--network-via sidecar: the proxy applies only to an allowlist", nil},
		{"isolate-global-read-only", []string{"--backend", "docker", "--isolate", "--global-read-only", "shell"}, "--isolate with --global-read-only", nil},
		{"pids-too-few", []string{"--backend", "docker", "--pids", "5", "shell"}, "at least 16, or none (or 0) for no limit", nil},
		{"resume-of-another-workspace", []string{"--backend", "docker", "--isolate", "--resume", "shell-20261201-154233-4242", "shell"}, "that session copied /home/ana/other, not this workspace /home/ana/proj", elsewhere},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				code int
				msg  string
			}
			var got []result
			for _, mode := range []string{"--dry-run", "--json", "--yes"} {
				if mode == "--yes" && (got[0].code != 2 || got[1].code != 2) {
					t.Fatalf("the printing modes did not refuse: --dry-run %+v, --json %+v", got[0], got[1])
				}
				out, errs, code := runModeCase(t, empty, tt.files, append([]string{mode}, tt.args...))
				if out != "" {
					t.Errorf("%s: stdout %q, want nothing", mode, out)
				}
				got = append(got, result{code, errs})
			}
			for i, mode := range []string{"--dry-run", "--json", "a real run"} {
				if got[i].code != 2 || !strings.Contains(got[i].msg, tt.want) || strings.Count(got[i].msg, "\n") != 1 {
					t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line with %q", mode, got[i].code, got[i].msg, tt.want)
				}
				if got[i] != got[0] {
					t.Errorf("%s: %+v; --dry-run: %+v", mode, got[i], got[0])
				}
			}
		})
	}
}

// runModeCase runs launch on the fake host with the extra files, whose
// files under dir are the real ones, read as launch reads them on a real
// host.
func runModeCase(t *testing.T, dir string, files map[string]string, args []string) (string, string, int) {
	t.Helper()
	fsys := goldenCase{files: files}.fs()
	h := fakeHost(fsys, nil, false)
	fake := h.Stat
	h.Stat = func(p string) (fs.FileInfo, error) {
		if strings.HasPrefix(p, filepath.Dir(dir)) {
			return os.Stat(p)
		}
		return fake(p)
	}
	h.InspectSIF = func(p string) error { _, err := singularity.Inspect(p); return err }
	var out, errb bytes.Buffer
	s := iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}
	code := runApp(context.Background(), s, h, append([]string{"launch"}, args...))
	return out.String(), errb.String(), code
}

// TestDryRunWithJSON: the two printing modes together are refused, not
// one of them silently preferred.
func TestDryRunWithJSON(t *testing.T) {
	out, errs, code := runModeCase(t, t.TempDir(), nil, []string{"--dry-run", "--json", "--backend", "docker", "shell"})
	if code != 2 || out != "" || !strings.Contains(errs, "--dry-run with --json") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 naming --dry-run with --json", code, out, errs)
	}
}

// TestDeletedWorkingDirectory: a working directory removed under launch
// is named as such, with what to do, not as getwd's bare error.
func TestDeletedWorkingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	_, err := systemHost(false)
	if err == nil || !strings.Contains(err.Error(), "the current directory") || !strings.Contains(err.Error(), "cd to an existing directory") {
		t.Fatalf("systemHost in a removed directory: %v; want the current directory named, with what to do", err)
	}
}

// TestChoiceSkipsDeniedDocker: the automatic backend choice passes over a
// Docker whose socket refuses this user when Podman is on PATH, and says
// why; with no other backend it stays with Docker, whose error then names
// the permission (issue 26).
func TestChoiceSkipsDeniedDocker(t *testing.T) {
	for _, c := range []struct {
		name         string
		denied       bool
		podman       bool
		want         backendName
		noteIncludes string
	}{
		{"docker usable", false, true, backendDocker, ""},
		{"docker denied, podman on PATH", true, true, backendPodman, "the docker socket unix:///var/run/docker.sock refuses you (permission denied)"},
		{"docker denied, nothing else", true, false, backendDocker, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := fakeFS()
			fsys["var/run/docker.sock"] = &fstest.MapFile{Mode: fs.ModeSocket}
			h := fakeHost(fsys, nil, false)
			h.LookPath = func(name string) (string, error) {
				if name == "podman" && c.podman {
					return "/usr/bin/podman", nil
				}
				return "", errors.New("not found")
			}
			if c.denied {
				h.SocketAccess = func(p string) error {
					return &fs.PathError{Op: "access", Path: p, Err: syscall.EACCES}
				}
			}
			got, note := chooseBackend(&options{}, h)
			if got != c.want || !strings.Contains(note, c.noteIncludes) || (c.noteIncludes == "" && note != "") {
				t.Errorf("chooseBackend = %s, note %q; want %s with a note that says %q", got, note, c.want, c.noteIncludes)
			}
		})
	}
}
