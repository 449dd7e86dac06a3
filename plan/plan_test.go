package plan

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

const modPath = "github.com/launchcli/launch"

// TestPlanIsALeaf keeps plan free of SDKs: standard library only.
func TestPlanIsALeaf(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != modPath+"/plan" {
			t.Errorf("plan imports %s; it may import only the standard library", p)
		}
	}
}

func valid() Plan {
	return Plan{
		Agent:     "shell",
		Image:     Image{OCI: "img:latest", SIF: "/x/img.sif"},
		Argv:      []string{"/bin/bash"},
		Workdir:   "/ws",
		Workspace: "/ws",
		User:      User{UID: 1000, GID: 1000, Name: "devuser", Home: "/home/devuser"},
		Mounts: []Mount{
			{Kind: MountBind, Source: "/ws", Target: "/ws", Origin: OriginWorkspace},
			{Kind: MountMask, Target: "/ws/secret", ReadOnly: true, Origin: OriginMask},
		},
		Env:     []EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "s3cret", FromHost: true}},
		Network: Network{Mode: NetworkNone},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Plan)
		wantErr string // "" for valid
	}{
		{"valid", func(*Plan) {}, ""},
		{"no-image", func(p *Plan) { p.Image = Image{} }, "image"},
		{"path-twice", func(p *Plan) {
			p.Env = SortEnv(append(p.Env, EnvVar{Name: "PATH", Value: "/bin"}))
			p.PathPrepend = []string{"/x/bin"}
		}, "PATH is set in env"},
		{"path-prepend-relative", func(p *Plan) { p.PathPrepend = []string{"x/bin"} }, "path_prepend"},
		{"bad-platform", func(p *Plan) { p.Image.Platform = Platform{OS: "windows", Arch: "amd64"} }, "platform"},
		{"no-argv", func(p *Plan) { p.Argv = nil }, "argv"},
		{"relative-workdir", func(p *Plan) { p.Workdir = "ws" }, "workdir"},
		{"unclean-workdir", func(p *Plan) { p.Workdir = "/ws/../x" }, "workdir"},
		{"negative-uid", func(p *Plan) { p.User.UID = -1 }, "user"},
		{"relative-home", func(p *Plan) { p.User.Home = "home" }, "home"},
		{"relative-source", func(p *Plan) { p.Mounts[0].Source = "ws" }, "source"},
		{"mask-with-source", func(p *Plan) { p.Mounts[1].Source = "/x" }, "no source"},
		{"mask-writable", func(p *Plan) { p.Mounts[1].ReadOnly = false }, "read-only"},
		{"unknown-kind", func(p *Plan) { p.Mounts[0].Kind = "volume" }, "unknown kind"},
		{"root-target", func(p *Plan) { p.Mounts[0].Target = "/" }, "target"},
		{"colon-in-path", func(p *Plan) { p.Mounts[0].Source = "/a:b" }, "':'"},
		{"duplicate-target", func(p *Plan) {
			p.Mounts = append(p.Mounts, Mount{Kind: MountBind, Source: "/other", Target: "/ws"})
		}, "bound twice"},
		{"bad-env-name", func(p *Plan) { p.Env[0].Name = "1A" }, "env name"},
		{"unsorted-env", func(p *Plan) { p.Env[0], p.Env[1] = p.Env[1], p.Env[0] }, "sorted"},
		{"nul-value", func(p *Plan) { p.Env[0].Value = "a\x00b" }, "NUL"},
		{"no-network-mode", func(p *Plan) { p.Network = Network{} }, "network mode"},
		{"allow-empty", func(p *Plan) { p.Network = Network{Mode: NetworkAllow} }, "empty allowlist"},
		{"none-with-list", func(p *Plan) { p.Network.Allow = []HostPort{{Host: "a"}} }, "allowlist"},
		{"none-with-proxy", func(p *Plan) { p.Network.Proxy = &Proxy{Dir: "/d", Binary: "/b", Port: 1} }, "a proxy needs mode allow"},
		{"bad-runtime", func(p *Plan) { p.Runtime = "kata" }, "runtime"},
		{"bad-pull", func(p *Plan) { p.Pull = "sometimes" }, "pull"},
		{"gpus-both", func(p *Plan) { p.GPUs = GPUs{All: true, Devices: []string{"0"}} }, "gpus"},
		{"relative-prepare", func(p *Plan) { p.Prepare = []HostPath{{Path: "x"}} }, "prepare"},
		{"least-privilege", func(p *Plan) { p.Privileges = DefaultPrivileges("CAP_CHOWN", "CAP_NET_RAW") }, ""},
		{"bad-capability-set", func(p *Plan) { p.Privileges.Capabilities = "all" }, "capabilities \"all\""},
		{"capability-not-canonical", func(p *Plan) { p.Privileges.Add = []string{"NET_RAW"} }, "canonical"},
		{"capability-unknown", func(p *Plan) { p.Privileges.Add = []string{"CAP_FLY"} }, "CAP_FLY"},
		{"capabilities-unsorted", func(p *Plan) { p.Privileges.Add = []string{"CAP_NET_RAW", "CAP_CHOWN"} }, "sorted"},
		{"capability-twice", func(p *Plan) { p.Privileges.Add = []string{"CAP_CHOWN", "CAP_CHOWN"} }, "twice"},
		{"limits", func(p *Plan) {
			p.Limits = Limits{Memory: 1 << 30, MilliCPUs: 1500, PIDs: DefaultPIDs, PIDsDefault: true}
		}, ""},
		{"memory-tiny", func(p *Plan) { p.Limits.Memory = 1024 }, "memory 1024"},
		{"cpus-negative", func(p *Plan) { p.Limits.MilliCPUs = -1 }, "milli_cpus"},
		{"pids-tiny", func(p *Plan) { p.Limits.PIDs = 3 }, "pids 3"},
		{"publish-open", func(p *Plan) {
			p.Network = Network{Mode: NetworkOpen}
			p.Publish = []Port{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80}, {HostIP: "::1", HostPort: 8080, ContainerPort: 80}}
		}, ""},
		{"publish-network-none", func(p *Plan) {
			p.Network = Network{Mode: NetworkNone}
			p.Publish = []Port{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80}}
		}, "needs --network open"},
		{"publish-allowlist", func(p *Plan) {
			p.Network = Network{Mode: NetworkAllow, Allow: []HostPort{{Host: "a", Port: 443}}}
			p.Publish = []Port{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80}}
		}, "with network allow the container has no network interface"},
		{"publish-twice", func(p *Plan) {
			p.Network = Network{Mode: NetworkOpen}
			p.Publish = []Port{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80}, {HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 81}}
		}, "127.0.0.1:8080 published twice"},
		{"publish-no-address", func(p *Plan) {
			p.Network = Network{Mode: NetworkOpen}
			p.Publish = []Port{{HostPort: 8080, ContainerPort: 80}}
		}, "not an IP address"},
		{"publish-port-zero", func(p *Plan) {
			p.Network = Network{Mode: NetworkOpen}
			p.Publish = []Port{{HostIP: "127.0.0.1", HostPort: 8080}}
		}, "ports run from 1 to 65535"},
		{"pids-default-alone", func(p *Plan) { p.Limits.PIDsDefault = true }, "pids_default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid()
			tt.mutate(&p)
			err := p.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed, want an error about %s", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseNetwork(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"none", "none"},
		{"open", "open"},
		{"allow=github.com", "allow=github.com"},
		{"allow=pypi.org:443,GitHub.com,github.com", "allow=github.com,pypi.org:443"},
		{"allow=*.example.com:8080", "allow=*.example.com:8080"},
		{"allow=10.0.0.1:22", "allow=10.0.0.1:22"},
		{"allow=[::1]:80", "allow=[::1]:80"},
		{"allow=", ""},
		{"allow=a.com:0", ""},
		{"allow=a.com:x", ""},
		{"allow=-bad.com", ""},
		{"allow=a b", ""},
		// What resolvers read as addresses, and zones: refused as entries.
		{"allow=2130706433", ""},
		{"allow=0x7f.1", ""},
		{"allow=0177.0.0.1", ""},
		{"allow=127.1:80", ""},
		{"allow=*.0x1", ""},
		{"allow=[fe80::1%25eth0]:80", ""},
		{"allow=[fe80::1%eth0]", ""},
		{"allow=127.0.0.1.nip.io,x1.com", "allow=127.0.0.1.nip.io,x1.com"},
		{"allow=0x7f.example", "allow=0x7f.example"},
		{"host", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseNetwork(tt.in)
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseNetwork(%q) = %v, %v; want an ErrInvalid", tt.in, n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := n.String(); got != tt.want {
				t.Errorf("ParseNetwork(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRuntimeAndPull(t *testing.T) {
	if r, err := ParseRuntime("runsc"); err != nil || r != RuntimeRunsc {
		t.Errorf("ParseRuntime(runsc) = %q, %v", r, err)
	}
	if _, err := ParseRuntime("kata"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseRuntime(kata) = %v, want ErrInvalid", err)
	}
	if p, err := ParsePull("never"); err != nil || p != PullNever {
		t.Errorf("ParsePull(never) = %q, %v", p, err)
	}
	if _, err := ParsePull("sometimes"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParsePull(sometimes) = %v, want ErrInvalid", err)
	}
}

func TestJSONHidesInheritedValues(t *testing.T) {
	p := valid()
	b, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cret") {
		t.Errorf("JSON holds an inherited value: %s", b)
	}
	if !strings.Contains(string(b), `{"name":"B","from_host":true}`) {
		t.Errorf("JSON lacks the inherited variable by name: %s", b)
	}
	if !strings.Contains(string(b), `{"name":"A","value":"1"}`) {
		t.Errorf("JSON lacks the constant variable: %s", b)
	}
}

func TestHashStableAndSensitive(t *testing.T) {
	a, b := valid(), valid()
	if a.Hash() != b.Hash() {
		t.Error("equal plans hash differently")
	}
	b.Argv = []string{"/bin/sh"}
	if a.Hash() == b.Hash() {
		t.Error("different plans hash the same")
	}
}

func TestSortEnvLaterWins(t *testing.T) {
	got := SortEnv([]EnvVar{{Name: "B", Value: "1"}, {Name: "A", Value: "x"}, {Name: "B", Value: "2"}})
	want := []EnvVar{{Name: "A", Value: "x"}, {Name: "B", Value: "2"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("SortEnv = %v, want %v", got, want)
	}
	p := Plan{Env: got}
	if e, ok := p.Lookup("B"); !ok || e.Value != "2" {
		t.Errorf("Lookup(B) = %v, %v", e, ok)
	}
	if _, ok := p.Lookup("C"); ok {
		t.Error("Lookup(C) found a variable that is not set")
	}
}

// TestUnmapped: who the agent runs as where the engine cannot map the
// caller to the image user.
func TestUnmapped(t *testing.T) {
	base := Plan{User: User{UID: 1000, GID: 1000, Home: "/home/devuser"}}
	tests := []struct {
		name   string
		caller Caller
		priv   Privileges
		mounts []Mount
		want   RunAs
	}{
		{"image user", Caller{UID: 1000, GID: 1000}, Privileges{}, nil, RunAs{UID: 1000, GID: 1000, ImageUser: true}},
		{"another user", Caller{UID: 1001, GID: 1002}, Privileges{}, nil, RunAs{UID: 1001, GID: 1002}},
		{"root, least privilege", Caller{UID: 0, GID: 5}, Privileges{}, nil, RunAs{}},
		{"root, the image's privileges", Caller{UID: 0, GID: 5}, Privileges{Capabilities: CapabilitiesImage}, nil, RunAs{ImageHome: true}},
		{"home under a mount", Caller{UID: 1001, GID: 1001}, Privileges{}, []Mount{{Kind: MountBind, Source: "/h", Target: "/home"}}, RunAs{UID: 1001, GID: 1001, HomeMount: "/home"}},
		{"a sibling is no home", Caller{UID: 1001, GID: 1001}, Privileges{}, []Mount{{Kind: MountBind, Source: "/h", Target: "/home/devuser2"}}, RunAs{UID: 1001, GID: 1001}},
	}
	for _, tt := range tests {
		p := base
		p.Caller, p.Privileges, p.Mounts = tt.caller, tt.priv, tt.mounts
		if got := p.Unmapped(); got != tt.want {
			t.Errorf("%s: Unmapped() = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in      string
		want    Port
		wantErr string
	}{
		{in: "8080:80", want: Port{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80}},
		{in: "0.0.0.0:3000:3000", want: Port{HostIP: "0.0.0.0", HostPort: 3000, ContainerPort: 3000}},
		{in: "[::1]:9000:90", want: Port{HostIP: "::1", HostPort: 9000, ContainerPort: 90}},
		{in: "192.168.001.2:1:2", wantErr: "is not an IP address"},
		{in: "80", wantErr: "no container port"},
		{in: "::1:9000:90", wantErr: "IPv6 address in brackets"},
		{in: "localhost:8080:80", wantErr: `"localhost" is not an IP address`},
		{in: "8080:0", wantErr: "container port \"0\""},
		{in: "70000:80", wantErr: "host port \"70000\""},
		{in: "8080:80/udp", wantErr: "container port"},
		{in: ":80", wantErr: "host port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePort(tt.in)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePort(%q) = %v, %v; want an ErrInvalid about %s", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePort(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if back, err := ParsePort(got.String()); err != nil || back != got {
				t.Errorf("ParsePort(%q) (its String) = %v, %v; want %v", got.String(), back, err, got)
			}
		})
	}
}
