//go:build integration

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 22, items 5 and 6: a repository (or an agent, for the next session)
// that shows the workspace at a second path, or swaps a path that launch
// judged for a link to the user's secrets, gets nothing. On Docker,
// rootless and rootful Podman and Apptainer (as uid 1000 when the tests run
// as root).

// adversaryBackends are Docker, rootless Podman, Apptainer and rootful
// Podman.
func adversaryBackends() []e2eBackend {
	var out []e2eBackend
	for _, b := range networkBackends() {
		if b.name != "docker-runsc" {
			out = append(out, b)
		}
	}
	return out
}

func forEachAdversaryBackend(t *testing.T, f func(t *testing.T, s *session)) {
	for _, b := range adversaryBackends() {
		t.Run(string(b.name), func(t *testing.T) { f(t, newNetSession(t, b)) })
	}
}

// link makes link point at target, owned by the session's user.
func (s *session) link(target, link string) {
	s.t.Helper()
	if err := os.RemoveAll(link); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		s.t.Fatal(err)
	}
	if s.cred != nil {
		os.Lchown(link, int(s.cred.Uid), int(s.cred.Gid))
	}
}

// TestE2ESecondWorkspaceMount: a second mount of the workspace, an
// untrusted project file's (mounts = [".:/w"], which narrows) or the
// user's own (--mount .:/w), carries the protected paths read-only: the
// agent cannot plant a hook, change .git/config or rewrite .launch.toml
// through /w, and can write the rest of the workspace there.
func TestE2ESecondWorkspaceMount(t *testing.T) {
	forEachAdversaryBackend(t, func(t *testing.T, s *session) {
		s.write(filepath.Join(s.ws, ".git/config"), "[core]\n\tbare = false\n")
		s.write(filepath.Join(s.ws, ".git/hooks/pre-commit.sample"), "#!/bin/sh\n")
		script := `
try() { if ( eval "$1" ) 2>/dev/null; then echo "WROTE $2"; else echo "refused $2"; fi; }
try 'echo "#!/bin/sh" > /w/.git/hooks/post-checkout' hook
try 'printf "[core]\n\tfsmonitor = /tmp/x\n" >> /w/.git/config' config
try 'echo "mounts = [\"/:/host\"]" >> /w/.launch.toml' .launch.toml
try 'echo ok > /w/notes.txt' notes
`
		for _, c := range []struct {
			name, project string
			flags         []string
		}{
			{"project", "mounts = [\".:/w\"]\n", nil},
			{"user", "network = \"none\"\n", []string{"--mount", ".:/w"}},
		} {
			s.write(filepath.Join(s.ws, ".launch.toml"), c.project)
			out, errs, code := s.run("", append(append([]string{"--yes"}, c.flags...), "shell", script)...)
			if code != 0 {
				t.Fatalf("%s: exit %d; stderr %s", c.name, code, errs)
			}
			for _, want := range []string{"refused hook", "refused config", "refused .launch.toml", "WROTE notes"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s mount .:/w: want %q; got\n%s", c.name, want, out)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(s.ws, ".launch.toml")); string(b) != c.project {
				t.Errorf("%s: .launch.toml on the host is now %q", c.name, b)
			}
			if b, _ := os.ReadFile(filepath.Join(s.ws, ".git/config")); string(b) != "[core]\n\tbare = false\n" {
				t.Errorf("%s: .git/config on the host is now %q", c.name, b)
			}
			if _, err := os.Lstat(filepath.Join(s.ws, ".git/hooks/post-checkout")); err == nil {
				t.Errorf("%s: the planted hook is on the host", c.name)
			}
		}
	})
}

// TestE2ELinksSwappedAfterTrust: a path that launch judged (a project
// file's in-workspace mount, a trusted prompt_file, a project skill) and
// that is swapped for a link to the user's ~/.ssh before the next launch
// is refused before anything starts, and a .launch.toml that links to
// another project's trusted file is not trusted here. The key never
// reaches the container.
func TestE2ELinksSwappedAfterTrust(t *testing.T) {
	forEachAdversaryBackend(t, func(t *testing.T, s *session) {
		ssh := filepath.Join(s.home, ".ssh")
		s.write(filepath.Join(ssh, "id_ed25519"), "PRIVATE KEY\n")
		cfg := filepath.Join(s.ws, ".launch.toml")
		trust := func(dir string) {
			t.Helper()
			if _, errs, code := s.run("", "trust", dir); code != 0 {
				t.Fatalf("launch trust %s: exit %d, stderr %s", dir, code, errs)
			}
		}
		refused := func(what, script, want string) {
			t.Helper()
			out, errs, code := s.run("", "--yes", "shell", script)
			if code != 2 || strings.Contains(out+errs, "PRIVATE") || !strings.Contains(errs, want) {
				t.Errorf("%s: exit %d, want 2 with %q; stdout %q, stderr %s", what, code, want, out, errs)
			}
		}

		// A mount of a workspace directory, in a trusted file; then the
		// directory is a link to ~/.ssh.
		s.write(filepath.Join(s.ws, "data", "x"), "x\n")
		s.write(cfg, "mounts = [\"data:/data\"]\n")
		trust(s.ws)
		s.link(ssh, filepath.Join(s.ws, "data"))
		refused("in-workspace mount swapped to ~/.ssh", "cat /data/id_ed25519", `mounts "data" (a link to "`+ssh+`")`)
		os.Remove(filepath.Join(s.ws, "data"))

		// A trusted prompt file in the workspace, then a link to the key.
		s.write(filepath.Join(s.ws, "prompt.md"), "Be brief.\n")
		s.write(cfg, "[agents.shell]\nprompt_file = \"prompt.md\"\nprompt_args = [\"{file}\"]\n")
		trust(s.ws)
		s.link(filepath.Join(ssh, "id_ed25519"), filepath.Join(s.ws, "prompt.md"))
		refused("prompt file swapped to a key", "cat /etc/launch/prompt.md", "a path in it now leads elsewhere")

		// A project skill directory that links to ~/.ssh, with a manifest
		// the key satisfies (skill_manifest narrows); the user asks for
		// the skill in their own config.
		s.write(filepath.Join(s.home, ".config", "launch", "config.toml"), "[agents.shell]\nskills = [\"k\"]\nskills_project = \".skills\"\nskills_home = \".my-skills\"\n")
		s.write(cfg, "[agents.shell]\nskill_manifest = \"id_ed25519\"\n")
		s.write(filepath.Join(s.ws, ".skills", "README"), "skills\n")
		s.link(ssh, filepath.Join(s.ws, ".skills", "k"))
		// (Apptainer binds at the link's target, so look there too.)
		refused("project skill linking to ~/.ssh", "cat .skills/k/id_ed25519 || cat "+filepath.Join(ssh, "id_ed25519"), "outside the workspace")
		os.Remove(filepath.Join(s.home, ".config", "launch", "config.toml"))

		// Another project's trusted file, linked in as .launch.toml.
		other := filepath.Join(s.home, "other")
		s.write(filepath.Join(other, ".launch.toml"), "mounts = [\""+ssh+":/s:ro\"]\n")
		trust(other)
		if _, errs, code := s.run("", "trust", "--revoke", s.ws); code != 0 {
			t.Fatalf("launch trust --revoke: exit %d, stderr %s", code, errs)
		}
		s.link(filepath.Join(other, ".launch.toml"), cfg)
		refused("a .launch.toml linking to another project's trusted file", "cat /s/id_ed25519", "is not trusted")
	})
}
