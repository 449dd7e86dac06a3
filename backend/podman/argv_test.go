package podman

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/plan"
	specs "github.com/opencontainers/runtime-spec/specs-go"
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
				}
				return request{Spec: s}
			},
			want: `podman run` +
				` --mount 'type=bind,source=/home/ana/my proj,destination=/home/ana/my proj'` +
				` --mount 'type=bind,"source=/data/""q""",destination=/ref,ro=true'` +
				` --mount 'type=tmpfs,destination=/home/ana/my proj/secrets,ro=true,notmpcopyup'` +
				` --mount 'type=bind,source=/dev/null,destination=/home/ana/my proj/.env,ro=true' img:1 sh`,
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
			env := map[string]string{}
			for _, name := range q.Inherited {
				env[name] = q.Spec.Env[name]
			}
			back, pull, err := parseRun(argv, env)
			if err != nil {
				t.Fatal(err)
			}
			if pull != q.Pull {
				t.Errorf("pull parsed back = %q, want %q", pull, q.Pull)
			}
			want := *q.Spec
			// The CLI always sets these; parseRun starts from its defaults.
			for _, b := range []**bool{&want.Remove, &want.Stdin, &want.Terminal} {
				if *b == nil {
					*b = ptr(false)
				}
			}
			if want.HTTPProxy == nil {
				want.HTTPProxy = ptr(true)
			}
			sameJSON(t, back, &want)
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := request{Spec: specgen.NewSpecGenerator("img", false)}
			tt.change(&q)
			_, err := command(q)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("command() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// checkRoundTrip parses r.Argv back into a spec, as podman run would, with
// the inherited values taken from a stand-in for the caller's environment,
// and checks that every field of r.Spec came through.
func checkRoundTrip(t *testing.T, r Rendered) {
	t.Helper()
	if !reflect.DeepEqual(r.Spec.ContainerCreateCommand, r.Argv) {
		t.Errorf("spec's create command = %q, want the argv", r.Spec.ContainerCreateCommand)
	}
	env := map[string]string{}
	for _, name := range r.Inherited {
		env[name] = r.Spec.Env[name]
	}
	back, pull, err := parseRun(r.Argv, env)
	if err != nil {
		t.Fatalf("parse the argv back: %v", err)
	}
	if pull != r.Pull {
		t.Errorf("pull parsed back = %q, want %q", pull, r.Pull)
	}
	want := *r.Spec
	want.ContainerCreateCommand = nil
	sameJSON(t, back, &want)
	checkShellRoundTrip(t, r.Argv)
}

func sameJSON(t *testing.T, got, want *specgen.SpecGenerator) {
	t.Helper()
	g, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("spec parsed back from the argv differs\n got %s\nwant %s", g, w)
	}
}

// checkShellRoundTrip runs the quoted command through a POSIX shell and
// checks that the shell splits it back into argv, word for word.
func checkShellRoundTrip(t *testing.T, argv []string) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
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

// parseRun reads a `podman run` argv as written by command, the way podman
// run reads it: it knows the flags command writes and their CLI defaults,
// splits --mount with podman's own splitter, and takes `--env NAME` values
// from env. It is a test oracle, not a podman parser.
func parseRun(argv []string, env map[string]string) (*specgen.SpecGenerator, plan.PullPolicy, error) {
	if len(argv) < 2 || argv[0] != "podman" {
		return nil, "", fmt.Errorf("not a podman command: %q", argv)
	}
	s := specgen.NewSpecGenerator("", false)
	// podman run's defaults for what it always sets.
	s.Remove, s.Stdin, s.Terminal, s.HTTPProxy = ptr(false), ptr(false), ptr(false), ptr(true)
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
		case "-i":
			s.Stdin = ptr(true)
			continue
		case "-t":
			s.Terminal = ptr(true)
			continue
		case "--http-proxy=false":
			s.HTTPProxy = ptr(false)
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
			s.ImageOS, s.ImageArch, _ = strings.Cut(v, "/")
		case "--variant":
			s.ImageVariant = v
		case "--userns":
			if s.UserNS, err = specgen.ParseUserNamespace(v); err != nil {
				return nil, "", err
			}
		case "--user":
			s.User = v
		case "--network":
			if v != "none" {
				return nil, "", fmt.Errorf("--network %q: unexpected", v)
			}
			s.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
		case "--device":
			s.Devices = append(s.Devices, specs.LinuxDevice{Path: v})
		case "--label":
			k, val, _ := strings.Cut(v, "=")
			if s.Labels == nil {
				s.Labels = map[string]string{}
			}
			s.Labels[k] = val
		case "--env":
			if s.Env == nil {
				s.Env = map[string]string{}
			}
			k, val, ok := strings.Cut(v, "=")
			if !ok {
				if val, ok = env[k]; !ok {
					return nil, "", fmt.Errorf("--env %s: not in the environment", k)
				}
			}
			s.Env[k] = val
		case "--mount":
			m, err := parseMount(v)
			if err != nil {
				return nil, "", err
			}
			s.Mounts = append(s.Mounts, m)
		case "--workdir":
			s.WorkDir = v
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

// parseMount reads a --mount value with podman's own splitter and the
// meaning podman gives the keys command writes.
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
		switch k {
		case "source", "src":
			m.Source = val
		case "destination", "target", "dst":
			m.Destination = val
		case "ro", "readonly":
			if val == "true" || val == "" {
				m.Options = append(m.Options, "ro")
			}
		case "notmpcopyup":
			m.Options = append(m.Options, k)
		default:
			return specs.Mount{}, fmt.Errorf("--mount %q: key %q unexpected", v, k)
		}
	}
	return m, nil
}
