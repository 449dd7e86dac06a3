package docker

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/launchcli/launch/internal/golden"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/plan"
)

// valueFlags are the flags Command emits that take a value, and boolFlags
// those that take none: the parser knows exactly these.
var (
	valueFlags = []string{"--name", "--pull", "--platform", "--user", "--workdir", "--network", "--runtime",
		"--stop-timeout", "--cap-drop", "--cap-add", "--security-opt", "--memory", "--memory-swap", "--cpus", "--pids-limit",
		"--gpus", "--env", "--mount", "--tmpfs", "--label", "-p", "--entrypoint"}
	boolFlags = []string{"--rm", "--init", "-d", "-i", "-t", "--read-only"}
)

// parseRun reads a `docker run` command line that Command printed back
// into the request the docker CLI sends for it, and the names it passes by
// name (--env NAME). lookup is the environment of the shell that runs the
// command. A flag Command does not emit is an error.
//
// Where the CLI sends a value without a flag saying so, the parser sets
// what docker itself sends (checked with docker CLI 28.2 against dockerd
// 20.10 by inspecting `docker create` containers); each place is commented.
func parseRun(argv []string, lookup func(string) (string, bool)) (Request, []string, error) {
	if len(argv) < 3 || argv[0] != "docker" || argv[1] != "run" {
		return Request{}, nil, fmt.Errorf("not a docker run command: %q", argv)
	}
	cfg := &container.Config{
		// docker run without -d or -a attaches stdout and stderr.
		AttachStdout: true,
		AttachStderr: true,
	}
	host := &container.HostConfig{
		// docker run's --network defaults to "default" and --restart to "no".
		NetworkMode:   "default",
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	req := Request{
		Config:     cfg,
		HostConfig: host,
		// docker run sends an empty endpoint map when no --network-alias,
		// --ip or the like says more.
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}},
	}
	var inherited []string
	detach := false
	i := 2
	for ; i < len(argv) && strings.HasPrefix(argv[i], "-"); i++ {
		flag := argv[i]
		if slices.Contains(boolFlags, flag) {
			switch flag {
			case "--rm":
				host.AutoRemove = true
			case "--init":
				host.Init = ptrTo(true)
			case "-d":
				detach = true
			case "-i":
				// -i attaches stdin and keeps it open; docker run then
				// closes it after the attached stream ends (StdinOnce).
				cfg.OpenStdin, cfg.AttachStdin, cfg.StdinOnce = true, true, true
			case "-t":
				cfg.Tty = true
			case "--read-only":
				host.ReadonlyRootfs = true
			}
			continue
		}
		if !slices.Contains(valueFlags, flag) {
			return Request{}, nil, fmt.Errorf("flag %q: Command does not emit it", flag)
		}
		if i+1 >= len(argv) {
			return Request{}, nil, fmt.Errorf("flag %s: no value", flag)
		}
		i++
		v := argv[i]
		switch flag {
		case "--name":
			req.Name = v
		case "--pull":
			switch p := plan.PullPolicy(v); p {
			case plan.PullMissing, plan.PullAlways, plan.PullNever:
				req.Pull = p
			default:
				return Request{}, nil, fmt.Errorf("--pull %q", v)
			}
		case "--platform":
			parts := strings.Split(v, "/")
			if len(parts) < 2 || len(parts) > 3 {
				return Request{}, nil, fmt.Errorf("--platform %q", v)
			}
			pl := &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
			if len(parts) == 3 {
				pl.Variant = parts[2]
			}
			req.Platform = pl
		case "--user":
			cfg.User = v
		case "--workdir":
			cfg.WorkingDir = v
		case "--network":
			host.NetworkMode = container.NetworkMode(v)
		case "-p":
			// docker run -p [IP:]HOST:CTR exposes CTR/tcp and binds it
			// (an IPv6 address without its brackets).
			i := strings.LastIndexByte(v, ':')
			j := strings.LastIndexByte(v[:i], ':')
			if j < 0 {
				return Request{}, nil, fmt.Errorf("-p %q: want IP:HOST:CTR", v)
			}
			ip, err := netip.ParseAddr(strings.Trim(v[:j], "[]"))
			if err != nil {
				return Request{}, nil, fmt.Errorf("-p %q: %w", v, err)
			}
			c, err := network.ParsePort(v[i+1:])
			if err != nil {
				return Request{}, nil, fmt.Errorf("-p %q: %w", v, err)
			}
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts, host.PortBindings = network.PortSet{}, network.PortMap{}
			}
			cfg.ExposedPorts[c] = struct{}{}
			host.PortBindings[c] = append(host.PortBindings[c], network.PortBinding{HostIP: ip, HostPort: v[j+1 : i]})
		case "--runtime":
			host.Runtime = v
		case "--stop-timeout":
			n, err := strconv.Atoi(v)
			if err != nil {
				return Request{}, nil, fmt.Errorf("--stop-timeout %q", v)
			}
			cfg.StopTimeout = &n
		case "--cap-drop":
			host.CapDrop = append(host.CapDrop, normaliseCap(v))
		case "--cap-add":
			host.CapAdd = append(host.CapAdd, normaliseCap(v))
		case "--security-opt":
			host.SecurityOpt = append(host.SecurityOpt, v)
		case "--memory", "--memory-swap":
			// The docker CLI reads sizes with go-units' RAMInBytes.
			n, err := units.RAMInBytes(v)
			if err != nil {
				return Request{}, nil, fmt.Errorf("%s %q: %v", flag, v, err)
			}
			if flag == "--memory" {
				host.Memory = n
			} else {
				host.MemorySwap = n
			}
		case "--cpus":
			// The CLI's NanoCPUs option: a decimal number times 1e9.
			r, ok := new(big.Rat).SetString(v)
			if !ok {
				return Request{}, nil, fmt.Errorf("--cpus %q", v)
			}
			n := r.Mul(r, big.NewRat(1e9, 1))
			if !n.IsInt() {
				return Request{}, nil, fmt.Errorf("--cpus %q: finer than a nanocpu", v)
			}
			host.NanoCPUs = n.Num().Int64()
		case "--pids-limit":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Request{}, nil, fmt.Errorf("--pids-limit %q", v)
			}
			host.PidsLimit = &n
		case "--gpus":
			d, err := parseGPUs(v)
			if err != nil {
				return Request{}, nil, err
			}
			host.DeviceRequests = append(host.DeviceRequests, d)
		case "--env":
			if strings.Contains(v, "=") {
				cfg.Env = append(cfg.Env, v)
			} else if val, ok := lookup(v); ok {
				// --env NAME: the value of the shell's NAME; docker leaves
				// out a name that is unset there.
				cfg.Env = append(cfg.Env, v+"="+val)
				inherited = append(inherited, v)
			}
		case "--mount":
			m, err := parseMount(v)
			if err != nil {
				return Request{}, nil, err
			}
			host.Mounts = append(host.Mounts, m)
		case "--tmpfs":
			dir, opts, _ := strings.Cut(v, ":")
			if host.Tmpfs == nil {
				host.Tmpfs = map[string]string{}
			}
			if _, dup := host.Tmpfs[dir]; dup {
				return Request{}, nil, fmt.Errorf("--tmpfs %s twice", dir)
			}
			host.Tmpfs[dir] = opts
		case "--label":
			k, val, ok := strings.Cut(v, "=")
			if !ok {
				return Request{}, nil, fmt.Errorf("--label %q: no '='", v)
			}
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[k] = val
		case "--entrypoint":
			cfg.Entrypoint = []string{v}
		}
	}
	if i >= len(argv) {
		return Request{}, nil, fmt.Errorf("no image in %q", argv)
	}
	if detach {
		req.Detach = true
		// docker run -d attaches nothing, and without an attached stdin
		// it leaves StdinOnce unset.
		cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr, cfg.StdinOnce = false, false, false, false
	}
	cfg.Image = argv[i]
	if rest := argv[i+1:]; len(rest) > 0 {
		cfg.Cmd = slices.Clone(rest)
	}
	slices.Sort(inherited)
	return req, inherited, nil
}

// normaliseCap is what the docker CLI sends for a --cap-add or --cap-drop
// value (opts.EffectiveCapAddCapDrop): upper case with the CAP_ prefix,
// except ALL.
func normaliseCap(c string) string {
	c = strings.ToUpper(c)
	if c == "ALL" || strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}

// parseGPUs reads --gpus as the docker CLI does for the forms Command
// writes: all, a count, or a CSV field "device=ID,ID".
func parseGPUs(v string) (container.DeviceRequest, error) {
	// docker's --gpus asks for the gpu capability and sends empty options
	// unless told otherwise.
	d := container.DeviceRequest{Capabilities: [][]string{{"gpu"}}, Options: map[string]string{}}
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil || len(fields) != 1 {
		return d, fmt.Errorf("--gpus %q: %v", v, err)
	}
	f := fields[0]
	switch {
	case f == "all":
		d.Count = -1
	case strings.HasPrefix(f, "device="):
		d.DeviceIDs = strings.Split(strings.TrimPrefix(f, "device="), ",")
	default:
		n, err := strconv.Atoi(f)
		if err != nil {
			return d, fmt.Errorf("--gpus %q", v)
		}
		d.Count = n
	}
	return d, nil
}

// parseMount reads --mount's CSV syntax for the keys Command writes.
func parseMount(v string) (mount.Mount, error) {
	var m mount.Mount
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return m, fmt.Errorf("--mount %q: %v", v, err)
	}
	for _, f := range fields {
		k, val, _ := strings.Cut(f, "=")
		switch k {
		case "type":
			m.Type = mount.Type(val)
		case "source":
			m.Source = val
		case "target":
			m.Target = val
		case "readonly":
			if val != "" {
				return m, fmt.Errorf("--mount %q: readonly takes no value here", v)
			}
			m.ReadOnly = true
		default:
			return m, fmt.Errorf("--mount %q: key %q: Command does not emit it", v, k)
		}
	}
	if m.Type == "" || m.Target == "" {
		return m, fmt.Errorf("--mount %q: no type or target", v)
	}
	return m, nil
}

// lookupIn is the environment of a shell that holds p's inherited values.
func lookupIn(p plan.Plan) func(string) (string, bool) {
	return func(name string) (string, bool) {
		e, ok := p.Lookup(name)
		return e.Value, ok && e.FromHost
	}
}

// normalise makes nil and empty lists the same: the engine reads a null
// and an empty Env alike, and the CLI sends whichever it has.
func normalise(r Request) Request {
	if r.Config != nil && len(r.Config.Env) == 0 {
		c := *r.Config
		c.Env = nil
		r.Config = &c
	}
	return r
}

// sameRequest compares what the printed command sends with what the real
// run sends, field by field; it returns the differences as JSON paths.
func sameRequest(got, want Request) []string {
	got, want = normalise(got), normalise(want)
	if reflect.DeepEqual(got, want) {
		return nil
	}
	var g, w map[string]any
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	json.Unmarshal(gb, &g)
	json.Unmarshal(wb, &w)
	d := jsonDiff("", g, w)
	if len(d) == 0 {
		// Equal as JSON, unequal as Go values (a nil against an empty map,
		// say): still a difference, shown whole.
		d = []string{fmt.Sprintf("printed %s\nreal    %s", gb, wb)}
	}
	return d
}

func jsonDiff(path string, got, want any) []string {
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if gok && wok {
		var out []string
		keys := map[string]bool{}
		for k := range gm {
			keys[k] = true
		}
		for k := range wm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		}) {
			out = append(out, jsonDiff(path+"."+k, gm[k], wm[k])...)
		}
		return out
	}
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		return []string{fmt.Sprintf("%s: printed %s, real run %s", path, gb, wb)}
	}
	return nil
}

// roundTripConfigs are the Configs and caller changes every corpus plan is
// rendered with: the dry run's (name, no run labels), a real run's (run
// labels, a stop timeout), a macOS engine's, and the two identities Linux
// changes (another uid, root).
var roundTripConfigs = []struct {
	name   string
	config func(p plan.Plan) Config
	caller *plan.Caller
}{
	{"dry-run", func(p plan.Plan) Config { return Config{Name: naming.ContainerName(p), HostIDs: true} }, nil},
	{"real-run", func(p plan.Plan) Config {
		return Config{Name: naming.ContainerName(p), Labels: naming.RunLabels(4242, time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)),
			StopTimeout: 3, ConfigDir: "/home/ana/.docker", HostIDs: true}
	}, nil},
	{"detached", func(p plan.Plan) Config {
		return Config{Name: naming.ContainerName(p), Labels: naming.SessionLabels(1000, "none", true), StopTimeout: 3, HostIDs: true, Detach: true}
	}, nil},
	{"macos-engine", func(plan.Plan) Config { return Config{StopTimeout: 10} }, &plan.Caller{UID: 501, GID: 20}},
	{"other-caller", func(p plan.Plan) Config { return Config{Name: "x", HostIDs: true} }, &plan.Caller{UID: 2345, GID: 2346}},
	{"root-caller", func(p plan.Plan) Config { return Config{Name: "x", HostIDs: true} }, &plan.Caller{}},
}

// TestCommandRoundTrip: for every plan of the golden corpus, the printed
// `docker run` parsed back is the request the real run sends (name, pull
// policy, platform, create body), field by field, and the names it passes
// by name are Rendered.Inherited.
func TestCommandRoundTrip(t *testing.T) {
	n := 0
	for _, c := range golden.Corpus(t) {
		for _, rc := range roundTripConfigs {
			t.Run(c.Name+"/"+rc.name, func(t *testing.T) {
				p := c.Plan
				if rc.caller != nil {
					p.Caller = *rc.caller
				}
				r, err := Render(p, rc.config(p))
				if errors.Is(err, plan.ErrUnsupported) {
					return // a refused plan: its error is in its golden file
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				got, inherited, err := parseRun(r.Argv(), lookupIn(p))
				if err != nil {
					t.Fatalf("%v\nargv %q", err, r.Argv())
				}
				for _, d := range sameRequest(got, r.Request) {
					t.Error(d)
				}
				if !slices.Equal(inherited, r.Inherited) {
					t.Errorf("passed by name %q, Inherited %q", inherited, r.Inherited)
				}
			})
		}
	}
	if n < 100 {
		t.Errorf("only %d renderings compared", n)
	}
}

// richPlan sets every part of a Plan the Docker backend renders.
func richPlan() (plan.Plan, Config) {
	p := basePlan()
	p.TTY = true
	p.Image.Platform = plan.Platform{OS: "linux", Arch: "arm64", Variant: "v8"}
	p.GPUs.Devices = []string{"0", "2"}
	p.Runtime = plan.RuntimeRunsc
	p.Network.Mode = plan.NetworkNone
	p.Pull = plan.PullNever
	p.Privileges = plan.DefaultPrivileges("CAP_CHOWN", "CAP_NET_BIND_SERVICE")
	p.Limits = plan.Limits{Memory: 768 << 20, MilliCPUs: 1500, PIDs: 300}
	p.PathPrepend = []string{"/opt/a/bin"}
	p.Caller = plan.Caller{UID: 2345, GID: 2345}
	p.Labels = map[string]string{"dev.launch.agent": "shell"}
	p.Mounts = append(p.Mounts,
		plan.Mount{Kind: plan.MountBind, Source: "/w/docs", Target: "/w/docs", ReadOnly: true, Origin: plan.OriginReadOnly},
		plan.Mount{Kind: plan.MountMask, Target: "/w/secrets", ReadOnly: true, Origin: plan.OriginMask},
		plan.Mount{Kind: plan.MountMask, Target: "/w/.env", ReadOnly: true, File: true, Origin: plan.OriginMask})
	return p, Config{Name: "launch-shell-w", Labels: naming.RunLabels(1, time.Unix(0, 0)), StopTimeout: 3, HostIDs: true}
}

// TestCommandRoundTripDetects is the control: dropping any one flag of the
// printed command, or changing any one word of it, must make the parsed
// request differ from the real one (or fail to parse).
func TestCommandRoundTripDetects(t *testing.T) {
	p, c := richPlan()
	r, err := Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	argv := r.Argv()
	detects := func(t *testing.T, what string, argv []string) {
		t.Helper()
		got, inherited, err := parseRun(argv, lookupIn(p))
		if err == nil && len(sameRequest(got, r.Request)) == 0 && slices.Equal(inherited, r.Inherited) {
			t.Errorf("%s goes unnoticed: %q", what, argv)
		}
	}
	got, _, err := parseRun(argv, lookupIn(p))
	if err != nil || len(sameRequest(got, r.Request)) > 0 {
		t.Fatalf("the rich plan does not round-trip: %v %q", err, sameRequest(got, r.Request))
	}
	for _, want := range append(append([]string{}, valueFlags[:len(valueFlags)-1]...), boolFlags...) {
		// Every flag but --entrypoint (Render keeps the image's) is used;
		// -d (never with --rm) is the detached control's below; --read-only
		// is the proxy sidecar's own (TestCommandRoundTripSidecar); -p needs
		// an open network (the publish plans of TestCommandRoundTrip).
		if !slices.Contains(argv, want) && want != "-d" && want != "--read-only" && want != "-p" {
			t.Errorf("the rich plan's command lacks %s: %q", want, argv)
		}
	}
	for i := 2; i < len(argv); i++ {
		changed := slices.Clone(argv)
		changed[i] += "x"
		detects(t, fmt.Sprintf("changing word %d (%s)", i, argv[i]), changed)
		if !strings.HasPrefix(argv[i], "-") {
			continue
		}
		drop := 1
		if slices.Contains(valueFlags, argv[i]) {
			drop = 2
		}
		detects(t, fmt.Sprintf("dropping %q", argv[i:i+drop]), slices.Delete(slices.Clone(argv), i, i+drop))
	}
	// A field Render sets that Command does not print is a difference.
	r2 := r
	cfg := *r.Request.Config
	cfg.Hostname = "h"
	r2.Request.Config = &cfg
	if d := sameRequest(got, r2.Request); len(d) == 0 {
		t.Error("a field the command does not carry goes unnoticed")
	}
}

// TestCommandRoundTripDetached: a detached run prints -d instead of --rm,
// round-trips, and dropping -d is noticed.
func TestCommandRoundTripDetached(t *testing.T) {
	p, c := richPlan()
	c.Detach = true
	r, err := Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	argv := r.Argv()
	if !slices.Contains(argv, "-d") || slices.Contains(argv, "--rm") {
		t.Fatalf("detached: want -d and no --rm: %q", argv)
	}
	got, _, err := parseRun(argv, lookupIn(p))
	if err != nil || len(sameRequest(got, r.Request)) > 0 {
		t.Fatalf("does not round-trip: %v %q", err, sameRequest(got, r.Request))
	}
	dropped := slices.DeleteFunc(slices.Clone(argv), func(w string) bool { return w == "-d" })
	if got, _, err := parseRun(dropped, lookupIn(p)); err == nil && len(sameRequest(got, r.Request)) == 0 {
		t.Errorf("dropping -d goes unnoticed")
	}
}

// TestCommandRoundTripSidecar: under a proxy sidecar the agent's printed
// command (no network, the volume of the proxy's socket, the sidecar's
// labels) sends the rendered request, and so does the sidecar's own.
func TestCommandRoundTripSidecar(t *testing.T) {
	p, c := richPlan()
	p.Network = plan.Network{Mode: plan.NetworkAllow, Allow: []plan.HostPort{{Host: "good.test", Port: 443}},
		Sidecar: &plan.Sidecar{Volume: "launch-net-7", Name: "launch-proxy-7", Binary: "/usr/local/bin/launch", Port: 3128, Log: "/home/u/.local/state/launch/network/shell-7.log"}}
	r, err := Render(p, c)
	if err != nil {
		t.Fatal(err)
	}
	argv := r.Argv()
	got, _, err := parseRun(argv, lookupIn(p))
	if err != nil || len(sameRequest(got, r.Request)) > 0 {
		t.Fatalf("does not round-trip: %v %q\nargv %q", err, sameRequest(got, r.Request), argv)
	}
	if !slices.Contains(argv, "type=volume,source=launch-net-7,target=/.launch/net") || got.HostConfig.NetworkMode != "none" {
		t.Errorf("the agent's command lacks the volume or has a network: %q", argv)
	}
	sc := r.Sidecar
	if sc == nil || sc.Request.Config.Labels["dev.launch.sidecar"] != "launch-proxy-7" || r.Request.Config.Labels["dev.launch.sidecar-volume"] != "launch-net-7" {
		t.Fatalf("sidecar %+v, agent labels %v", sc, r.Request.Config.Labels)
	}
	sargv := Command("run", sc.Request, sc.Inherited)
	sgot, _, err := parseRun(sargv, lookupIn(p))
	if err != nil || len(sameRequest(sgot, sc.Request)) > 0 {
		t.Errorf("the sidecar's command does not round-trip: %v %q\nargv %q", err, sameRequest(sgot, sc.Request), sargv)
	}
	if !slices.Contains(sargv, "allow=good.test:443") {
		t.Errorf("the sidecar's command lacks the policy: %q", sargv)
	}
	if !sgot.HostConfig.ReadonlyRootfs || sgot.Config.User != r.Request.Config.User {
		t.Errorf("sidecar: read-only %v, user %q; want a read-only root and the agent's user %q", sgot.HostConfig.ReadonlyRootfs, sgot.Config.User, r.Request.Config.User)
	}
}
