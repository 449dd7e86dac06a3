package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/launchcli/launch/creds"
	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// errUsage is wrapped by errors in what the user asked for: bad flags, specs,
// paths, config. main exits 2 on them.
var errUsage = errors.New("usage error")

func usagef(format string, args ...any) error {
	return fmt.Errorf(format+"%w", append(args, errUsageMark{})...)
}

// errUsageMark prints nothing and unwraps to errUsage, so usagef messages
// stay one clean line.
type errUsageMark struct{}

func (errUsageMark) Error() string { return "" }
func (errUsageMark) Unwrap() error { return errUsage }

// Fixed container paths and values.
const (
	// StandardPath is the PATH of the image (Ubuntu's default), which
	// --path-prepend and --conda-env extend at the front. No empty entry.
	StandardPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// CertsTarget is where --certs puts the PEM bundle.
	CertsTarget = "/etc/ssl/launch/ca-bundle.pem"
	// BedrockProfile is the AWS profile that the credential helper exports.
	BedrockProfile = "llm-export"
)

// certVars point the usual TLS clients at --certs.
var certVars = []string{"SSL_CERT_FILE", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE"}

// awsStaticKeys are left out when a profile or the exported credential file
// provides credentials instead.
var awsStaticKeys = map[string]bool{
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_SECURITY_TOKEN": true, "AWS_CREDENTIAL_EXPIRATION": true,
}

// resolved is a Plan and what the user should hear about how it was made.
type resolved struct {
	Plan plan.Plan
	// Warnings go to stderr always; Info only with --verbose.
	Warnings []string
	Info     []string
}

// resolve builds the Plan for o on host h. It reads the host (stat, conda)
// but never writes: nothing is created on disk.
func resolve(o *options, h *Host) (resolved, error) {
	var r resolved
	a, ok := o.Agents[o.Agent]
	if !ok {
		return r, usagef("unknown agent %q; known agents: %s (add one under [agents.NAME] in the config)", o.Agent, strings.Join(agentNames(o.Agents), ", "))
	}
	if len(a.Command) == 0 {
		return r, usagef("agent %q: no command; set command = [...] under [agents.%s]", a.Name, a.Name)
	}
	p := &r.Plan
	p.Agent = a.Name

	// Command.
	p.Argv = append([]string(nil), a.Command...)
	switch {
	case a.Shell && len(o.Args) == 1:
		// One argument is a script: launch shell 'make test && echo ok'.
		p.Argv = append(p.Argv, "-c", o.Args[0])
	case a.Shell && len(o.Args) > 1:
		// Several are a command and its arguments, quoted so that bash
		// sees the same words: launch shell -- ls -la 'my dir'.
		p.Argv = append(p.Argv, "-c", shell.Join(o.Args))
	default:
		p.Argv = append(p.Argv, o.Args...)
	}

	// Workspace.
	ws := filepath.Clean(h.Cwd)
	wsTarget := ws
	if o.WorkspaceMount != "" {
		if !path.IsAbs(o.WorkspaceMount) {
			return r, usagef("--workspace-mount %q: must be an absolute container path", o.WorkspaceMount)
		}
		wsTarget = path.Clean(o.WorkspaceMount)
		if wsTarget == "/" {
			return r, usagef("--workspace-mount %q: cannot mount the workspace over /", o.WorkspaceMount)
		}
	}
	if strings.ContainsAny(ws, ":,\n") {
		return r, usagef("workspace %q: a path with ':' or ',' cannot be mounted by the engines; run launch from another directory", ws)
	}
	p.Workspace, p.Workdir = ws, wsTarget

	d := o.Defaults
	p.User = plan.User{UID: d.UID, GID: d.GID, Name: d.User, Home: path.Clean(d.Home)}
	p.Caller = plan.Caller{UID: h.UID, GID: h.GID}

	// Images.
	if err := resolveImages(o, a, p); err != nil {
		return r, err
	}

	// Network, runtime, pull, GPUs.
	var err error
	if p.Network, err = plan.ParseNetwork(orDefault(o.Network, "open")); err != nil {
		return r, usagef("--network: %v", strings.TrimSuffix(err.Error(), ": "+plan.ErrInvalid.Error()))
	}
	if o.Runtime != "" {
		if p.Runtime, err = plan.ParseRuntime(o.Runtime); err != nil {
			return r, usagef("--runtime: %v", strings.TrimSuffix(err.Error(), ": "+plan.ErrInvalid.Error()))
		}
	}
	switch {
	case o.Pull != "":
		if p.Pull, err = plan.ParsePull(o.Pull); err != nil {
			return r, usagef("--pull: %v", strings.TrimSuffix(err.Error(), ": "+plan.ErrInvalid.Error()))
		}
	case p.Image.Default:
		p.Pull = plan.PullMissing
	default:
		// Only launch's own default image is fetched unasked (the
		// reference launcher's rule): a user's image must exist.
		p.Pull = plan.PullNever
		r.Info = append(r.Info, "pull: not launch's default image, so it is not fetched unless you pass --pull missing or --pull always")
	}
	gpus, note, err := parseGPUs(o.GPUs, h)
	if err != nil {
		return r, err
	}
	p.GPUs = gpus
	if note != "" {
		r.Info = append(r.Info, note)
	}
	p.TTY = h.Terminal

	// Mounts.
	bedrock := bedrockOn(a, h)
	var list mounts.List
	add := func(m plan.Mount) error {
		if err := list.Add(m); err != nil {
			return usagef("%v", strings.TrimSuffix(err.Error(), ": "+mounts.ErrSpec.Error()))
		}
		return nil
	}
	if err := add(plan.Mount{Kind: plan.MountBind, Source: ws, Target: wsTarget, ReadOnly: o.GlobalReadOnly, Origin: plan.OriginWorkspace}); err != nil {
		return r, err
	}
	cr, err := creds.Resolve(a.Credentials, h.Home, p.User.Home, bedrock, h.Stat)
	if err != nil {
		return r, usagef("agent %q: %v", a.Name, err)
	}
	for _, m := range cr.Mounts {
		if err := add(m); err != nil {
			return r, err
		}
		r.Info = append(r.Info, fmt.Sprintf("credentials: mounting %q at %q", m.Source, m.Target))
	}
	for _, s := range cr.Skipped {
		r.Info = append(r.Info, fmt.Sprintf("credentials: %q does not exist; not mounted", s))
	}
	p.Prepare = cr.Prepare
	for _, sp := range o.Mounts {
		m, err := mounts.Resolve(sp, h.Cwd, h.Home, h.Stat)
		if err != nil {
			return r, usagef("%v", strings.TrimSuffix(err.Error(), ": "+mounts.ErrSpec.Error()))
		}
		if err := add(m); err != nil {
			return r, err
		}
	}

	// Environment, lowest precedence first; plan.SortEnv keeps the last.
	var env []plan.EnvVar
	constant := func(name, value string) { env = append(env, plan.EnvVar{Name: name, Value: value}) }
	inherit := func(name string) {
		if v, ok := h.LookupEnv(name); ok {
			env = append(env, plan.EnvVar{Name: name, Value: v, FromHost: true})
		}
	}
	constant("HOME", p.User.Home)
	for _, n := range []string{"USER", "LOGNAME", "USERNAME"} {
		if p.User.Name != "" {
			constant(n, p.User.Name)
		}
	}
	constant("TOOL", a.Name)
	constant("HOST_MOUNT_DIR", ws)
	for _, name := range h.EnvNames() {
		for _, pre := range a.EnvPrefixes {
			if strings.HasPrefix(name, pre) {
				inherit(name)
				break
			}
		}
	}
	r.Warnings = append(r.Warnings, proxyEnv(h, &env)...)
	if bedrock {
		if err := bedrockEnv(h, &env); err != nil {
			return r, err
		}
	}
	if p.TTY {
		if _, ok := h.LookupEnv("TERM"); ok {
			inherit("TERM")
		} else {
			constant("TERM", "xterm")
		}
	}
	if p.GPUs.Any() {
		inherit("CUDA_VISIBLE_DEVICES")
	}

	// --env: wins over everything above. Collected now, applied last.
	var userEnv []plan.EnvVar
	for _, e := range o.Env {
		name, value, hasValue, err := parseEnvSpec(e)
		if err != nil {
			return r, err
		}
		if hasValue {
			userEnv = append(userEnv, plan.EnvVar{Name: name, Value: value})
			continue
		}
		if v, ok := h.LookupEnv(name); ok {
			userEnv = append(userEnv, plan.EnvVar{Name: name, Value: v, FromHost: true})
		} else {
			r.Warnings = append(r.Warnings, fmt.Sprintf("--env %s: not set on the host; not passed", name))
		}
	}
	isSet := func(name string) bool {
		for _, e := range append(env, userEnv...) {
			if e.Name == name {
				return true
			}
		}
		return false
	}

	// --certs.
	if o.Certs != "" {
		src := mounts.Expand(o.Certs, h.Cwd, h.Home)
		fi, err := h.Stat(src)
		if err != nil || fi.IsDir() {
			return r, usagef("--certs %q: not a file; give the path of a PEM bundle (or unset LLM_DEVCONTAINER_CERTS)", src)
		}
		if err := add(plan.Mount{Kind: plan.MountBind, Source: src, Target: CertsTarget, ReadOnly: true, File: true, Origin: plan.OriginCerts}); err != nil {
			return r, err
		}
		for _, v := range certVars {
			if !isSet(v) {
				constant(v, CertsTarget)
			}
		}
	}

	// --conda-env and --path-prepend build PATH.
	var front []string
	if o.CondaEnv != "" {
		bin, m, err := resolveConda(o.CondaEnv, ws, wsTarget, h)
		if err != nil {
			return r, err
		}
		if m != nil {
			if err := add(*m); err != nil {
				return r, err
			}
		}
		front = append(front, bin)
	}

	// --ro and --mask sit on the workspace.
	for _, flag := range []struct {
		name  string
		paths []string
	}{{"--ro", o.RO}, {"--mask", o.Mask}} {
		for _, pth := range flag.paths {
			host, target, isDir, err := mounts.Sub(flag.name, mounts.Expand(pth, ws, h.Home), ws, wsTarget, h.Stat)
			if err != nil {
				return r, usagef("%v", strings.TrimSuffix(err.Error(), ": "+mounts.ErrSpec.Error()))
			}
			m := plan.Mount{Kind: plan.MountBind, Source: host, Target: target, ReadOnly: true, File: !isDir, Origin: plan.OriginReadOnly}
			if flag.name == "--mask" {
				m = plan.Mount{Kind: plan.MountMask, Target: target, ReadOnly: true, File: !isDir, Origin: plan.OriginMask}
			}
			if err := add(m); err != nil {
				return r, err
			}
		}
	}
	r.Warnings = append(r.Warnings, projectWarnings(o, h)...)
	p.Mounts = list.Mounts()
	r.Warnings = append(r.Warnings, list.Warnings()...)

	for _, pp := range o.PathPrepend {
		target := pp
		if !path.IsAbs(pp) {
			target = path.Join(wsTarget, pp)
		} else {
			target = path.Clean(pp)
			if !underMount(target, p.Mounts) {
				return r, usagef("--path-prepend %q: not under any mount, so it does not exist in the container; mount it with --mount or give a path relative to the workspace", pp)
			}
		}
		front = append(front, target)
	}
	env = append(env, userEnv...)
	if userPath, ok := lookupEnv(env, "PATH"); ok {
		// --env PATH=...: the user's PATH, with the front entries before it.
		env = append(env, plan.EnvVar{Name: "PATH", Value: joinPath(append(front, strings.Split(userPath.Value, ":")...)), FromHost: false})
	} else {
		p.PathPrepend = dedupe(front)
	}
	p.Env = plan.SortEnv(env)

	p.Labels = map[string]string{
		"dev.launch.agent":     a.Name,
		"dev.launch.workspace": ws,
	}

	if err := p.Validate(); err != nil {
		return r, usagef("%v", strings.ReplaceAll(err.Error(), ": "+plan.ErrInvalid.Error(), ""))
	}
	return r, nil
}

// projectWarnings names what the project config adds beyond the workspace:
// host directories outside it and host variables passed by name.
func projectWarnings(o *options, h *Host) []string {
	var out []string
	ws := filepath.Clean(h.Cwd)
	for _, sp := range o.Project.Mounts {
		if src := mounts.Expand(sp.Host, h.Cwd, h.Home); !mounts.Within(src, ws) {
			out = append(out, fmt.Sprintf("%s mounts %q, outside the workspace; remove it from that file if you did not mean the agent to see it", o.Project.File, src))
		}
	}
	if len(o.Project.EnvHost) > 0 {
		out = append(out, fmt.Sprintf("%s passes host variables to the agent: %s", o.Project.File, strings.Join(o.Project.EnvHost, ", ")))
	}
	return out
}

// parseEnvSpec parses an --env value: NAME=VALUE sets a constant, NAME
// alone passes the host's variable by name.
func parseEnvSpec(e string) (name, value string, hasValue bool, err error) {
	name, value, hasValue = strings.Cut(e, "=")
	if !plan.ValidEnvName(name) {
		return "", "", false, usagef("--env %q: want NAME=VALUE, or NAME to pass the host's value; NAME is letters, digits and _", e)
	}
	if strings.ContainsRune(value, 0) {
		return "", "", false, usagef("--env %q: the value holds a NUL byte", name)
	}
	return name, value, hasValue, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func agentNames(m map[string]agent) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// resolveImages picks the OCI image and the SIF. A default image gets the
// agent's tag (or --tag); a named image is used as given, with --tag added
// only when it has no tag of its own.
func resolveImages(o *options, a agent, p *plan.Plan) error {
	tag := orDefault(o.Tag, a.Tag)
	if o.Tag != "" && strings.ContainsAny(o.Tag, "/: @") {
		return usagef("--tag %q: a tag has no '/', ':', '@' or blanks", o.Tag)
	}
	withTag := func(ref, tag string) string {
		if tag == "" || hasTag(ref) {
			return ref
		}
		return ref + ":" + tag
	}
	if o.Image != "" {
		if strings.ContainsAny(o.Image, " \t\n") {
			return usagef("--image %q: an image reference has no blanks", o.Image)
		}
		p.Image.OCI = withTag(o.Image, o.Tag)
	} else {
		p.Image.OCI = withTag(o.Defaults.OCI, tag)
	}
	if o.SIFPath != "" {
		p.Image.SIF = o.SIFPath
		if !strings.Contains(o.SIFPath, "://") {
			p.Image.SIF = mounts.Expand(o.SIFPath, "", "")
		}
	} else {
		p.Image.SIF = withTag(o.Defaults.SIF, tag)
	}
	p.Image.Default = o.Image == "" && o.SIFPath == ""
	arch := o.Arch
	if arch == "" && o.Image == "" {
		arch = o.Defaults.Arch
	}
	pl, err := plan.ParsePlatform(arch)
	if err != nil {
		return usagef("--arch: %v", err)
	}
	p.Image.Platform = pl
	return nil
}

// hasTag reports whether an image reference names a tag or digest.
func hasTag(ref string) bool {
	if strings.Contains(ref, "@") {
		return true
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	return strings.Contains(last, ":")
}

// parseGPUs reads --gpus: none, all, auto, or a list of device ids.
func parseGPUs(v string, h *Host) (plan.GPUs, string, error) {
	switch v {
	case "", "none":
		return plan.GPUs{}, "", nil
	case "all":
		return plan.GPUs{All: true}, "", nil
	case "auto":
		for _, name := range []string{"CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS"} {
			if val := h.Getenv(name); val != "" && val != "NoDevFiles" && val != "-1" {
				return plan.GPUs{All: true}, fmt.Sprintf("gpus: auto: %s=%s, so GPUs are passed", name, val), nil
			}
		}
		return plan.GPUs{}, "gpus: auto: no CUDA_VISIBLE_DEVICES or Slurm GPU allocation, so no GPU is passed", nil
	}
	var devs []string
	for _, d := range strings.Split(v, ",") {
		d = strings.TrimSpace(d)
		if d == "" || strings.ContainsAny(d, " \"'=") {
			return plan.GPUs{}, "", usagef("--gpus %q: want none, all, auto, or device ids such as 0,1", v)
		}
		devs = append(devs, d)
	}
	return plan.GPUs{Devices: devs}, "", nil
}

func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func bedrockOn(a agent, h *Host) bool {
	for _, sw := range a.BedrockSwitch {
		if truthy(h.Getenv(sw)) {
			return true
		}
	}
	return false
}

// proxyEnv passes the proxy variables; when only one case of a pair is set,
// both cases get its value. A value copied to the other name is not inherited
// by that name, so it would appear on a printed command line: one holding
// credentials (user:pass@) is not copied.
func proxyEnv(h *Host, env *[]plan.EnvVar) []string {
	var warnings []string
	for _, pair := range [][2]string{{"http_proxy", "HTTP_PROXY"}, {"https_proxy", "HTTPS_PROXY"}, {"no_proxy", "NO_PROXY"}} {
		lo, loOK := h.LookupEnv(pair[0])
		up, upOK := h.LookupEnv(pair[1])
		if loOK {
			*env = append(*env, plan.EnvVar{Name: pair[0], Value: lo, FromHost: true})
		}
		if upOK {
			*env = append(*env, plan.EnvVar{Name: pair[1], Value: up, FromHost: true})
		}
		copyTo := func(name, value string) {
			if strings.Contains(value, "@") {
				warnings = append(warnings, fmt.Sprintf("%s holds credentials; not copied to %s (set both on the host to pass both)", otherCase(name), name))
				return
			}
			*env = append(*env, plan.EnvVar{Name: name, Value: value})
		}
		switch {
		case loOK && !upOK:
			copyTo(pair[1], lo)
		case upOK && !loOK:
			copyTo(pair[0], up)
		}
	}
	return warnings
}

func otherCase(name string) string {
	if up := strings.ToUpper(name); up != name {
		return up
	}
	return strings.ToLower(name)
}

// bedrockEnv passes AWS_* for Amazon Bedrock, preferring a profile or the
// exported credential file (~/.aws/credentials.json, written by the
// credential helper) over static keys.
func bedrockEnv(h *Host, env *[]plan.EnvVar) error {
	exported := false
	if fi, err := h.Stat(filepath.Join(h.Home, ".aws", "credentials.json")); err == nil && !fi.IsDir() {
		exported = true
	}
	_, profile := h.LookupEnv("AWS_PROFILE")
	_, static := h.LookupEnv("AWS_ACCESS_KEY_ID")
	if !profile && !static && !exported {
		return usagef("bedrock is on but there are no AWS credentials: set AWS_PROFILE, export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write ~/.aws/credentials.json with the credential helper (aws configure export-credentials)")
	}
	for _, name := range h.EnvNames() {
		if !strings.HasPrefix(name, "AWS_") || ((profile || exported) && awsStaticKeys[name]) {
			continue
		}
		v, _ := h.LookupEnv(name)
		*env = append(*env, plan.EnvVar{Name: name, Value: v, FromHost: true})
	}
	if exported && !profile {
		*env = append(*env, plan.EnvVar{Name: "AWS_PROFILE", Value: BedrockProfile})
	}
	return nil
}

// resolveConda finds the conda environment, checks it can run in a Linux
// container, and returns its bin directory in the container and the mount
// that brings it in (nil when it lies inside the workspace).
func resolveConda(v, ws, wsTarget string, h *Host) (string, *plan.Mount, error) {
	dir := v
	if !strings.ContainsAny(v, "/~") && !strings.HasPrefix(v, ".") {
		out, err := h.Output("conda", "env", "list", "--json")
		if err != nil {
			return "", nil, usagef("--conda-env %q: cannot list conda environments (conda env list --json: %v); give the environment's path instead", v, err)
		}
		var list struct {
			Envs []string `json:"envs"`
		}
		if err := json.Unmarshal(out, &list); err != nil {
			return "", nil, usagef("--conda-env %q: conda env list --json printed no JSON list; give the environment's path instead", v)
		}
		dir = ""
		for i, e := range list.Envs {
			if filepath.Base(e) == v || (v == "base" && i == 0) {
				dir = e
				break
			}
		}
		if dir == "" {
			return "", nil, usagef("--conda-env %q: no such conda environment (conda env list shows %d); check the name or give a path", v, len(list.Envs))
		}
	}
	dir = mounts.Expand(dir, h.Cwd, h.Home)
	if fi, err := h.Stat(filepath.Join(dir, "bin")); err != nil || !fi.IsDir() {
		return "", nil, usagef("--conda-env %q: %q has no bin directory; is it a conda environment?", v, dir)
	}
	if b, err := h.ReadFile(filepath.Join(dir, "bin", "python")); err == nil && isMachO(b) {
		return "", nil, usagef("--conda-env %q: %q holds macOS (Mach-O) programs, which cannot run in a Linux container; create the environment for linux (see docs/config.md, conda on macOS)", v, dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, usagef("--conda-env %q: %v", v, err)
	}
	if mounts.Within(dir, ws) {
		rel, _ := filepath.Rel(ws, dir)
		return path.Join(wsTarget, filepath.ToSlash(rel), "bin"), nil, nil
	}
	return path.Join(dir, "bin"), &plan.Mount{Kind: plan.MountBind, Source: dir, Target: dir, Origin: plan.OriginConda}, nil
}

// isMachO reports whether b starts with a Mach-O or universal binary magic.
func isMachO(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch string(b[:4]) {
	case "\xfe\xed\xfa\xce", "\xfe\xed\xfa\xcf", "\xce\xfa\xed\xfe", "\xcf\xfa\xed\xfe", "\xca\xfe\xba\xbe":
		return true
	}
	return false
}

func underMount(p string, ms []plan.Mount) bool {
	for _, m := range ms {
		if mounts.Within(p, m.Target) {
			return true
		}
	}
	return false
}

func lookupEnv(env []plan.EnvVar, name string) (plan.EnvVar, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if env[i].Name == name {
			return env[i], true
		}
	}
	return plan.EnvVar{}, false
}

func dedupe(entries []string) []string {
	if s := joinPath(entries); s != "" {
		return strings.Split(s, ":")
	}
	return nil
}

// joinPath joins PATH entries, dropping empty and repeated ones.
func joinPath(entries []string) string {
	seen := map[string]bool{}
	var out []string
	for _, e := range entries {
		if e == "" || seen[e] {
			continue
		}
		seen[e] = true
		out = append(out, e)
	}
	return strings.Join(out, ":")
}
