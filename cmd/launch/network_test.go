package main

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/launchcli/launch/internal/health"
)

// TestNetworkPolicies: what a user sees for each way of naming a policy:
// agent lists, unknown agents, macOS.
func TestNetworkPolicies(t *testing.T) {
	tests := []struct {
		name  string
		c     goldenCase
		goos  string
		code  int
		wants []string // in stdout+stderr
		nots  []string
	}{
		{name: "agent-list", c: goldenCase{args: []string{"--json", "--network", "allow=@codex,*.github.com", "codex"}},
			wants: []string{`"host": "api.openai.com"`, `"host": "*.github.com"`, `"binary": "/usr/local/bin/launch"`, `"port": 3128`}},
		{name: "agent-list-in-config", c: goldenCase{args: []string{"--json", "codex"}, files: map[string]string{"home/ana/.config/launch/config.toml": "network = \"allow=@claude\"\n[agents.claude]\nnetwork_allow = [\"api.anthropic.com:443\"]\n"}},
			wants: []string{`"host": "api.anthropic.com"`}, nots: []string{"statsig"}},
		{name: "unknown-agent-list", c: goldenCase{args: []string{"--network", "allow=@nope", "codex"}}, code: 2,
			wants: []string{`network: @nope: no agent "nope" with a suggested allowlist (network_allow); have @claude, @codex, @pi`}},
		{name: "bad-agent-ref", c: goldenCase{args: []string{"--network", "allow=@No!", "codex"}}, code: 2,
			wants: []string{`--network: network "allow=@No!": "@No!": want @AGENT`}},
		{name: "macos-no-linux-binary", goos: "darwin", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "--network", "allow=github.com", "codex"}}, code: 2,
			wants: []string{"the proxy sidecar runs a static Linux launch binary for amd64, and there is none (looked for /usr/local/bin/launch-linux-amd64, /home/ana/.cache/launch/bin/launch-linux-amd64, /home/ana/go/bin/linux_amd64/launch); install one: `make install-linux` in launch's source", "`GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go install -tags"}},
		{name: "macos-sidecar", goos: "darwin", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "--network", "allow=github.com", "codex"}, files: map[string]string{"home/ana/.cache/launch/bin/launch-linux-amd64": "ELF"}},
			wants: []string{"docker volume create --opt device=tmpfs --opt o=mode=1777 --opt type=tmpfs --label dev.launch.sidecar=launch-proxy-4242 --label dev.launch.sidecar-volume=launch-net-4242 launch-net-4242",
				"--mount type=bind,source=/home/ana/.cache/launch/bin/launch-linux-amd64,target=/.launch/launch,readonly",
				"--entrypoint /.launch/launch", "proxy --socket /.launch/net/proxy.sock --log /.launch/log/codex-4242.log --network allow=github.com",
				"--mount type=volume,source=launch-net-4242,target=/.launch/net", "--network none",
				"/.launch/launch _forward --socket /.launch/net/proxy.sock --listen 127.0.0.1:3128 -- codex", "launch: network allow=github.com: through a proxy sidecar"},
			nots: []string{"launch proxy --socket /tmp", "mkdir -m 0700 /tmp"}},
		{name: "macos-socket-refused", goos: "darwin", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "--network-via", "socket", "--network", "allow=github.com", "codex"}}, code: 2,
			wants: []string{"network_via socket: the engine runs in a VM on darwin, which a host Unix socket cannot reach"}},
		{name: "macos-podman-sidecar", goos: "darwin", c: goldenCase{args: []string{"--dry-run", "--backend", "podman", "--network", "allow=github.com", "codex"}, files: map[string]string{"home/ana/.cache/launch/bin/launch-linux-amd64": "ELF"}},
			wants: []string{"podman volume create --opt device=tmpfs --opt o=mode=1777 --opt type=tmpfs --label dev.launch.sidecar=launch-proxy-4242 --label dev.launch.sidecar-volume=launch-net-4242 launch-net-4242",
				"podman run --init --read-only -d --name launch-proxy-4242 --pull missing", "--mount type=volume,source=launch-net-4242,destination=/.launch/net",
				"--entrypoint /.launch/launch", "proxy --socket /.launch/net/proxy.sock --log /.launch/log/codex-4242.log --network allow=github.com",
				"trap 'podman rm -f launch-proxy-4242 >/dev/null 2>&1; podman volume rm launch-net-4242 >/dev/null 2>&1' EXIT", "podman volume inspect launch-net-4242 >/dev/null 2>&1 && { echo 'launch: volume launch-net-4242 exists: see launch ps, or remove it with launch gc' >&2; exit 125; }"}},
		{name: "linux-sidecar-singularity-refused", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "--network-via", "sidecar", "--network", "allow=github.com", "codex"}}, code: 2,
			wants: []string{`network "allow=github.com" through a proxy sidecar: a sidecar is a container of an engine, which Apptainer has not; use network_via = "socket"`}},
		{name: "linux-sidecar-from-project-file", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "--network", "allow=github.com", "codex"}, files: map[string]string{"home/ana/proj/.launch.toml": "network_via = \"sidecar\"\n"}},
			wants: []string{"--mount type=volume,source=launch-net-4242,target=/.launch/net", "mkdir -p -m 0700 /home/ana/.local/state/launch/network", "trap 'docker volume rm launch-net-4242 >/dev/null 2>&1' EXIT", "trap 'docker rm -f launch-proxy-4242 >/dev/null 2>&1; docker volume rm launch-net-4242 >/dev/null 2>&1' EXIT"}},
		{name: "linux-sidecar-detach", c: goldenCase{args: []string{"--dry-run", "--backend", "docker", "--detach", "--network-via", "sidecar", "--network", "allow=github.com", "codex"}},
			wants: []string{"docker run --init -d -i", " && trap - EXIT"}},
		{name: "bad-network-via", c: goldenCase{args: []string{"--dry-run", "--network-via", "vpn", "codex"}}, code: 2,
			wants: []string{`network_via "vpn": want socket or sidecar`}},
		{name: "dry-run-notes", c: goldenCase{args: []string{"--dry-run", "--backend", "singularity", "--network", "allow=github.com:22", "codex"}},
			wants: []string{"launch: network allow=github.com:22: the container has no network (only lo)", "launch proxy --socket /tmp/launch-net-4242/proxy.sock", "--net --network none", "/.launch/launch _forward"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			goos := tt.goos
			if goos == "" {
				goos = "linux"
			}
			out, errOut, code := runCaseOn(t, tt.c, goos)
			all := out + errOut
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, all)
			}
			for _, w := range tt.wants {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, n := range tt.nots {
				if strings.Contains(all, n) {
					t.Errorf("output has %q:\n%s", n, all)
				}
			}
		})
	}
}

// TestNetworkHealth: launch doctor says how an allowlist is enforced per
// backend and host: the host socket and the sidecar on Linux (the sidecar
// for engines only), the sidecar on macOS when a Linux binary is there, a
// warning saying how to get one when it is not, and nothing for Apptainer
// on macOS.
func TestNetworkHealth(t *testing.T) {
	facts := func(goos, backend string, files map[string]string) (map[string]string, []health.Problem) {
		fsys := fakeFS()
		for p, c := range files {
			fsys[p] = &fstest.MapFile{Data: []byte(c)}
		}
		h := fakeHost(fsys, nil, false)
		h.GOOS = goos
		h.Executable = os.Args[0] // a Go test binary: static under CGO_ENABLED=0
		r := health.Report{Backend: backend}
		networkHealth(&r, h, "")
		m := map[string]string{}
		for _, f := range r.Facts {
			m[f.Name] = f.Value
		}
		return m, r.Problems
	}
	bin := map[string]string{"home/ana/.cache/launch/bin/launch-linux-amd64": "ELF"}
	if m, _ := facts("darwin", "docker", bin); !strings.Contains(m["network allow="], "network_via sidecar") || !strings.Contains(m["network allow="], "/home/ana/.cache/launch/bin/launch-linux-amd64") {
		t.Errorf("darwin docker: %q", m["network allow="])
	}
	if m, probs := facts("darwin", "podman", nil); !strings.Contains(m["network allow="], "no static Linux launch binary") || len(probs) != 1 || !strings.Contains(probs[0].Fix, "make install-linux") {
		t.Errorf("darwin podman without a binary: %q %+v", m["network allow="], probs)
	}
	if m, probs := facts("darwin", "singularity", bin); m["network allow="] != "not enforced on darwin" || len(probs) != 0 {
		t.Errorf("darwin singularity: %q %+v", m["network allow="], probs)
	}
	if m, _ := facts("linux", "singularity", nil); m["network allow= (sidecar)"] != "" {
		t.Errorf("linux singularity lists a sidecar: %q", m["network allow= (sidecar)"])
	}
}
