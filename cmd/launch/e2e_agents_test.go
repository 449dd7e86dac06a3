//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/naming"
)

// The real agents (.ci/agents.sh: Node, Codex, Claude Code and Pi from the
// npm registry at pinned versions, in launch-test/agents:latest and
// agents.sif) complete a turn through launch against the scripted model
// server of e2e_model_test.go, reached only through --network allow=.

const agentsImage = "launch-test/agents:latest"

// agentOut is the file the model has each agent write with its shell tool.
const agentOut = "agent-out.txt"

// agentBackends are the backends the real agents run on, pointed at the
// agents' image: Docker, rootless and rootful Podman, Apptainer, and
// Apptainer under Slurm.
func agentBackends() []e2eBackend {
	var out []e2eBackend
	for _, b := range networkBackends() {
		base := b.ready
		switch b.name {
		case backendDocker:
			b.flags = []string{"--backend", "docker", "--image", agentsImage}
			b.ready = func() error {
				if err := base(); err != nil {
					return err
				}
				if out, err := exec.Command("docker", "image", "inspect", agentsImage).CombinedOutput(); err != nil {
					return fmt.Errorf("docker image %s missing (run .ci/agents.sh): %v: %s", agentsImage, err, out)
				}
				return nil
			}
		case backendPodman, "podman-rootful":
			url := fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID)
			if b.name != backendPodman {
				url = "unix:///run/podman/podman.sock"
			}
			b.flags = []string{"--backend", "podman", "--url", url, "--image", "localhost/" + agentsImage}
			b.ready = func() error {
				if err := base(); err != nil {
					return err
				}
				c := exec.Command("podman", "--url", url, "image", "exists", "localhost/"+agentsImage)
				c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
				if os.Getuid() == 0 && b.name == backendPodman {
					c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testUID, Gid: testUID}}
				}
				if out, err := c.CombinedOutput(); err != nil {
					return fmt.Errorf("podman (%s) image localhost/%s missing (run .ci/agents.sh): %v: %s", url, agentsImage, err, out)
				}
				return nil
			}
		case backendSingularity:
			b.flags = []string{"--backend", "singularity", "--sif-path", ciImages + "/agents.sif"}
			b.ready = func() error {
				if err := base(); err != nil {
					return err
				}
				if _, err := os.Stat(ciImages + "/agents.sif"); err != nil {
					return fmt.Errorf("the agents' SIF is missing (run .ci/agents.sh): %v", err)
				}
				return nil
			}
			slurm := b
			slurm.name = "slurm"
			slurm.flags = append(append([]string{}, b.flags...), "--slurm")
			slurm.ready = func() error {
				if err := b.ready(); err != nil {
					return err
				}
				return slurmReady()
			}
			out = append(out, b, slurm)
			continue
		default:
			continue
		}
		out = append(out, b)
	}
	return out
}

// realAgent is how one agent is pointed at the model server and told to
// run non-interactively.
type realAgent struct {
	name string
	// setup prepares the session (config files, the fake key's variable)
	// and returns launch's arguments from the agent's name on.
	setup func(s *session, m *modelServer, key string) []string
}

const agentPrompt = "Write the file with your shell tool."

var realAgents = []realAgent{
	{"claude", func(s *session, m *modelServer, key string) []string {
		// ANTHROPIC_ and CLAUDE_CODE variables pass by the agent's prefixes.
		s.env = append(s.env, "ANTHROPIC_BASE_URL="+m.base(), "ANTHROPIC_API_KEY="+key,
			"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
		return []string{"claude", "-p", "--allowedTools=Bash", agentPrompt}
	}},
	{"codex", func(s *session, m *modelServer, key string) []string {
		s.env = append(s.env, "FAKE_OPENAI_KEY="+key)
		provider := fmt.Sprintf(`model_providers.fake={name="fake",base_url="%s/v1",env_key="FAKE_OPENAI_KEY",wire_api="responses"}`, m.base())
		return []string{"--env", "FAKE_OPENAI_KEY", "codex", "exec", "--skip-git-repo-check",
			"-c", provider, "-c", "model_provider=fake", "-c", "model=fake-model",
			"-c", "analytics.enabled=false", "-c", "check_for_update_on_startup=false", "-c", "features.plugins=false", agentPrompt}
	}},
	{"pi", func(s *session, m *modelServer, key string) []string {
		// Pi speaks Anthropic's Messages API here, through a provider of
		// its own in models.json whose key is read from PI_FAKE_KEY (PI_
		// variables pass by the agent's prefix).
		s.env = append(s.env, "PI_FAKE_KEY="+key)
		models := fmt.Sprintf(`{"providers":{"fake":{"baseUrl":%q,"api":"anthropic-messages","apiKey":"PI_FAKE_KEY","models":[{"id":"fake-model"}]}}}`, m.base())
		s.write(filepath.Join(s.home, ".pi", "agent", "models.json"), models)
		return []string{"pi", "-p", "--provider", "fake", "--model", "fake-model", agentPrompt}
	}},
}

// TestE2ERealAgents: each real agent, on each backend, completes a turn in
// which the model has it write a file with its shell tool: exit 0, the
// file is in the workspace and the caller's, the model server got the
// tool's result back, the proxy's log names the model server only, the
// fake key is on no command line, the protected paths are untouched, and
// no container is left.
func TestE2ERealAgents(t *testing.T) {
	// Apptainer unpacks the SIF (1.3 GB) into launch's sandbox cache once:
	// one cache for all its runs here, not one per session's home.
	cache, err := os.MkdirTemp("", "launch-e2e-sandbox-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cache) })
	os.Chmod(cache, 0o755)
	if os.Getuid() == 0 {
		os.Chown(cache, testUID, testUID)
	}
	for _, b := range agentBackends() {
		t.Run(string(b.name), func(t *testing.T) {
			for _, a := range realAgents {
				t.Run(a.name, func(t *testing.T) {
					s := newNetSession(t, b)
					if b.name == backendSingularity || b.name == "slurm" {
						for i, e := range s.env {
							if strings.HasPrefix(e, "XDG_CACHE_HOME=") {
								s.env[i] = "XDG_CACHE_HOME=" + cache
							}
						}
					}
					runRealAgent(t, s, a, false)
				})
			}
		})
	}
}

// TestE2ERealAgentIsolated: Claude Code on Docker with --isolate: the file
// it writes comes back as the branch launch/SESSION, the working tree
// untouched.
func TestE2ERealAgentIsolated(t *testing.T) {
	var docker e2eBackend
	for _, b := range agentBackends() {
		if b.name == backendDocker {
			docker = b
		}
	}
	s := newNetSession(t, docker)
	git := isolatedRepo(t, s)
	before := treeSum(t, s.ws)
	runRealAgent(t, s, realAgents[0], true)
	if after := treeSum(t, s.ws); after != before {
		t.Errorf("the host working tree or index changed")
	}
	branch := git("for-each-ref", "--format=%(refname:short)", "refs/heads/launch/")
	if !strings.HasPrefix(branch, "launch/claude-") || strings.Contains(branch, "\n") {
		t.Fatalf("want one branch launch/claude-...; have %q", branch)
	}
	if got := git("diff", "--name-status", branch+"~1", branch); got != "A\t"+agentOut {
		t.Errorf("the branch's last commit changes %q, want the agent's %s", got, agentOut)
	}
	if got := git("show", branch+":"+agentOut); got != "written by the agent" {
		t.Errorf("%s on the branch: %q", agentOut, got)
	}
}

// runRealAgent runs agent a in session s against a new model server and
// checks what it left. With isolate, the file is looked for on the branch
// (by the caller), not in the workspace.
func runRealAgent(t *testing.T, s *session, a realAgent, isolate bool) {
	t.Helper()
	m := newModelServer(t, "echo 'written by the agent' > "+agentOut)
	key := fmt.Sprintf("sk-fake-%s-%08x", a.name, rand.Uint32())
	// Protected paths: what the agent must not change.
	protected := map[string]string{
		".envrc":                "export LAUNCH_E2E=1\n",
		".git/hooks/pre-commit": "#!/bin/sh\nexit 0\n",
		".vscode/settings.json": "{}\n",
		".launch-e2e-untouched": "x\n",
	}
	if !isolate {
		for p, c := range protected {
			s.write(filepath.Join(s.ws, p), c)
		}
	}
	args := append([]string{"--yes", "--network", m.allow()}, a.setup(s, m, key)...)
	if isolate {
		args = append([]string{"--isolate"}, args...)
	}
	c := s.cmd(args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	// While it runs, no process shows the key on its command line.
	leak := ""
	var err error
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(4 * time.Minute)
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			if leak == "" {
				leak = cmdlineHolding(key)
			}
		case <-deadline:
			c.Process.Signal(syscall.SIGTERM)
			err = <-done
			t.Errorf("%s did not finish within 4 minutes", a.name)
			break wait
		}
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	events := m.seen()
	if code != 0 {
		t.Fatalf("exit %d; model server saw %q\nstdout:\n%s\nstderr:\n%s", code, events, out.String(), errb.String())
	}
	if leak != "" {
		t.Errorf("a command line holds the fake key: %s", leak)
	}
	var call, result bool
	for _, e := range events {
		call = call || strings.Contains(e, ": tool call ")
		result = result || strings.HasSuffix(e, ": tool result")
	}
	if !call || !result {
		t.Errorf("the model server saw %q: want a tool call and then its result", events)
	}
	if !isolate {
		p := filepath.Join(s.ws, agentOut)
		b, err := os.ReadFile(p)
		if err != nil || string(b) != "written by the agent\n" {
			t.Errorf("%s: %q, %v; model server saw %q\nstdout:\n%s\nstderr:\n%s", agentOut, b, err, events, out.String(), errb.String())
		} else if fi, err := os.Stat(p); err == nil {
			want := uint32(os.Getuid())
			if s.cred != nil {
				want = s.cred.Uid
			}
			if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != want {
				t.Errorf("%s belongs to uid %d, want the caller's %d", agentOut, uid, want)
			}
		}
		for p, c := range protected {
			if b, err := os.ReadFile(filepath.Join(s.ws, p)); err != nil || string(b) != c {
				t.Errorf("protected %s: %q, %v; want %q", p, b, err, c)
			}
		}
	}
	checkModelLog(t, s, a.name, m)
	if left := leftContainers(s.backend, c.Process.Pid); left != "" {
		t.Errorf("left behind: %s", left)
	}
	if p := cmdlineHolding(s.ws); p != "" {
		t.Errorf("a process of the session is left: %s", p)
	}
}

// checkModelLog: the session's proxy log names the model server and
// nothing else, and allowed it.
func checkModelLog(t *testing.T, s *session, agent string, m *modelServer) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(s.home, ".local", "state", "launch", "network", agent+"-*.log"))
	if len(logs) != 1 {
		t.Fatalf("session logs: %v, want one", logs)
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var d struct {
			Host, Verdict string
			Port          int
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if d.Host != m.host || d.Port != m.port {
			t.Errorf("the session log names %s:%d, not the model server %s:%d: %s", d.Host, d.Port, m.host, m.port, line)
		}
		if d.Verdict == "allow" {
			allowed++
		}
	}
	if allowed == 0 {
		t.Errorf("the session log allowed nothing:\n%s", b)
	}
}

// leftContainers lists the containers of the launch with process id pid
// that remain on b's engine ("" when none). Apptainer has no engine to ask:
// there a process of the session is what would remain (the caller looks).
func leftContainers(b e2eBackend, pid int) string {
	label := fmt.Sprintf("label=%s=%d", naming.LabelPID, pid)
	var c *exec.Cmd
	switch b.name {
	case backendDocker:
		c = exec.Command("docker", "ps", "-aq", "--filter", label)
	case backendPodman:
		c = exec.Command("podman", "--url", fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID), "ps", "-aq", "--filter", label)
		c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	case "podman-rootful":
		c = exec.Command("podman", "--url", "unix:///run/podman/podman.sock", "ps", "-aq", "--filter", label)
	default:
		return ""
	}
	out, err := c.Output()
	if err != nil {
		return fmt.Sprintf("%s: %v", c, err)
	}
	return strings.TrimSpace(string(out))
}
