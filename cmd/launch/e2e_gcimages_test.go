//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/backend/singularity"
	sess "github.com/launchcli/launch/session"
)

// TestE2EGCImages: on Docker and rootless Podman, launch records the images
// it pulls (from the local registry of .ci/docker.sh), and launch gc
// --images removes those that no config names and no container uses,
// --dry-run listing them with their sizes first. Kept: an image the user's
// config names, one the project config names, one a container (not
// launch's) uses, one the user pulled with the engine's own CLI, and an
// image launch pulled that the user tagged too (under the user's tag).
func TestE2EGCImages(t *testing.T) {
	for _, name := range []backendName{backendDocker, backendPodman} {
		t.Run(string(name), func(t *testing.T) {
			s := newSession(t, backendNamed(name))
			if c, err := net.DialTimeout("tcp", "127.0.0.1:5000", time.Second); err != nil {
				need(t, fmt.Errorf("no registry on 127.0.0.1:5000 (run .ci/docker.sh): %v", err))
			} else {
				c.Close()
			}
			testGCImages(t, s)
		})
	}
}

// TestE2EGCImagesSIF: Apptainer pulls (docker:// from the local registry)
// go through launch's SIF cache, all of which is launch's; launch gc
// --images removes the cache link of a pull no config names, and its SIF
// with it, and keeps the one the user's config names (sif_path) and the
// user's own file in the cache.
func TestE2EGCImagesSIF(t *testing.T) {
	s := newSession(t, backendNamed(backendSingularity))
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5000", time.Second); err != nil {
		need(t, fmt.Errorf("no registry on 127.0.0.1:5000 (run .ci/docker.sh): %v", err))
	} else {
		c.Close()
	}
	base := fmt.Sprintf("127.0.0.1:5000/launch-test/gc-sif-%d", time.Now().UnixNano())
	refs := map[string]string{}
	for _, k := range []string{"free", "user"} {
		refs[k] = base + "-" + k + ":1"
		pushImage(t, refs[k])
	}
	s.env = append(s.env, "APPTAINER_NOHTTPS=1") // the registry speaks plain HTTP
	cache := filepath.Join(s.home, ".cache", "launch", "sif")
	s.write(filepath.Join(cache, "mine.txt"), "the user's")
	for _, k := range []string{"free", "user"} {
		s.backend.flags = []string{"--backend", "singularity", "--sif-path", "docker://" + refs[k]}
		if out, errOut, code := s.run("", "--yes", "--pull", "missing", "shell", "true"); code != 0 {
			t.Fatalf("launch --sif-path docker://%s: exit %d\n%s%s", refs[k], code, out, errOut)
		}
	}
	sifs := func() []string {
		m, _ := filepath.Glob(filepath.Join(cache, "sha256", "*.sif"))
		return m
	}
	if len(sifs()) != 2 {
		t.Fatalf("SIF cache after two pulls: %v", sifs())
	}
	s.write(filepath.Join(s.home, ".config", "launch", "config.toml"), fmt.Sprintf("sif_path = %q\n", "docker://"+refs["user"]))
	free, _ := singularity.CacheLink(cache, "docker://"+refs["free"])
	user, _ := singularity.CacheLink(cache, "docker://"+refs["user"])
	out, errOut, code := s.runPlain("gc", "--images", "--dry-run")
	t.Logf("launch gc --images --dry-run:\n%s", out)
	if code != 0 || !strings.Contains(out, free) || strings.Contains(out, user) {
		t.Errorf("gc --images --dry-run: exit %d, want the free pull and not the user's:\n%s%s", code, out, errOut)
	}
	if len(sifs()) != 2 {
		t.Errorf("--dry-run removed a SIF: %v", sifs())
	}
	if out, errOut, code = s.runPlain("gc", "--images"); code != 0 {
		t.Fatalf("gc --images: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("launch gc --images:\n%s", out)
	if len(sifs()) != 1 {
		t.Errorf("after gc --images, the SIF cache holds %v; want only the user's config's", sifs())
	}
	var links []string
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 {
			links = append(links, p)
		}
		return nil
	})
	if len(links) != 1 || links[0] != user {
		t.Errorf("cache links after gc --images: %v; want the user's config's only", links)
	}
	if _, err := os.Stat(filepath.Join(cache, "mine.txt")); err != nil {
		t.Errorf("gc --images removed the user's file: %v", err)
	}
	if out, _, _ := s.runPlain("gc", "--images", "--dry-run"); !strings.Contains(out, "nothing to remove") {
		t.Errorf("a second gc --images finds:\n%s", out)
	}
}

func testGCImages(t *testing.T, s *session) {
	engine := func(args ...string) (string, error) {
		c := s.command("docker", args...)
		if s.backend.name == backendPodman {
			c = s.command("podman", append([]string{"--url", fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID)}, args...)...)
		}
		out, err := c.CombinedOutput()
		return string(out), err
	}
	base := fmt.Sprintf("127.0.0.1:5000/launch-test/gc-%s-%d", s.backend.name, time.Now().UnixNano())
	refs := map[string]string{}
	for _, k := range []string{"free", "tagged", "user", "project", "used", "own"} {
		refs[k] = base + "-" + k + ":1"
		pushImage(t, refs[k])
	}
	mine := "localhost/launch-test/gc-mine-" + filepath.Base(base) + ":1"
	used := "gc-user-container-" + filepath.Base(base)
	t.Cleanup(func() {
		engine("rm", "-f", used)
		for _, r := range append(slices.Collect(maps.Values(refs)), mine) {
			engine("rmi", r)
		}
	})

	s.backend.flags = []string{"--backend", string(s.backend.name)}
	for _, k := range []string{"free", "tagged", "user", "project", "used"} {
		if out, errOut, code := s.run("", "--yes", "--pull", "missing", "--image", refs[k], "shell", "true"); code != 0 {
			t.Fatalf("launch --image %s: exit %d\n%s%s", refs[k], code, out, errOut)
		}
	}
	if out, err := engine("pull", refs["own"]); err != nil {
		t.Fatalf("pull %s: %v: %s", refs["own"], err, out)
	}
	if out, err := engine("tag", refs["tagged"], mine); err != nil {
		t.Fatalf("tag: %v: %s", err, out)
	}
	if out, err := engine("create", "--name", used, refs["used"], "true"); err != nil {
		t.Fatalf("create: %v: %s", err, out)
	}
	s.write(filepath.Join(s.home, ".config", "launch", "config.toml"), fmt.Sprintf("image = %q\n", refs["user"]))
	s.write(filepath.Join(s.ws, ".launch.toml"), fmt.Sprintf("image = %q\ntag = \"1\"\n", strings.TrimSuffix(refs["project"], ":1")))

	recorded := pulledRecords(t, s)
	for _, k := range []string{"free", "tagged", "user", "project", "used"} {
		if !slices.ContainsFunc(recorded, func(p sess.Pulled) bool {
			return p.Ref == refs[k] && p.Backend == string(s.backend.name) && p.ID != "" && p.Endpoint != ""
		}) {
			t.Errorf("no record of launch's pull of %s: %+v", refs[k], recorded)
		}
	}
	if slices.ContainsFunc(recorded, func(p sess.Pulled) bool { return p.Ref == refs["own"] }) {
		t.Errorf("an image the user pulled is recorded as launch's: %+v", recorded)
	}

	images := func(args ...string) map[string]int64 {
		out, errOut, code := s.runPlain(append([]string{"gc", "--images", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("gc --images %v: exit %d: %s%s", args, code, out, errOut)
		}
		var list []sess.Leftover
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("gc --json: %v\n%s", err, out)
		}
		got := map[string]int64{}
		for _, l := range list {
			if l.Kind == "image" {
				got[l.Path] = l.Size
			}
		}
		return got
	}
	want := []string{refs["free"] + " (" + string(s.backend.name) + ")", refs["tagged"] + " (" + string(s.backend.name) + ")"}
	dry := images("--dry-run")
	if got := slices.Sorted(maps.Keys(dry)); !slices.Equal(got, want) {
		t.Errorf("gc --images --dry-run lists %v; want %v", got, want)
	}
	if dry[want[0]] <= 0 || dry[want[1]] != 0 {
		t.Errorf("gc --images --dry-run's sizes: %v; want one for the image it frees, 0 for the one that stays under the user's tag", dry)
	}
	out, _, _ := s.runPlain("gc", "--images", "--dry-run")
	t.Logf("launch gc --images --dry-run:\n%s", out)
	if !strings.Contains(out, refs["free"]) || !strings.Contains(out, "would free") {
		t.Errorf("gc --images --dry-run's table:\n%s", out)
	}
	if _, err := engine("image", "inspect", refs["free"]); err != nil {
		t.Errorf("--dry-run removed %s", refs["free"])
	}
	if got := slices.Sorted(maps.Keys(images())); !slices.Equal(got, want) {
		t.Errorf("gc --images removed %v; want %v", got, want)
	}
	for _, k := range []string{"free", "tagged"} {
		if _, err := engine("image", "inspect", refs[k]); err == nil {
			t.Errorf("gc --images left %s", refs[k])
		}
	}
	for _, r := range []string{mine, refs["user"], refs["project"], refs["used"], refs["own"]} {
		if out, err := engine("image", "inspect", r); err != nil {
			t.Errorf("gc --images removed %s: %s", r, out)
		}
	}
	if got := images("--dry-run"); len(got) != 0 {
		t.Errorf("a second gc --images still finds %v", got)
	}
	if left := pulledRecords(t, s); len(left) != 3 {
		t.Errorf("records after gc: %+v; want those of the three kept pulls", left)
	}
}

// pushImage builds a tiny image of its own (a label on busybox, so that
// its ID is nobody else's) under ref, pushes it to the local registry and
// removes it from the Docker engine again.
func pushImage(t *testing.T, ref string) {
	t.Helper()
	b := exec.Command("docker", "build", "-q", "-t", ref, "-")
	b.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	b.Stdin = strings.NewReader("FROM launch-test/busybox:latest\nLABEL dev.launch.test.gc=" + filepath.Base(ref) + "\n")
	if out, err := b.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v: %s", ref, err, out)
	}
	if out, err := exec.Command("docker", "push", ref).CombinedOutput(); err != nil {
		t.Fatalf("docker push %s: %v: %s", ref, err, out)
	}
	if out, err := exec.Command("docker", "rmi", ref).CombinedOutput(); err != nil {
		t.Fatalf("docker rmi %s: %v: %s", ref, err, out)
	}
}

// pulledRecords reads the session's record of pulled images.
func pulledRecords(t *testing.T, s *session) []sess.Pulled {
	t.Helper()
	list, err := sess.ReadPulled(sess.ImagesFile(filepath.Join(s.home, ".local", "state", "launch")))
	if err != nil {
		t.Fatal(err)
	}
	return list
}
