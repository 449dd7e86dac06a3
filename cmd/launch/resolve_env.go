package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// certVars point the usual TLS clients at --certs.
var certVars = []string{"SSL_CERT_FILE", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE"}

// awsStaticKeys are left out when a profile or the exported credential file
// provides credentials instead.
var awsStaticKeys = map[string]bool{
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_SECURITY_TOKEN": true, "AWS_CREDENTIAL_EXPIRATION": true,
}

// envOf is the agent's whole environment, lowest precedence first (SortEnv
// keeps the last of a name): launch's constants, the agent's prefixes,
// proxies, Bedrock, the terminal, GPUs, the --certs variables where nothing
// set them, and --env, which wins over everything.
func envOf(o *options, a agent, h *Host, p plan.Plan, m mountSet, n *notes) ([]plan.EnvVar, error) {
	var env []plan.EnvVar
	constant := func(name, value string) { env = append(env, plan.EnvVar{Name: name, Value: value}) }
	inherit := func(name string) {
		if v, ok := h.LookupEnv(name); ok {
			env = append(env, plan.EnvVar{Name: name, Value: v, FromHost: true})
		}
	}
	constant("HOME", p.User.Home)
	if p.User.Name != "" {
		for _, name := range []string{"USER", "LOGNAME", "USERNAME"} {
			constant(name, p.User.Name)
		}
	}
	constant("TOOL", a.Name)
	constant("HOST_MOUNT_DIR", p.Workspace)
	for _, name := range h.EnvNames() {
		for _, pre := range a.EnvPrefixes {
			if strings.HasPrefix(name, pre) {
				inherit(name)
				break
			}
		}
	}
	n.Warnings = append(n.Warnings, proxyEnv(h, &env)...)
	if m.bedrock {
		if err := bedrockEnv(h, &env); err != nil {
			return nil, err
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
	// In a Slurm job (launch --slurm, a task of launch batch --slurm, the
	// user's own sbatch script), the job's variables describe where the
	// agent runs (SLURM_JOB_ID, SLURM_CPUS_PER_TASK): they pass by name.
	if _, inJob := h.LookupEnv("SLURM_JOB_ID"); inJob {
		for _, name := range h.EnvNames() {
			if strings.HasPrefix(name, "SLURM_") {
				inherit(name)
			}
		}
	}
	user := userEnv(o, h, n)
	if m.certs {
		for _, v := range certVars {
			if _, set := lookupEnv(append(env, user...), v); !set {
				constant(v, CertsTarget)
			}
		}
	}
	return plan.SortEnv(append(env, user...)), nil
}

// userEnv is --env (and env = [...] in config): constants, and host values
// passed by name.
func userEnv(o *options, h *Host, n *notes) []plan.EnvVar {
	var env []plan.EnvVar
	for i, e := range o.Env {
		if e.HasValue {
			env = append(env, plan.EnvVar{Name: e.Name, Value: e.Value})
			continue
		}
		if v, ok := h.LookupEnv(e.Name); ok {
			env = append(env, plan.EnvVar{Name: e.Name, Value: v, FromHost: true})
		} else {
			n.warn("%s %s: not set on the host; not passed", o.from.of("env", i), e.Name)
		}
	}
	return env
}

func joinWords(w []string) string { return strings.Join(w, ", ") }

func splitPath(s string) []string { return strings.Split(s, ":") }
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
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
func resolveConda(where, v string, ws workspace, h *Host) (string, *plan.Mount, error) {
	dir := v
	if !strings.ContainsAny(v, "/~") && !strings.HasPrefix(v, ".") {
		out, err := h.Output("conda", "env", "list", "--json")
		if err != nil {
			return "", nil, usagef("%s %q: cannot list conda environments (conda env list --json: %v); give the environment's path instead", where, v, err)
		}
		var list struct {
			Envs []string `json:"envs"`
		}
		if err := json.Unmarshal(out, &list); err != nil {
			return "", nil, usagef("%s %q: conda env list --json printed no JSON list; give the environment's path instead", where, v)
		}
		dir = ""
		for i, e := range list.Envs {
			if filepath.Base(e) == v || (v == "base" && i == 0) {
				dir = e
				break
			}
		}
		if dir == "" {
			return "", nil, usagef("%s %q: no such conda environment (conda env list shows %d); check the name or give a path", where, v, len(list.Envs))
		}
	}
	dir = mounts.Expand(dir, h.Cwd, h.Home)
	if fi, err := h.Stat(filepath.Join(dir, "bin")); err != nil || !fi.IsDir() {
		return "", nil, usagef("%s %q: %q has no bin directory; is it a conda environment?", where, v, dir)
	}
	if b, err := h.ReadFile(filepath.Join(dir, "bin", "python")); err == nil && isMachO(b) {
		return "", nil, usagef("%s %q: %q holds macOS (Mach-O) programs, which cannot run in a Linux container; create the environment for linux (see docs/config.md, conda on macOS)", where, v, dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, usagef("%s %q: %v", where, v, err)
	}
	real, err := h.EvalSymlinks(dir)
	if err != nil {
		return "", nil, usagef("%s %q: %v", where, v, err)
	}
	if target, ok := ws.m().Inside(real); ok {
		return path.Join(filepath.ToSlash(target), "bin"), nil, nil
	}
	// Outside the workspace it is mounted where conda put it: its scripts
	// name that prefix.
	return path.Join(dir, "bin"), &plan.Mount{Kind: plan.MountBind, Source: real, Target: dir, Origin: plan.OriginConda}, nil
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
