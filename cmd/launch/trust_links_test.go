package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

// TestSecondMounts: a mount that shows workspace content at a second
// container path (the workspace, a path in it, a parent of it), the user's
// or an untrusted project file's, carries the protected paths read-only and
// the --ro and --mask paths with it, so it gives the agent nothing that the
// workspace mount does not. A git directory shown a second time is
// read-only there as a whole: the agent commits through the workspace's own.
func TestSecondMounts(t *testing.T) {
	const project = "home/ana/proj/.launch.toml"
	overlays := func(p plan.Plan) []string {
		var out []string
		for _, m := range p.Mounts {
			switch {
			case m.Kind == plan.MountMask:
				out = append(out, "mask "+m.Target)
			case m.ReadOnly && m.Origin != plan.OriginWorkspace && m.Origin != plan.OriginPrompt && m.Origin != plan.OriginAgentSettings:
				out = append(out, "ro "+m.Target)
			}
		}
		sort.Strings(out)
		return out
	}
	ws := []string{"ro /home/ana/proj/.git/config", "ro /home/ana/proj/.git/hooks"}
	tests := []struct {
		name string
		c    goldenCase
		want []string
	}{
		{"project-workspace-again", goldenCase{args: []string{"shell"}, files: map[string]string{project: "mounts = [\".:/w\"]\n"}},
			append([]string{"ro /home/ana/proj/.launch.toml", "ro /w/.git", "ro /w/.launch.toml"}, ws...)},
		{"user-workspace-again", goldenCase{args: []string{"--mount", ".:/w", "shell"}},
			append([]string{"ro /w/.git"}, ws...)},
		{"user-parent", goldenCase{args: []string{"--mount", "..:/up", "shell"}},
			append(ws, "ro /up/proj/.git")},
		{"project-inside-git", goldenCase{args: []string{"shell"}, files: map[string]string{project: "mounts = [\".git:/g\"]\n"}},
			append([]string{"ro /g", "ro /home/ana/proj/.launch.toml"}, ws...)},
		{"user-inside-a-protected-path", goldenCase{args: []string{"--mount", ".git/hooks:/h", "shell"}},
			append([]string{"ro /h"}, ws...)},
		{"project-over-the-git-dir", goldenCase{args: []string{"shell"}, files: map[string]string{project: "mounts = [\".git:/home/ana/proj/.git\"]\n"}},
			[]string{"ro /home/ana/proj/.git", "ro /home/ana/proj/.launch.toml"}},
		{"ro-and-mask-carried", goldenCase{args: []string{"--ro", "docs", "--mask", ".env", "--mount", ".:/w", "shell"}},
			append([]string{"mask /home/ana/proj/.env", "mask /w/.env", "ro /home/ana/proj/docs", "ro /w/.git", "ro /w/docs"}, ws...)},
		{"read-only-workspace-writable-second", goldenCase{args: []string{"--global-read-only", "--mount", ".:/w", "shell"}},
			[]string{"ro /w/.git"}},
		{"read-only-second", goldenCase{args: []string{"--mount", ".:/w:ro", "shell"}},
			append([]string{"ro /w"}, ws...)},
		{"elsewhere", goldenCase{args: []string{"--mount", "~/data:/data", "shell"}}, ws},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := resolveCase(t, tt.c)
			got := overlays(p)
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read-only and masked mounts\n got %q\nwant %q", got, want)
			}
		})
	}
	// A mount of a masked path's content cannot be made: the conflict says so.
	_, errs, code := runCase(t, goldenCase{args: []string{"--json", "--backend", "docker", "--mask", "secrets", "--mount", "secrets:/s", "shell"}})
	if code != 2 || !strings.Contains(errs, `mount conflict at "/s"`) {
		t.Errorf("a mount inside a masked path: exit %d, stderr %s", code, errs)
	}
}

// realLaunch runs launch on the real file system with home as $HOME and ws
// as the working directory.
func realLaunch(t *testing.T, home, ws string) func(args ...string) (string, string, int) {
	t.Helper()
	h, err := systemHost(false)
	if err != nil {
		t.Fatal(err)
	}
	h.Cwd, h.Home = ws, home
	h.Env = []string{"HOME=" + home, "XDG_STATE_HOME=" + filepath.Join(home, "state"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config")}
	return func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := runApp(context.Background(), iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, h, append([]string{"launch"}, args...))
		return out.String(), errb.String(), code
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	os.Remove(link)
	if err := os.RemoveAll(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestLinksSwappedAfterTrust: what a project file names is judged with its
// links resolved each time launch reads it, so a path that a link later
// leads to ~/.ssh is refused, trusted file or not; and a .launch.toml that
// links to another project's trusted file is not trusted here. On the real
// file system, as the agent would leave it.
func TestLinksSwappedAfterTrust(t *testing.T) {
	home, ws := t.TempDir(), t.TempDir()
	ssh := filepath.Join(home, ".ssh")
	writeFile(t, filepath.Join(ssh, "id_ed25519"), "PRIVATE KEY\n")
	writeFile(t, filepath.Join(home, "data", "ref.txt"), "ref\n")
	run := realLaunch(t, home, ws)
	args := []string{"--json", "--backend", "docker", "--image", "x/y:1", "shell"}
	cfg := filepath.Join(ws, ".launch.toml")

	// An in-workspace mount: narrowing, no trust needed; swapped to a link
	// to ~/.ssh, it widens and is refused.
	writeFile(t, filepath.Join(ws, "data", "x"), "x\n")
	writeFile(t, cfg, "mounts = [\"data:/data\"]\n")
	if out, errs, code := run(args...); code != 0 || !strings.Contains(out, `"target": "/data"`) {
		t.Fatalf("in-workspace mount: exit %d, stderr %s", code, errs)
	}
	if _, errs, code := run("trust"); code != 0 {
		t.Fatalf("launch trust: exit %d, stderr %s", code, errs)
	}
	symlink(t, ssh, filepath.Join(ws, "data"))
	if out, errs, code := run(args...); code != 2 || !strings.Contains(errs, `mounts "data" (a link to "`+ssh+`") from outside the workspace, read-write`) || strings.Contains(out, ssh) {
		t.Errorf("in-workspace mount swapped to ~/.ssh: exit %d, stderr %s", code, errs)
	}

	// A trusted mount through a link: once the link leads elsewhere, the
	// same content is no longer trusted.
	symlink(t, filepath.Join(home, "data"), filepath.Join(ws, "data"))
	if _, errs, code := run(args...); code != 2 || !strings.Contains(errs, "is the file you trusted") {
		t.Errorf("trusted narrowing file whose link now leaves: exit %d, stderr %s", code, errs)
	}
	if _, errs, code := run("trust"); code != 0 {
		t.Fatalf("launch trust: exit %d, stderr %s", code, errs)
	}
	if out, errs, code := run(args...); code != 0 || !strings.Contains(out, filepath.Join(home, "data")) {
		t.Fatalf("trusted link to ~/data: exit %d, stderr %s", code, errs)
	}
	symlink(t, ssh, filepath.Join(ws, "data"))
	if out, errs, code := run(args...); code != 2 || !strings.Contains(errs, "a path in it now leads elsewhere") || !strings.Contains(errs, ssh) || strings.Contains(out, ssh) {
		t.Errorf("trusted link swapped to ~/.ssh: exit %d, stderr %s", code, errs)
	}
	if out, _, _ := run("trust", "--show"); !strings.Contains(out, "LEADS ELSEWHERE") {
		t.Errorf("trust --show does not say the link moved: %s", out)
	}

	// A prompt file in the workspace, trusted, later a link to a key.
	os.Remove(filepath.Join(ws, "data"))
	writeFile(t, filepath.Join(ws, "prompt.md"), "Be brief.\n")
	writeFile(t, cfg, "[agents.shell]\nprompt_file = \"prompt.md\"\nprompt_args = [\"{file}\"]\n")
	if _, errs, code := run("trust"); code != 0 {
		t.Fatalf("launch trust: exit %d, stderr %s", code, errs)
	}
	if out, errs, code := run(args...); code != 0 || !strings.Contains(out, `"first_line": "Be brief."`) {
		t.Fatalf("trusted prompt file: exit %d, stdout %s, stderr %s", code, out, errs)
	}
	symlink(t, filepath.Join(ssh, "id_ed25519"), filepath.Join(ws, "prompt.md"))
	if out, errs, code := run(args...); code != 2 || !strings.Contains(errs, "as its prompt") || strings.Contains(out, "PRIVATE") {
		t.Errorf("prompt file swapped to a key: exit %d, stdout %s, stderr %s", code, out, errs)
	}
	// Named by the user, the same link is refused when read.
	os.Remove(cfg)
	if out, errs, code := run(append([]string{"--prompt", "prompt.md"}, args...)...); code != 2 || !strings.Contains(errs, "outside the workspace") || strings.Contains(out, "PRIVATE") {
		t.Errorf("--prompt through a link to a key: exit %d, stdout %s, stderr %s", code, out, errs)
	}

	// A project skill that links to ~/.ssh, with a manifest the key
	// satisfies, asked for by the user's own config: refused.
	writeFile(t, filepath.Join(home, "config", "launch", "config.toml"), "[agents.shell]\nskills = [\"k\"]\nskills_project = \".skills\"\nskills_home = \".my-skills\"\n")
	writeFile(t, cfg, "[agents.shell]\nskill_manifest = \"id_ed25519\"\n")
	if err := os.MkdirAll(filepath.Join(ws, ".skills"), 0o755); err != nil {
		t.Fatal(err)
	}
	symlink(t, ssh, filepath.Join(ws, ".skills", "k"))
	if out, errs, code := run(args...); code != 2 || !strings.Contains(errs, `skill "k"`) || !strings.Contains(errs, "outside the workspace") || strings.Contains(out, ssh) {
		t.Errorf("project skill linking to ~/.ssh: exit %d, stdout %s, stderr %s", code, out, errs)
	}
	os.Remove(filepath.Join(home, "config", "launch", "config.toml"))

	// A .launch.toml that links to another project's trusted file.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, ".launch.toml"), "mounts = [\""+filepath.Join(home, "data")+":/d\"]\n")
	if _, errs, code := realLaunch(t, home, other)("trust"); code != 0 {
		t.Fatalf("launch trust in the other project: exit %d, stderr %s", code, errs)
	}
	ws2 := t.TempDir()
	symlink(t, filepath.Join(other, ".launch.toml"), filepath.Join(ws2, ".launch.toml"))
	if _, errs, code := realLaunch(t, home, ws2)(args...); code != 2 || !strings.Contains(errs, "is not trusted") {
		t.Errorf("a .launch.toml linking to a trusted file: exit %d, stderr %s", code, errs)
	}
}

// TestConfigFileKinds: a .launch.toml must be a regular file (after its
// links) of at most 1 MiB; a device, a FIFO, a directory or a huge file is
// refused at once with what to do, never read until memory runs out.
func TestConfigFileKinds(t *testing.T) {
	home, ws := t.TempDir(), t.TempDir()
	run := realLaunch(t, home, ws)
	cfg := filepath.Join(ws, ".launch.toml")
	args := []string{"--json", "--backend", "docker", "--image", "x/y:1", "shell"}
	tests := []struct {
		name string
		make func()
		want string
	}{
		{"dev-zero", func() { symlink(t, "/dev/zero", cfg) }, "a device, not a regular file"},
		{"fifo", func() {
			if err := syscall.Mkfifo(cfg, 0o644); err != nil {
				t.Skip(err)
			}
		}, "a FIFO, not a regular file"},
		{"directory", func() {
			if err := os.Mkdir(cfg, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "a directory, not a regular file"},
		{"too-large", func() { writeFile(t, cfg, "# "+strings.Repeat("x", maxConfig)+"\n") }, "larger than 1024 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.RemoveAll(cfg)
			tt.make()
			if _, errs, code := run(args...); code != 2 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, cfg) {
				t.Errorf("exit %d, stderr %s", code, errs)
			}
			if _, errs, code := run("trust"); code != 2 || !strings.Contains(errs, tt.want) {
				t.Errorf("launch trust: exit %d, stderr %s", code, errs)
			}
		})
	}
	os.RemoveAll(cfg)
	writeFile(t, cfg, "network = \"none\"\n")
	if _, errs, code := run(args...); code != 0 {
		t.Errorf("a regular file: exit %d, stderr %s", code, errs)
	}
}

// TestSwappedWhileStarting: a trusted project mount or prompt file whose
// link leads elsewhere by the time launch mounts or reads it than when
// launch reviewed the file, moments before, is refused.
func TestSwappedWhileStarting(t *testing.T) {
	for _, tt := range []struct{ name, project, link string }{
		{"mount", "mounts = [\"data-link:/d:ro\"]\n", "/home/ana/proj/data-link"},
		{"prompt", "[agents.codex]\nprompt_file = \"p-link\"\n", "/home/ana/proj/p-link"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fsys := goldenCase{files: map[string]string{"home/ana/proj/.launch.toml": tt.project, "home/ana/notes.md": "Be brief.\n", "home/ana/.ssh/id_ed25519": "PRIVATE\n"}}.fs()
			fsys["home/ana/proj/p-link"] = &fstest.MapFile{Mode: fs.ModeSymlink, Data: []byte("/home/ana/notes.md")}
			fsys["home/ana/.local/state/launch/trust.json"] = trustedStore(fsys, "/home/ana/proj")
			h := fakeHost(fsys, nil, false)
			eval, calls := h.EvalSymlinks, 0
			h.EvalSymlinks = func(p string) (string, error) {
				if p == tt.link {
					if calls++; calls > 1 {
						return "/home/ana/.ssh", nil // swapped after the review
					}
				}
				return eval(p)
			}
			var out, errb bytes.Buffer
			code := runApp(context.Background(), iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, h, []string{"launch", "--json", "--backend", "docker", "codex"})
			if code != 2 || !strings.Contains(errb.String(), `now leads to "/home/ana/.ssh"`) || strings.Contains(out.String(), ".ssh") {
				t.Errorf("exit %d, stdout %s, stderr %s", code, out.String(), errb.String())
			}
		})
	}
}

// FuzzSecondMounts: whatever mounts of workspace content a user or a
// project adds (the workspace, paths in it, its parent; at any container
// path, read-only or not, with --ro and --mask), no container path shows a
// protected path, or what lies in it, writable.
func FuzzSecondMounts(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), false, false)
	f.Add(uint8(1), uint8(2), uint8(3), uint8(1), true, false)
	f.Add(uint8(4), uint8(5), uint8(2), uint8(4), false, true)
	sources := []string{".", "..", ".git", ".git/hooks", "src", ".launch.toml", "/home/ana"}
	targets := []string{"/w", "/w/x", "/home/ana/proj/.git", "/home/ana/proj/sub", "/home/ana/proj/.git/hooks", "/up", "/home/ana/proj/src/in"}
	protected := []string{"/home/ana/proj/.git/hooks", "/home/ana/proj/.git/config", "/home/ana/proj/.launch.toml"}
	f.Fuzz(func(t *testing.T, s1, t1, s2, t2 uint8, ro, project bool) {
		spec := func(s, d uint8) string {
			return sources[int(s)%len(sources)] + ":" + targets[int(d)%len(targets)]
		}
		files := map[string]string{"home/ana/proj/.launch.toml": "network = \"none\"\n"}
		args := []string{"--mount", spec(s1, t1)}
		if ro {
			args[1] += ":ro"
		}
		if project {
			files["home/ana/proj/.launch.toml"] = fmt.Sprintf("mounts = [%q]\n", spec(s2, t2))
		} else {
			args = append(args, "--mount", spec(s2, t2))
		}
		fsys := goldenCase{files: files}.fs()
		h := fakeHost(fsys, nil, false)
		var p plan.Plan
		app := newApp(iostreams.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, h, func(ctx context.Context, fl *flagState, cmd *cli.Command) error {
			o, err := buildOptions(h, fl, cmd)
			if err != nil {
				return err
			}
			r, err := resolve(o, h)
			p = r.Plan
			return err
		})
		if err := app.Run(context.Background(), append([]string{"launch"}, append(args, "shell")...)); err != nil {
			t.Skip(err) // a conflict, a mount over /, a widening project file
		}
		// shows is the mount a container path is seen through: the
		// deepest one at or above it.
		shows := func(target string) *plan.Mount {
			var best *plan.Mount
			for i, m := range p.Mounts {
				if (target == m.Target || strings.HasPrefix(target, strings.TrimSuffix(m.Target, "/")+"/")) && (best == nil || len(m.Target) > len(best.Target)) {
					best = &p.Mounts[i]
				}
			}
			return best
		}
		for _, m := range p.Mounts {
			if m.Kind != plan.MountBind {
				continue
			}
			for _, prot := range protected {
				var target string
				switch rel, err := filepath.Rel(m.Source, prot); {
				case err == nil && rel != ".." && !strings.HasPrefix(rel, "../"):
					target = filepath.Join(m.Target, rel)
				case strings.HasPrefix(m.Source, prot+"/"):
					target = m.Target
				default:
					continue
				}
				d := shows(target)
				if d == nil || d.Kind != plan.MountBind || d.ReadOnly {
					continue
				}
				// Writable there: it must show something else than prot.
				rel, _ := filepath.Rel(d.Target, target)
				if host := filepath.Join(d.Source, rel); host == prot || strings.HasPrefix(host, prot+"/") {
					t.Fatalf("%q shows %q writable through %+v; mounts:\n%+v", target, prot, *d, p.Mounts)
				}
			}
		}
	})
}
