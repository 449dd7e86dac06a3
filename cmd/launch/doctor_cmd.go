package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/backend/docker"
	"github.com/launchcli/launch/backend/podman"
	"github.com/launchcli/launch/backend/singularity"
	"github.com/launchcli/launch/creds"
	"github.com/launchcli/launch/internal/health"
	"github.com/launchcli/launch/internal/iostreams"
)

// doctorCommand is "launch doctor": can each backend launch here, which
// config files apply, and when the credentials expire.
func doctorCommand(s iostreams.Streams, h *Host, f *flagState) *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "check each backend, the config files and the credentials; exit 0 only if the default backend can launch",
		UsageText: "launch [launch flags] doctor [--json] [AGENT]",
		Description: `For each backend: whether its runtime is installed and answers (socket or
binary, version, rootless or not, runsc; for Podman, the connection launch
uses: a stopped podman machine is named), and whether the image of AGENT
(default codex) is present. Then the config files that apply, and the
credential status (as launch creds). Every problem comes with its fix.

The exit status is 0 when the default backend (the one "launch AGENT" would
use: --backend, LAUNCH_BACKEND, the config, or the automatic choice) can
start a container, 1 when it cannot. The launch flags before "doctor"
(--backend, --config, --image, --sif-path, ...) apply as for a launch.

Examples:
   launch doctor
   launch --backend docker doctor claude
   launch doctor --json`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runDoctor(ctx, s, h, f, cmd)
		},
	}
}

// doctorResult is everything launch doctor found; --json prints it.
type doctorResult struct {
	Default backendName `json:"default_backend"`
	// Choice says why Default is not the usual choice ("" when it is).
	Choice   string           `json:"default_backend_note,omitempty"`
	Ready    bool             `json:"ready"`
	Agent    string           `json:"agent"`
	Backends []health.Report  `json:"backends"`
	Config   []configFileInfo `json:"config"`
	Problems []health.Problem `json:"config_problems,omitempty"`
	Creds    []creds.Status   `json:"credentials"`
}

// configFileInfo is one config file and what launch did with it.
type configFileInfo struct {
	File  string `json:"file"`
	State string `json:"state"`
}

func runDoctor(ctx context.Context, s iostreams.Streams, h *Host, f *flagState, cmd *cli.Command) error {
	if cmd.Args().Len() > 1 {
		return usagef("launch doctor takes one AGENT at most (see launch doctor --help)")
	}
	res := doctorResult{Agent: cmd.Args().First()}
	if res.Agent == "" {
		res.Agent = "codex"
	}
	o, err := buildOptions(h, f, cmd)
	configOK := err == nil
	if err != nil {
		// The config cannot be read: report it, and check the rest with
		// the built-in catalogue and the user config.
		res.Problems = append(res.Problems, health.Problem{What: strings.TrimSpace(err.Error()), Fix: "fix the file the message names (a project file: review it, then launch trust)", Fatal: true})
		if o, err = fallbackOptions(h); err != nil {
			return err
		}
	}
	res.Config = configFiles(h, f, configOK)
	res.Default, res.Choice = chooseBackend(o, h)
	oci, sif, err := doctorImages(o, h, res.Agent)
	if err != nil {
		return err
	}
	res.Backends = probeBackends(ctx, h, o, oci, sif)
	arch := doctorArch(o, h, res.Agent)
	for i := range res.Backends {
		macDoctor(&res.Backends[i], h, o.PodmanURL, arch)
		networkHealth(&res.Backends[i], h, arch)
	}
	for _, r := range res.Backends {
		if backendName(r.Backend) == res.Default {
			res.Ready = r.Ready && len(res.Problems) == 0
		}
	}
	if res.Creds, err = credStatus(h, nil, time.Now()); err != nil {
		return err
	}
	if cmd.Bool("json") || f.json {
		if err := writeJSON(s.Out, res); err != nil {
			return err
		}
	} else {
		printDoctor(s.Out, h.Home, res)
	}
	if !res.Ready {
		return exitError{1}
	}
	return nil
}

// fallbackOptions are the options of the built-in catalogue and the user
// config alone.
func fallbackOptions(h *Host) (*options, error) {
	layers, err := userLayers(h, "")
	if err != nil {
		return nil, err
	}
	o := &options{from: origins{}, Defaults: imageDefaultsOf(layers), Agents: catalogue(layers)}
	for _, l := range layers {
		o.mergeFrom(&l.cfg, l.defined, o.from)
	}
	return o, nil
}

// doctorImages are the OCI image and the SIF that agent would use.
func doctorImages(o *options, h *Host, agentName string) (oci, sif string, err error) {
	a, ok := o.Agents[agentName]
	if !ok {
		return "", "", usagef("unknown agent %q; see launch --help for the agents", agentName)
	}
	img, _, err := imageOf(o, a, h, &notes{})
	return img.OCI, img.SIF, err
}

// probeBackends asks every backend in turn.
func probeBackends(ctx context.Context, h *Host, o *options, oci, sif string) []health.Report {
	cli := hostCLI{creds.ExecRunner{Env: h.Env}}
	cache := h.Getenv("XDG_CACHE_HOME")
	if !filepath.IsAbs(cache) {
		cache = filepath.Join(h.Home, ".cache")
	}
	// The podman service launch itself would use: the config's --url too.
	ph := podmanHost(h)
	ph.URL = o.PodmanURL
	sh := singularityDoctorHost{Host: singularity.Host{}, lookPath: h.LookPath, needsUserNS: h.NeedsUserNS, fuse: h.FUSEUsable}
	sr := singularity.Doctor(ctx, sh, o.SingularityBin, sif, filepath.Join(cache, "launch", "sif"))
	if sr.Ready {
		unpackCache(&sr, h, freeSpace)
	}
	return []health.Report{
		docker.Doctor(ctx, dockerHost(h), oci),
		podman.Doctor(ctx, cli, ph, oci),
		sr,
	}
}

// unpackMin is the free space below which doctor warns about the unpack
// cache: the agents image takes 1.7 GB unpacked, a second version as much.
const unpackMin = 4 << 30

// unpackCache says where a SIF is unpacked when FUSE is not usable, what
// chose that place and how much room is left there; free measures a
// directory's file system.
func unpackCache(r *health.Report, h *Host, free func(string) (uint64, error)) {
	dir, from := sandboxDir(h)
	value := dir + " (from " + from + "; LAUNCH_SANDBOX_DIR or APPTAINER_CACHEDIR moves it"
	n, err := free(dir)
	if err == nil {
		value += fmt.Sprintf("; %.1f GB free)", float64(n)/1e9)
	} else {
		value += "; free space unknown: " + err.Error() + ")"
	}
	r.Add("unpack cache", value)
	if err == nil && n < unpackMin && !h.FUSEUsable() {
		r.Warn(fmt.Sprintf("the unpack cache %s has %.1f GB free; without FUSE each SIF is unpacked there (1.7 GB for the agents image)", dir, float64(n)/1e9),
			"export LAUNCH_SANDBOX_DIR (or APPTAINER_CACHEDIR) to a larger disk: node-local scratch or a project directory, not a home with a small quota")
	}
}

// freeSpace is the space left to an ordinary user on the file system of
// dir, or of its nearest existing parent.
func freeSpace(dir string) (uint64, error) {
	for {
		var st syscall.Statfs_t
		err := syscall.Statfs(dir, &st)
		if err == nil {
			return uint64(st.Bavail) * uint64(st.Bsize), nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, syscall.ENOENT) || parent == dir {
			return 0, err
		}
		dir = parent
	}
}

// hostCLI runs programs from the host's PATH for the podman doctor.
type hostCLI struct{ creds.ExecRunner }

func (c hostCLI) LookPath(name string) (string, error) { return creds.LookPath(c.Env, name) }

// singularityDoctorHost is the host as Host says it is (PATH, user
// namespace, FUSE), running programs for real.
type singularityDoctorHost struct {
	singularity.Host
	lookPath    func(string) (string, error)
	needsUserNS func() bool
	fuse        func() bool
}

func (d singularityDoctorHost) LookPath(f string) (string, error) { return d.lookPath(f) }
func (d singularityDoctorHost) NeedsUserNS() bool                 { return d.needsUserNS() }
func (d singularityDoctorHost) FUSEUsable() bool                  { return d.fuse() }

// configFiles lists the user and project config files and whether each was
// read (ok: the config as a whole could be applied).
func configFiles(h *Host, f *flagState, ok bool) []configFileInfo {
	user := f.config
	if user == "" {
		dir := h.Getenv("XDG_CONFIG_HOME")
		if dir == "" {
			dir = filepath.Join(h.Home, ".config")
		}
		user = filepath.Join(dir, "launch", "config.toml")
	}
	project := filepath.Join(h.Cwd, ".launch.toml")
	state := func(file string) string {
		_, err := h.Stat(file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "not present"
		case err != nil:
			return err.Error()
		case ok:
			return "read"
		}
		return "not applied (see the problem below)"
	}
	return []configFileInfo{{user, state(user)}, {project, state(project)}}
}

// printDoctor writes the report for a person.
func printDoctor(w io.Writer, home string, res doctorResult) {
	for _, r := range res.Backends {
		state := "ready"
		if !r.Ready {
			state = "NOT READY"
		}
		if backendName(r.Backend) == res.Default {
			state += " (default backend)"
		}
		fmt.Fprintf(w, "%s: %s\n", r.Backend, state)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, f := range r.Facts {
			fmt.Fprintf(tw, "  %s\t%s\n", f.Name, f.Value)
		}
		tw.Flush()
		printProblems(w, r.Problems)
	}
	fmt.Fprintln(w, "config files:")
	for _, c := range res.Config {
		fmt.Fprintf(w, "  %s: %s\n", tilde(home, c.File), c.State)
	}
	printProblems(w, res.Problems)
	fmt.Fprintln(w, "credentials:")
	var b strings.Builder
	printCredStatus(&b, home, res.Creds)
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if res.Choice != "" {
		fmt.Fprintf(w, "%s\n", res.Choice)
	}
	if res.Ready {
		fmt.Fprintf(w, "launch can start agents here with the default backend, %s\n", res.Default)
		return
	}
	fmt.Fprintf(w, "launch cannot start agents with the default backend, %s: fix the problems marked ✗ above, or choose another backend (--backend, LAUNCH_BACKEND or backend in the config)\n", res.Default)
}

func printProblems(w io.Writer, ps []health.Problem) {
	for _, p := range ps {
		mark := "!"
		if p.Fatal {
			mark = "✗"
		}
		fmt.Fprintf(w, "  %s %s\n    fix: %s\n", mark, p.What, p.Fix)
	}
}
