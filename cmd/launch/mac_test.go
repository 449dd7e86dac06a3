package main

import (
	"bytes"
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/launchcli/launch/internal/health"
	"github.com/launchcli/launch/internal/iostreams"
)

// The Mac's rules, run on Linux through Host with GOOS=darwin facts: there
// is no Mac in CI.

// macHost is a fake Mac (Apple silicon unless arch says otherwise) with
// the fake file system and files added.
func macHost(arch string, files map[string]string) *Host {
	fsys := fakeFS()
	for p, c := range files {
		if strings.HasSuffix(p, "/") {
			fsys[strings.TrimSuffix(p, "/")] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
			continue
		}
		fsys[p] = &fstest.MapFile{Data: []byte(c)}
	}
	h := fakeHost(fsys, nil, false)
	h.GOOS, h.GOARCH, h.UID = "darwin", arch, 501
	return h
}

func runMac(t *testing.T, h *Host, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	s := iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}
	code = runApp(context.Background(), s, h, append([]string{"launch"}, args...))
	return out.String(), errb.String(), code
}

// A podman machine's files, as Podman 5 writes them: the default
// connection, and the machine's own file with the directories it shares.
const macConnections = `{"Connection":{"Default":"%s","Connections":{
 "podman-machine-default":{"URI":"ssh://core@127.0.0.1:53720/run/user/501/podman/podman.sock","Identity":"/home/ana/.local/share/containers/podman/machine/machine","IsMachine":true},
 "podman-machine-default-root":{"URI":"ssh://root@127.0.0.1:53720/run/podman/podman.sock","Identity":"/home/ana/.local/share/containers/podman/machine/machine","IsMachine":true}}}}`

func machineFile(rootful string, shares ...string) string {
	var mounts []string
	for _, s := range shares {
		mounts = append(mounts, `{"Source":"`+s+`","Target":"`+s+`","Type":"virtiofs"}`)
	}
	return `{"Name":"podman-machine-default","HostUser":{"Rootful":` + rootful + `},"Mounts":[` + strings.Join(mounts, ",") + `]}`
}

func withConnection(files map[string]string, def string) map[string]string {
	files["home/ana/.config/containers/podman-connections.json"] = strings.Replace(macConnections, "%s", def, 1)
	return files
}

// TestMacPathMapping: bind sources are given to the podman machine as it
// names them (/tmp is /private/tmp), and a source outside what the machine
// shares is a warning that says how to share it. The shares are the
// machine's own list when its file is there (an external disk under
// /Volumes shared with -v), else Podman's defaults (/Users, /private,
// /var/folders).
func TestMacPathMapping(t *testing.T) {
	dirs := map[string]string{"tmp/data/": "", "Volumes/ext/data/": "", "Users/ana/ref/": ""}
	tests := []struct {
		name    string
		files   map[string]string
		mount   string
		source  string // as rendered
		warning string // "" for none
	}{
		{name: "tmp is /private/tmp, shared by default", mount: "/tmp/data:/data", source: "/private/tmp/data"},
		{name: "/Users shared by default", mount: "/Users/ana/ref:/data", source: "/Users/ana/ref"},
		{name: "/Volumes not shared by default", mount: "/Volumes/ext/data:/data", source: "/Volumes/ext/data",
			warning: `mount "/Volumes/ext/data" is outside what the podman machine shares with this Mac (/home/ana, /Users, /private, /var/folders), so the agent would not see it; move it under your home directory, or share it: ` + "`podman machine stop; podman machine set -v /Volumes/ext/data:/Volumes/ext/data`"},
		{name: "/Volumes shared by the machine", files: map[string]string{"home/ana/.config/containers/podman/machine/applehv/podman-machine-default.json": machineFile("false", "/home/ana", "/Volumes/ext")},
			mount: "/Volumes/ext/data:/data", source: "/Volumes/ext/data"},
		{name: "the machine's list replaces the defaults", files: map[string]string{"home/ana/.config/containers/podman/machine/libkrun/podman-machine-default.json": machineFile("false", "/home/ana", "/Volumes/ext")},
			mount: "/tmp/data:/data", source: "/private/tmp/data",
			warning: `mount "/tmp/data" is outside what the podman machine shares with this Mac (/home/ana, /Volumes/ext)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := withConnection(map[string]string{}, "podman-machine-default")
			for p, c := range dirs {
				files[p] = c
			}
			for p, c := range tt.files {
				files[p] = c
			}
			out, errOut, code := runMac(t, macHost("arm64", files), "--dry-run", "--arch", "arm64", "--mount", tt.mount, "shell")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if want := "--mount type=bind,source=" + tt.source + ",destination=/data"; !strings.Contains(out, want) {
				t.Errorf("the command lacks %q:\n%s", want, out)
			}
			shares := strings.Contains(errOut, "is outside what the podman machine shares")
			switch {
			case tt.warning == "" && shares:
				t.Errorf("unexpected warning:\n%s", errOut)
			case tt.warning != "" && !strings.Contains(errOut, tt.warning):
				t.Errorf("stderr lacks %q:\n%s", tt.warning, errOut)
			}
		})
	}
}

// TestMacEmulationWarning: an amd64 image (launch's default images are)
// on Apple silicon runs under emulation, and launch says so; an image of
// the machine's own architecture, or an Intel Mac, gets no such warning.
func TestMacEmulationWarning(t *testing.T) {
	const warning = "warning: platform linux/amd64 on a arm64 podman machine runs under emulation"
	tests := []struct {
		name, goos, arch string
		args             []string
		want             bool
	}{
		{"apple-silicon-default-image", "darwin", "arm64", nil, true},
		{"apple-silicon-arm64-image", "darwin", "arm64", []string{"--arch", "arm64"}, false},
		{"intel-mac", "darwin", "amd64", nil, false},
		{"linux-arm64", "linux", "arm64", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := macHost(tt.arch, nil)
			h.GOOS = tt.goos
			_, errOut, code := runMac(t, h, append(append([]string{"--dry-run", "--backend", "podman"}, tt.args...), "codex")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if got := strings.Contains(errOut, warning); got != tt.want {
				t.Errorf("emulation warning %v, want %v:\n%s", got, tt.want, errOut)
			}
		})
	}
}

// TestMacLinuxBinaryLookup: the proxy sidecar's Linux build of launch is
// the image's architecture's (amd64 for the default images, also on Apple
// silicon), looked for next to launch, then in ~/.cache/launch/bin, then
// where `GOOS=linux go install` puts it; on Linux for the host's own
// architecture it is the running launch.
func TestMacLinuxBinaryLookup(t *testing.T) {
	const (
		next  = "usr/local/bin/launch-linux-amd64"
		cache = "home/ana/.cache/launch/bin/launch-linux-amd64"
		gobin = "home/ana/go/bin/linux_amd64/launch"
	)
	tests := []struct {
		name       string
		goos, arch string // the host's
		image      string // the image's architecture; "" the host's
		files      []string
		env        []string
		want       string // "" for an error
	}{
		{name: "next to launch first", goos: "darwin", arch: "arm64", image: "amd64", files: []string{next, cache, gobin}, want: "/" + next},
		{name: "then the cache", goos: "darwin", arch: "arm64", image: "amd64", files: []string{cache, gobin}, want: "/" + cache},
		{name: "then go install's", goos: "darwin", arch: "arm64", image: "amd64", files: []string{gobin}, want: "/" + gobin},
		{name: "GOPATH's first entry", goos: "darwin", arch: "arm64", image: "amd64", files: []string{"src/gopath/bin/linux_amd64/launch"}, env: []string{"GOPATH=/src/gopath:/other"}, want: "/src/gopath/bin/linux_amd64/launch"},
		{name: "the image's architecture, not the Mac's", goos: "darwin", arch: "arm64", image: "amd64", files: []string{"home/ana/.cache/launch/bin/launch-linux-arm64"}},
		{name: "the host's architecture by default", goos: "darwin", arch: "arm64", files: []string{"home/ana/.cache/launch/bin/launch-linux-arm64"}, want: "/home/ana/.cache/launch/bin/launch-linux-arm64"},
		{name: "linux: the running launch", goos: "linux", arch: "amd64", image: "amd64", want: "/usr/local/bin/launch"},
		{name: "linux, another architecture", goos: "linux", arch: "amd64", image: "arm64", files: []string{"home/ana/.cache/launch/bin/launch-linux-arm64"}, want: "/home/ana/.cache/launch/bin/launch-linux-arm64"},
		{name: "none", goos: "darwin", arch: "amd64", image: "amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			for _, f := range tt.files {
				files[f] = "ELF"
			}
			h := macHost(tt.arch, files)
			h.GOOS = tt.goos
			h.Env = append(h.Env, tt.env...)
			got, err := linuxBinary(h, tt.image)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "make install-linux") || !strings.Contains(err.Error(), "go install") {
					t.Fatalf("linuxBinary: %q, %v; want an error that says how to install one", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("linuxBinary: %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// A real plan on Apple silicon with the default image mounts the amd64
	// build into the sidecar.
	h := macHost("arm64", map[string]string{cache: "ELF", "home/ana/.cache/launch/bin/launch-linux-arm64": "ELF"})
	out, errOut, code := runMac(t, h, "--dry-run", "--backend", "podman", "--network", "allow=github.com", "codex")
	if code != 0 || !strings.Contains(out, "source=/"+cache+",") {
		t.Errorf("exit %d; the sidecar does not mount %s:\n%s\n%s", code, cache, out, errOut)
	}
}

// TestMacSidecarDefault: on a Mac an allowlist goes through the proxy
// sidecar without being asked (the engine's VM cannot reach a host
// socket), on Linux through the host socket.
func TestMacSidecarDefault(t *testing.T) {
	for _, goos := range []string{"darwin", "linux"} {
		h := macHost("amd64", map[string]string{"home/ana/.cache/launch/bin/launch-linux-amd64": "ELF"})
		h.GOOS = goos
		out, errOut, code := runMac(t, h, "--dry-run", "--backend", "podman", "--network", "allow=github.com", "codex")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", goos, code, errOut)
		}
		sidecar := strings.Contains(out, "--name launch-proxy-4242")
		if sidecar != (goos == "darwin") {
			t.Errorf("%s: sidecar %v:\n%s", goos, sidecar, out)
		}
	}
}

// TestMacDoctor: launch doctor on a Mac says which connection and which
// machine, rootful or rootless, what the machine shares, and where the
// sidecar's Linux build is, or how to install it.
func TestMacDoctor(t *testing.T) {
	facts := func(h *Host) (map[string]string, []health.Problem) {
		r := health.Report{Backend: "podman"}
		macDoctor(&r, h, "", "amd64")
		networkHealth(&r, h, "amd64")
		m := map[string]string{}
		for _, f := range r.Facts {
			m[f.Name] = f.Value
		}
		return m, r.Problems
	}
	files := withConnection(map[string]string{
		"home/ana/.config/containers/podman/machine/applehv/podman-machine-default.json": machineFile("false", "/Users", "/private", "/var/folders", "/Volumes/ext"),
	}, "podman-machine-default")
	m, probs := facts(macHost("arm64", files))
	for name, want := range map[string]string{
		"connection":         `ssh://core@127.0.0.1:53720/run/user/501/podman/podman.sock (connection "podman-machine-default" in /home/ana/.config/containers/podman-connections.json)`,
		"machine":            "podman-machine-default (/home/ana/.config/containers/podman/machine/applehv/podman-machine-default.json), rootless",
		"machine shares":     "/Users, /private, /var/folders, /Volumes/ext (its file)",
		"launch-linux-amd64": "missing: the proxy sidecar of --network allow=... needs it for linux/amd64 images",
		"launch-linux-arm64": "missing: needed only for --network allow=... with --arch arm64",
	} {
		if !strings.HasPrefix(m[name], want) {
			t.Errorf("%s: %q, want %q...", name, m[name], want)
		}
	}
	if !strings.Contains(m["launch-linux-amd64"], "make install-linux") || !strings.Contains(m["launch-linux-amd64"], "GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go install") {
		t.Errorf("launch-linux-amd64: no install command: %q", m["launch-linux-amd64"])
	}
	if len(probs) != 1 || !strings.Contains(probs[0].What, "launch-linux-amd64") || !strings.Contains(probs[0].Fix, "make install-linux") {
		t.Errorf("problems %+v; want one, the missing launch-linux-amd64 with its fix", probs)
	}

	// Rootful, the binaries installed, no machine file.
	files = withConnection(map[string]string{
		"home/ana/.cache/launch/bin/launch-linux-amd64": "ELF",
		"home/ana/.cache/launch/bin/launch-linux-arm64": "ELF",
	}, "podman-machine-default-root")
	m, probs = facts(macHost("arm64", files))
	if !strings.HasPrefix(m["machine"], "podman-machine-default, rootful") || !strings.Contains(m["machine shares"], "Podman's defaults") ||
		m["launch-linux-amd64"] != "/home/ana/.cache/launch/bin/launch-linux-amd64" || m["launch-linux-arm64"] != "/home/ana/.cache/launch/bin/launch-linux-arm64" || len(probs) != 0 {
		t.Errorf("rootful machine: %q %+v", m, probs)
	}

	// Not a Mac: nothing of this.
	h := macHost("amd64", files)
	h.GOOS = "linux"
	r := health.Report{Backend: "podman"}
	macDoctor(&r, h, "", "amd64")
	if len(r.Facts) != 0 || len(r.Problems) != 0 {
		t.Errorf("linux: %+v", r)
	}
}
