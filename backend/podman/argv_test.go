package podman

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/go-units"
	"github.com/launchcli/launch/internal/golden"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	nettypes "go.podman.io/common/libnetwork/types"
	"go.podman.io/podman/v6/pkg/specgen"
	"go.podman.io/podman/v6/pkg/specgenutilexternal"
)

func TestCommand(t *testing.T) {
	base := func() *specgen.SpecGenerator {
		s := specgen.NewSpecGenerator("img:1", false)
		s.RawImageName = "img:1"
		s.Command = []string{"sh"}
		return s
	}
	tests := []struct {
		name string
		q    func() request
		want string // shell.Join of the argv
	}{
		{
			name: "minimal",
			q:    func() request { return request{Spec: base()} },
			want: "podman run img:1 sh",
		},
		{
			name: "flags",
			q: func() request {
				s := base()
				s.Remove, s.Stdin, s.Terminal, s.HTTPProxy = ptr(true), ptr(true), ptr(true), ptr(false)
				s.Name = "launch-shell"
				s.ImageOS, s.ImageArch, s.ImageVariant = "linux", "arm64", "v8"
				s.UserNS = specgen.Namespace{NSMode: specgen.KeepID, Value: "uid=1000,gid=1000"}
				s.User = "1000:1000"
				s.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
				s.Devices = []specs.LinuxDevice{{Path: "nvidia.com/gpu=all"}}
				s.Labels = map[string]string{"b": "2", "a": "1"}
				s.WorkDir = "/w"
				return request{Spec: s, Pull: plan.PullNever}
			},
			want: "podman run --rm -i -t --name launch-shell --pull never --platform linux/arm64 --variant v8" +
				" --userns keep-id:uid=1000,gid=1000 --user 1000:1000 --network none --http-proxy=false" +
				" --device nvidia.com/gpu=all --label a=1 --label b=2 --workdir /w img:1 sh",
		},
		{
			name: "runtime is a global flag",
			q: func() request {
				s := base()
				s.OCIRuntime = "runsc"
				return request{Spec: s}
			},
			want: "podman --runtime runsc run img:1 sh",
		},
		{
			name: "userns host",
			q: func() request {
				s := base()
				s.UserNS = specgen.Namespace{NSMode: specgen.Host}
				return request{Spec: s}
			},
			want: "podman run --userns host img:1 sh",
		},
		{
			name: "env sorted, inherited by name",
			q: func() request {
				s := base()
				s.Env = map[string]string{"TOKEN": "s3cret", "B": "two words", "A": `it's "quoted"`}
				return request{Spec: s, Inherited: []string{"TOKEN"}}
			},
			want: `podman run --env 'A=it'\''s "quoted"' --env 'B=two words' --env TOKEN img:1 sh`,
		},
		{
			name: "mounts in order, quoted",
			q: func() request {
				s := base()
				s.Mounts = []specs.Mount{
					{Type: "bind", Source: "/home/ana/my proj", Destination: "/home/ana/my proj"},
					{Type: "bind", Source: `/data/"q"`, Destination: "/ref", Options: []string{"ro"}},
					{Type: "tmpfs", Source: "tmpfs", Destination: "/home/ana/my proj/secrets", Options: []string{"ro", "notmpcopyup"}},
					{Type: "bind", Source: "/dev/null", Destination: "/home/ana/my proj/.env", Options: []string{"ro"}},
					{Type: "tmpfs", Source: "tmpfs", Destination: "/home/devuser", Options: []string{"exec", "mode=0700", "U", "notmpcopyup"}},
				}
				return request{Spec: s}
			},
			want: `podman run` +
				` --mount 'type=bind,source=/home/ana/my proj,destination=/home/ana/my proj'` +
				` --mount 'type=bind,"source=/data/""q""",destination=/ref,ro=true'` +
				` --mount 'type=tmpfs,destination=/home/ana/my proj/secrets,ro=true,notmpcopyup'` +
				` --mount 'type=bind,source=/dev/null,destination=/home/ana/my proj/.env,ro=true'` +
				` --mount type=tmpfs,destination=/home/devuser,exec,tmpfs-mode=0700,U=true,notmpcopyup img:1 sh`,
		},
		{
			name: "command words kept apart",
			q: func() request {
				s := base()
				s.Command = []string{"/bin/bash", "-c", `echo "$HOME" 'x'`}
				return request{Spec: s}
			},
			want: `podman run img:1 /bin/bash -c 'echo "$HOME" '\''x'\'''`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q()
			argv, err := command(q)
			if err != nil {
				t.Fatal(err)
			}
			if got := shell.Join(argv); got != tt.want {
				t.Errorf("argv\n got %s\nwant %s", got, tt.want)
			}
			checkShellRoundTrip(t, argv)
			back, pull, err := parseRun(argv, inheritedEnv(q.Spec, q.Inherited))
			if err != nil {
				t.Fatal(err)
			}
			if pull != q.Pull {
				t.Errorf("pull parsed back = %q, want %q", pull, q.Pull)
			}
			want := *q.Spec
			// What podman run sets from its defaults when no flag says
			// otherwise; Render always sets them, these hand-made specs
			// do not.
			for _, b := range []**bool{&want.Remove, &want.Stdin, &want.Terminal} {
				if *b == nil {
					*b = ptr(false)
				}
			}
			if want.HTTPProxy == nil {
				want.HTTPProxy = ptr(true)
			}
			if want.Env == nil {
				want.Env = map[string]string{}
			}
			if want.Labels == nil {
				want.Labels = map[string]string{}
			}
			want.ContainerCreateCommand = argv
			sameSpec(t, back, &want)
		})
	}
}

func TestCommandRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*request)
		want   string
	}{
		{"auto userns", func(q *request) { q.Spec.UserNS = specgen.Namespace{NSMode: specgen.Auto} }, `user namespace "auto"`},
		{"bridge network", func(q *request) { q.Spec.NetNS = specgen.Namespace{NSMode: specgen.Bridge} }, `network "bridge"`},
		{"volume mount", func(q *request) {
			q.Spec.Mounts = []specs.Mount{{Type: "volume", Source: "v", Destination: "/v"}}
		}, `mount type "volume"`},
		{"copy-up option on a bind", func(q *request) {
			q.Spec.Mounts = []specs.Mount{{Type: "bind", Source: "/a", Destination: "/a", Options: []string{"notmpcopyup"}}}
		}, `option "notmpcopyup"`},
		{"mount option", func(q *request) {
			q.Spec.Mounts = []specs.Mount{{Type: "bind", Source: "/a", Destination: "/a", Options: []string{"rbind"}}}
		}, `option "rbind"`},
		{"inherited but absent", func(q *request) { q.Inherited = []string{"NOPE"} }, "inherited variable NOPE"},
		{"image like a flag", func(q *request) { q.Spec.Image = "--privileged" }, `image "--privileged"`},
		{"variant in arch", func(q *request) { q.Spec.ImageOS, q.Spec.ImageArch = "linux", "arm64/v8" }, "platform"},
		{"device with major", func(q *request) { q.Spec.Devices = []specs.LinuxDevice{{Path: "/dev/x", Major: 1}} }, `device "/dev/x"`},
		{"chown on a bind", func(q *request) {
			q.Spec.Mounts = []specs.Mount{{Type: "bind", Source: "/a", Destination: "/a", Options: []string{"U"}}}
		}, `option "U"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := request{Spec: specgen.NewSpecGenerator("img", false)}
			tt.change(&q)
			_, err := command(q)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("command() error = %v, want one containing %q", err, tt.want)
			}
			if !errors.Is(err, plan.ErrUnsupported) {
				t.Errorf("command() error %v does not wrap plan.ErrUnsupported", err)
			}
		})
	}
}

// checkRoundTrip parses r.Argv back into a spec, as podman run would, with
// the inherited values taken from a stand-in for the caller's environment,
// and compares it with r.Spec field by field (see sameSpec): a field the
// argv drops or changes fails the test.
func checkRoundTrip(t *testing.T, r Rendered) {
	t.Helper()
	if !reflect.DeepEqual(r.Spec.ContainerCreateCommand, r.Argv) {
		t.Errorf("spec's create command = %q, want the argv", r.Spec.ContainerCreateCommand)
	}
	back, pull, err := parseRun(r.Argv, inheritedEnv(r.Spec, r.Inherited))
	if err != nil {
		t.Fatalf("parse the argv back: %v\n%s", err, shell.Join(r.Argv))
	}
	if pull != r.Pull {
		t.Errorf("pull parsed back = %q, want %q", pull, r.Pull)
	}
	sameSpec(t, back, r.Spec)
	checkShellRoundTrip(t, r.Argv)
}

// inheritedEnv stands in for the caller's environment: the values of the
// inherited variables, which the printed command reads from it.
func inheritedEnv(s *specgen.SpecGenerator, inherited []string) map[string]string {
	env := map[string]string{}
	for _, name := range inherited {
		env[name] = s.Env[name]
	}
	return env
}

// sameSpec compares got with want field by field, with reflect.DeepEqual,
// descending into SpecGenerator's embedded structs, and names each field
// that differs. No field is left out or normalised: parseRun sets exactly
// what the podman CLI sets (see there).
func sameSpec(t *testing.T, got, want *specgen.SpecGenerator) {
	t.Helper()
	for _, d := range specDiff(got, want) {
		t.Errorf("spec parsed back from the argv differs in %s", d)
	}
}

// specDiff lists the fields in which got and want differ, as
// "Name: got ..., want ...".
func specDiff(got, want *specgen.SpecGenerator) []string {
	var diffs []string
	var walk func(prefix string, g, w reflect.Value)
	walk = func(prefix string, g, w reflect.Value) {
		for i := 0; i < g.NumField(); i++ {
			f := g.Type().Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(prefix, g.Field(i), w.Field(i))
				continue
			}
			gv, wv := g.Field(i).Interface(), w.Field(i).Interface()
			if !reflect.DeepEqual(gv, wv) {
				gj, _ := json.Marshal(gv)
				wj, _ := json.Marshal(wv)
				diffs = append(diffs, fmt.Sprintf("%s%s: got %s, want %s", prefix, f.Name, gj, wj))
			}
		}
	}
	walk("", reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem())
	return diffs
}

// checkShellRoundTrip runs the quoted command through a POSIX shell and
// checks that the shell splits it back into argv, word for word. sh is on
// every machine the tests run on: its absence is a failure, not a skip.
func checkShellRoundTrip(t *testing.T, argv []string) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("the printed command cannot be checked: %v", err)
	}
	script := "set -- " + shell.Join(argv) + `; for a in "$@"; do printf '%s\0' "$a"; done`
	out, err := exec.Command(sh, "-c", script).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !reflect.DeepEqual(got, argv) {
		t.Errorf("the shell splits the printed command into\n%q\nwant\n%q", got, argv)
	}
}

// parseRun reads a `podman run` argv the way podman run reads it
// (cmd/podman/containers/run.go: flags into ContainerCreateOptions, then
// specgenutil.FillOutSpecGen), for exactly the flags command writes: any
// other flag is an error. It starts from specgen.NewSpecGenerator, as podman
// run does, and sets what podman run always sets from its own defaults
// (--rm, -i, -t, --http-proxy; the env and label maps) and from the command
// line itself (ContainerCreateCommand, RawImageName).
//
// It does not call podman's own FillOutSpecGen: that function is importable
// under our build tags without cgo, but only with the CLI's flag set
// (cmd/podman/common), whose package init reads this machine's
// containers.conf and os.Args, and whose output carries that machine's
// defaults (ulimits, umask, timezone, stop timeout, ...), so that the
// comparison would depend on where the test runs; it also brings buildah
// and the CLI's dependencies into go.mod for a test. Podman's own parsers
// are used where they stand alone: the --mount splitter
// (specgenutilexternal.FindMountType) and the --userns parser
// (specgen.ParseUserNamespace).
func parseRun(argv []string, env map[string]string) (*specgen.SpecGenerator, plan.PullPolicy, error) {
	if len(argv) < 2 || argv[0] != "podman" {
		return nil, "", fmt.Errorf("not a podman command: %q", argv)
	}
	s := specgen.NewSpecGenerator("", false)
	// What podman run always sets: FillOutSpecGen copies these options
	// whether or not a flag was given, with the CLI's defaults.
	s.Remove, s.Stdin, s.Terminal, s.HTTPProxy = ptr(false), ptr(false), ptr(false), ptr(true)
	s.Env, s.Labels = map[string]string{}, map[string]string{}
	// podman run records its own command line (os.Args).
	s.ContainerCreateCommand = append([]string(nil), argv...)
	var pull plan.PullPolicy
	i := 1
	next := func() (string, error) {
		i++
		if i >= len(argv) {
			return "", fmt.Errorf("flag %s: no value", argv[i-1])
		}
		return argv[i], nil
	}
	for ; i < len(argv) && argv[i] != "run"; i++ {
		if argv[i] != "--runtime" {
			return nil, "", fmt.Errorf("global flag %q: unknown", argv[i])
		}
		v, err := next()
		if err != nil {
			return nil, "", err
		}
		s.OCIRuntime = v
	}
	if i == len(argv) {
		return nil, "", fmt.Errorf("no run in %q", argv)
	}
	for i++; i < len(argv) && strings.HasPrefix(argv[i], "-"); i++ {
		flag := argv[i]
		switch flag {
		case "--rm":
			s.Remove = ptr(true)
			continue
		case "--init":
			s.Init = ptr(true)
			continue
		case "-d":
			// Detached: nothing in the spec says so (podman run does not
			// attach); Remove stays false without --rm.
			continue
		case "-i":
			s.Stdin = ptr(true)
			continue
		case "-t":
			s.Terminal = ptr(true)
			continue
		case "--http-proxy=false":
			s.HTTPProxy = ptr(false)
			continue
		case "--read-only":
			// --read-only-tmpfs defaults to true.
			s.ReadOnlyFilesystem, s.ReadWriteTmpfs = ptr(true), ptr(true)
			continue
		}
		v, err := next()
		if err != nil {
			return nil, "", err
		}
		switch flag {
		case "--name":
			s.Name = v
		case "--pull":
			pull = plan.PullPolicy(v)
		case "--platform":
			// run.go's pullImage: OS, Arch at the first '/'.
			s.ImageOS, s.ImageArch, _ = strings.Cut(v, "/")
		case "--variant":
			s.ImageVariant = v
		case "--userns":
			if s.UserNS, err = specgen.ParseUserNamespace(v); err != nil {
				return nil, "", err
			}
		case "--user":
			s.User = v
		case "-p":
			// What podman run's parser of --publish
			// (specgenutil.CreatePortBindings, which needs more modules
			// than this test has) makes of [IP]:HOST:CTR: one port (Range
			// 1), no protocol, the address without brackets.
			i := max(strings.LastIndexByte(v, ':'), 0)
			j := strings.LastIndexByte(v[:i], ':')
			ip := net.ParseIP(strings.Trim(v[:max(j, 0)], "[]"))
			h, errH := strconv.ParseUint(v[j+1:i], 10, 16)
			c, errC := strconv.ParseUint(v[i+1:], 10, 16)
			if j < 0 || ip == nil || errH != nil || errC != nil {
				return nil, "", fmt.Errorf("-p %q: want [IP]:HOST:CTR", v)
			}
			s.PortMappings = append(s.PortMappings, nettypes.PortMapping{HostIP: ip.String(), HostPort: uint16(h), ContainerPort: uint16(c), Range: 1})
		case "--network":
			if v != "none" {
				return nil, "", fmt.Errorf("--network %q: unexpected", v)
			}
			s.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
		case "--device":
			s.Devices = append(s.Devices, specs.LinuxDevice{Path: v})
		case "--label":
			k, val, _ := strings.Cut(v, "=")
			s.Labels[k] = val
		case "--env":
			k, val, ok := strings.Cut(v, "=")
			if !ok {
				// podman reads the value from its own environment and
				// leaves the variable out when it is unset there.
				if val, ok = env[k]; !ok {
					continue
				}
			}
			s.Env[k] = val
		case "--mount":
			if strings.HasPrefix(v, "type=volume,") {
				// A named volume (specgenutil's getNamedVolume).
				var nv specgen.NamedVolume
				for _, tok := range strings.Split(strings.TrimPrefix(v, "type=volume,"), ",") {
					k, val, _ := strings.Cut(tok, "=")
					switch k {
					case "source":
						nv.Name = val
					case "destination":
						nv.Dest = val
					default:
						return nil, "", fmt.Errorf("--mount %q: key %q unexpected", v, k)
					}
				}
				s.Volumes = append(s.Volumes, &nv)
				continue
			}
			m, err := parseMount(v)
			if err != nil {
				return nil, "", err
			}
			s.Mounts = append(s.Mounts, m)
		case "--entrypoint":
			s.Entrypoint = []string{v}
		case "--workdir":
			s.WorkDir = v
		case "--cap-drop":
			// FillOutSpecGen copies the lists as given.
			s.CapDrop = append(s.CapDrop, v)
		case "--cap-add":
			s.CapAdd = append(s.CapAdd, v)
		case "--security-opt":
			if v != "no-new-privileges" {
				return nil, "", fmt.Errorf("--security-opt %q: unexpected", v)
			}
			s.NoNewPrivileges = ptr(true)
		case "--memory", "--memory-swap", "--cpus", "--pids-limit":
			if err := parseLimit(s, flag, v); err != nil {
				return nil, "", err
			}
		case "--stop-timeout":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, "", fmt.Errorf("--stop-timeout %q: %w", v, err)
			}
			s.StopTimeout = ptr(uint(n))
		default:
			return nil, "", fmt.Errorf("flag %q: unknown", flag)
		}
	}
	if i == len(argv) {
		return nil, "", fmt.Errorf("no image in %q", argv)
	}
	s.Image, s.RawImageName = argv[i], argv[i]
	s.Command = append([]string(nil), argv[i+1:]...)
	if len(s.Command) == 0 {
		s.Command = nil
	}
	return s, pull, nil
}

// parseLimit reads a resource limit as podman run does
// (specgenutil's getMemoryLimits, getCPULimits and the pids limit): sizes
// with go-units' RAMInBytes, --cpus as a quota of cores times podman's
// default period of 100 ms.
func parseLimit(s *specgen.SpecGenerator, flag, v string) error {
	if s.ResourceLimits == nil {
		s.ResourceLimits = &specs.LinuxResources{}
	}
	r := s.ResourceLimits
	switch flag {
	case "--memory", "--memory-swap":
		n, err := units.RAMInBytes(v)
		if err != nil {
			return fmt.Errorf("%s %q: %v", flag, v, err)
		}
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		if flag == "--memory" {
			r.Memory.Limit = &n
		} else {
			r.Memory.Swap = &n
		}
	case "--cpus":
		cores, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("--cpus %q: %v", v, err)
		}
		period, quota := uint64(100_000), int64(cores*100_000)
		r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
	case "--pids-limit":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("--pids-limit %q: %v", v, err)
		}
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	return nil
}

// parseMount reads a --mount value with podman's own splitter and the
// meaning podman gives the keys command writes (specgenutil's
// parseMountOptions): ro=true is "ro", tmpfs-mode=M is "mode=M", U=true is
// "U", exec and notmpcopyup stay as they are; a tmpfs's source is "tmpfs".
func parseMount(v string) (specs.Mount, error) {
	typ, tokens, err := specgenutilexternal.FindMountType(v)
	if err != nil {
		return specs.Mount{}, fmt.Errorf("--mount %q: %w", v, err)
	}
	m := specs.Mount{Type: typ}
	if typ == "tmpfs" {
		m.Source = "tmpfs"
	}
	for _, tok := range tokens {
		k, val, _ := strings.Cut(tok, "=")
		switch {
		case k == "type":
		case k == "source" || k == "src":
			m.Source = val
		case k == "destination" || k == "target" || k == "dst":
			m.Destination = val
		case k == "ro" || k == "readonly":
			if val == "true" || val == "" {
				m.Options = append(m.Options, "ro")
			}
		case typ == "tmpfs" && (k == "notmpcopyup" || k == "exec"):
			m.Options = append(m.Options, k)
		case typ == "tmpfs" && k == "tmpfs-mode":
			m.Options = append(m.Options, "mode="+val)
		case k == "U" || k == "chown":
			if val == "true" || val == "" {
				m.Options = append(m.Options, "U")
			}
		default:
			return specs.Mount{}, fmt.Errorf("--mount %q: key %q unexpected", v, k)
		}
	}
	return m, nil
}

// TestRoundTripCatchesChanges shows that the round trip is a real check:
// for rich plans, rendered for each kind of service, dropping any one flag
// of the printed command, or changing any one value, makes the spec parsed
// back differ from Rendered.Spec (or the parse fail).
func TestRoundTripCatchesChanges(t *testing.T) {
	for _, name := range []string{"shell-ro-mask-secrets", "gpus-devices", "runtime-runsc", "path-prepend", "custom-image-arch", "uid-other-than-the-image-user", "env-constant-and-inherited", "tty"} {
		p := golden.Load(t, filepath.Join(corpus, name+".json"))
		for _, c := range identityConfigs {
			t.Run(name+"."+c.name, func(t *testing.T) {
				r, err := Render(c.plan(p), c.cfg)
				if err != nil {
					t.Fatal(err)
				}
				env := inheritedEnv(r.Spec, r.Inherited)
				differs := func(argv []string) bool {
					back, pull, err := parseRun(argv, env)
					if err != nil {
						return true
					}
					// ContainerCreateCommand is the argv itself: compare
					// everything else.
					back.ContainerCreateCommand = r.Spec.ContainerCreateCommand
					return pull != r.Pull || len(specDiff(back, r.Spec)) > 0
				}
				if differs(r.Argv) {
					t.Fatalf("the unchanged argv does not parse back to the spec")
				}
				image := slices.Index(r.Argv, r.Spec.Image)
				for i := 1; i < image; i++ {
					w := r.Argv[i]
					if w == "run" || !strings.HasPrefix(w, "-") {
						continue
					}
					n := 1 // the flag alone, or with its value
					if i+1 < image && !strings.HasPrefix(r.Argv[i+1], "-") && !slices.Contains([]string{"--rm", "--init", "-d", "-i", "-t"}, w) && !strings.Contains(w, "=") {
						n = 2
					}
					dropped := slices.Concat(r.Argv[:i], r.Argv[i+n:])
					if !differs(dropped) {
						t.Errorf("dropping %q goes unnoticed", r.Argv[i:i+n])
					}
					if n == 2 {
						changed := slices.Clone(r.Argv)
						changed[i+1] += "x"
						if !differs(changed) {
							t.Errorf("changing %s %q goes unnoticed", w, r.Argv[i+1])
						}
					}
				}
				changed := slices.Clone(r.Argv)
				changed[len(changed)-1] += "x"
				if !differs(changed) {
					t.Errorf("changing the command goes unnoticed")
				}
			})
		}
	}
}

// TestSidecarArgvIsTheSpec: under a proxy sidecar, for every identity
// config, the agent's and the sidecar's printed commands parse back into
// their specs; the sidecar runs with the agent's user namespace and user,
// and both mount the volume of the proxy's socket.
func TestSidecarArgvIsTheSpec(t *testing.T) {
	p := small()
	p.Network = plan.Network{Mode: plan.NetworkAllow, Allow: []plan.HostPort{{Host: "good.test", Port: 443}},
		Sidecar: &plan.Sidecar{Volume: "launch-net-7", Name: "launch-proxy-7", Binary: "/usr/local/bin/launch", Port: 3128, Log: "/home/u/.local/state/launch/network/shell-7.log"}}
	for _, c := range identityConfigs {
		t.Run(c.name, func(t *testing.T) {
			r, err := Render(c.plan(p), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, r)
			sc := r.Sidecar
			if sc == nil {
				t.Fatal("no sidecar")
			}
			checkRoundTrip(t, Rendered{Spec: sc.Spec, Argv: sc.Argv, Pull: sc.Pull})
			if sc.Pull != r.Pull {
				t.Errorf("sidecar pull %q, want the agent's %q", sc.Pull, r.Pull)
			}
			if sc.Spec.User != r.Spec.User || sc.Spec.UserNS != r.Spec.UserNS {
				t.Errorf("sidecar user %q %v, want the agent's %q %v", sc.Spec.User, sc.Spec.UserNS, r.Spec.User, r.Spec.UserNS)
			}
			for _, s := range []*specgen.SpecGenerator{r.Spec, sc.Spec} {
				if len(s.Volumes) != 1 || s.Volumes[0].Name != "launch-net-7" || s.Volumes[0].Dest != plan.ProxyDir {
					t.Errorf("%s: volumes %+v, want launch-net-7 at %s", s.Name, s.Volumes, plan.ProxyDir)
				}
			}
			if !slices.Contains(sc.Argv, "allow=good.test:443") || r.Spec.NetNS.NSMode != specgen.NoNetwork {
				t.Errorf("sidecar %q / agent network %q", sc.Argv, r.Spec.NetNS.NSMode)
			}
		})
	}
}
