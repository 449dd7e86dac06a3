package main

import (
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/launchcli/launch/internal/shell"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
	"github.com/launchcli/launch/trust"
)

// A project config (.launch.toml) comes with the workspace, often from a
// repository the user did not write, and the agent can write it during one
// session for the next. So its keys are classed (trust.Class): narrowing
// ones apply freely, widening ones only once the user has trusted the file's
// content (launch trust), and user-only ones never.

// keyRule classes one config key. widens, for a widening key, says in plain
// words what this file's value adds beyond the user's own settings; nothing
// when the value only narrows (network = "none"). A nil widens means every
// value widens, as what says.
type keyRule struct {
	class  trust.Class
	what   string
	widens func(r *review) []string
}

// topKeys classes every top-level key of Settings (TestEveryKeyHasAClass).
var topKeys = map[string]keyRule{
	"backend":            {class: trust.Widening, what: "chooses the container engine"},
	"image":              {class: trust.Widening, what: "runs another image"},
	"tag":                {class: trust.Widening, what: "runs another image tag"},
	"arch":               {class: trust.Widening, what: "runs another image platform"},
	"sif_path":           {class: trust.Widening, what: "runs another SIF image"},
	"workspace_mount":    {class: trust.Narrowing, what: "moves the workspace inside the container"},
	"path_prepend":       {class: trust.Narrowing, what: "puts container directories in front of PATH"},
	"conda_env":          {class: trust.Widening, widens: (*review).condaEnv},
	"certs":              {class: trust.Widening, widens: (*review).certs},
	"env":                {class: trust.Widening, widens: (*review).env},
	"mounts":             {class: trust.Widening, widens: (*review).mounts},
	"global_read_only":   {class: trust.Widening, widens: (*review).globalReadOnly},
	"ro":                 {class: trust.Narrowing, what: "makes workspace paths read-only"},
	"git_dir_writable":   {class: trust.Widening, what: "makes a worktree's git directory, outside the workspace, writable"},
	"isolate":            {class: trust.Widening, widens: (*review).isolate},
	"isolate_max":        {class: trust.UserOnly, what: "sets how large a workspace --isolate copies"},
	"mask":               {class: trust.Narrowing, what: "hides workspace paths"},
	"protect":            {class: trust.Narrowing, what: "protects more workspace paths"},
	"unprotect":          {class: trust.UserOnly, what: "unprotects workspace paths"},
	"network":            {class: trust.Widening, widens: (*review).network},
	"publish":            {class: trust.Widening, what: "serves the agent's ports on your machine"},
	"network_via":        {class: trust.Narrowing, what: "chooses how the network allowlist is enforced (both ways enforce it)"},
	"runtime":            {class: trust.UserOnly, what: "chooses the OCI runtime"},
	"gpus":               {class: trust.Widening, widens: (*review).gpus},
	"pull":               {class: trust.Widening, widens: (*review).pull},
	"yes":                {class: trust.UserOnly, what: "skips the confirmation"},
	"singularity_bin":    {class: trust.UserOnly, what: "runs another program on the host as apptainer"},
	"singularity_nvccli": {class: trust.Widening, what: "sets up GPUs with nvidia-container-cli"},
	"podman_rootful":     {class: trust.Widening, what: "chooses rootful or rootless Podman"},
	"podman_url":         {class: trust.Widening, what: "chooses which Podman service runs the agent"},
	"sandbox_cache_max":  {class: trust.UserOnly, what: "sets the size limit of your unpacked image cache"},
	"image_defaults":     {class: trust.UserOnly, what: "sets the default image and its user"},
	"agents":             {class: trust.Widening, what: "defines or changes agents"},
	"slurm":              {class: trust.UserOnly, what: "runs launches under Slurm, on your allocation"},
	"privileges":         {class: trust.Widening, widens: (*review).privileges},
	"cap_add":            {class: trust.Widening, what: "gives the agent capabilities back"},
	"memory": {class: trust.Widening, widens: func(r *review) []string {
		return r.limit("memory", r.l.cfg.Memory.limitSetting, r.lower.Memory.limitSetting, 0)
	}},
	"cpus": {class: trust.Widening, widens: func(r *review) []string {
		return r.limit("cpus", r.l.cfg.CPUs.limitSetting, r.lower.CPUs.limitSetting, 0)
	}},
	"pids": {class: trust.Widening, widens: func(r *review) []string {
		return r.limit("pids", r.l.cfg.PIDs.limitSetting, r.lower.PIDs.limitSetting, plan.DefaultPIDs)
	}},
	"allow_secrets": {class: trust.UserOnly, what: "lets a workspace that holds your home or a secret store be mounted"},
}

// agentKeys classes every key of an [agents.NAME] table.
var agentKeys = map[string]keyRule{
	"command":        {class: trust.Widening, what: "changes the agent's command"},
	"shell":          {class: trust.Widening, what: "changes how the agent's arguments run"},
	"tag":            {class: trust.Widening, what: "runs another image tag"},
	"network_allow":  {class: trust.Widening, what: "changes the agent's suggested network allowlist (--network allow=@AGENT)"},
	"credentials":    {class: trust.Widening, what: "mounts credential paths from your home, read-write"},
	"settings":       {class: trust.UserOnly, what: "chooses which of the agent's own settings are read-only inside"},
	"env_prefixes":   {class: trust.UserOnly, what: "passes host variables by prefix"},
	"privileges":     {class: trust.Widening, what: "changes the agent's privileges"},
	"cap_add":        {class: trust.Widening, what: "gives the agent capabilities back"},
	"memory":         {class: trust.Widening, what: "changes the agent's memory limit"},
	"cpus":           {class: trust.Widening, what: "changes the agent's CPU limit"},
	"pids":           {class: trust.Widening, what: "changes the agent's process limit"},
	"bedrock_switch": {class: trust.UserOnly, what: "chooses the variables that mount ~/.aws"},
	// A prompt is text: it grants no access, and the workspace can already
	// instruct the agent (CLAUDE.md, AGENTS.md). A prompt file outside the
	// workspace hands a host file to the agent, so it widens.
	"prompt":          {class: trust.Narrowing, what: "sets the agent's system prompt"},
	"prompt_file":     {class: trust.Widening, widens: (*review).promptFile},
	"prompt_args":     {class: trust.Widening, what: "changes the arguments that give the agent its prompt"},
	"prompt_replaces": {class: trust.Narrowing, what: "says whether the prompt replaces the agent's instructions"},
	// A project's skills come from its own skills directory, already in the
	// workspace; a skill found only in yours would be mounted from your
	// home, so naming skills widens unless each is in the project.
	"skills":         {class: trust.Widening, widens: (*review).skills},
	"skills_home":    {class: trust.UserOnly, what: "chooses the directory of your home that skills come from"},
	"skills_project": {class: trust.Narrowing, what: "chooses the workspace directory that skills come from"},
	"skill_manifest": {class: trust.Narrowing, what: "names the file every skill holds"},
	// SSH hosts hand the agent your keys (or your agent) for those hosts.
	"ssh_hosts": {class: trust.Widening, what: "gives the agent SSH access to hosts with your keys"},
	"ssh_agent": {class: trust.Widening, what: "forwards your SSH agent to the agent"},
	// launch login runs these with the credentials writable and the port
	// published on your machine.
	"login":      {class: trust.Widening, what: "changes the agent's login command"},
	"login_port": {class: trust.Widening, what: "changes the port launch login publishes"},
}

// classOf is the class of a key as toml names it: top-level, under
// [image_defaults] (all user-only), or under [agents.NAME].
func classOf(k toml.Key) (keyRule, bool) {
	switch {
	case len(k) == 1:
		r, ok := topKeys[k[0]]
		return r, ok
	case k[0] == "image_defaults" && len(k) == 2:
		return keyRule{class: trust.UserOnly, what: "sets the default image and its user"}, true
	case k[0] == "agents" && len(k) == 3:
		r, ok := agentKeys[k[2]]
		return r, ok
	}
	return keyRule{}, false
}

// review judges one project layer against the user's own settings (the
// built-in catalogue and the user config merged).
type review struct {
	l     *layer
	lower Settings
	// agents is the user's own catalogue (built-in and user config).
	agents map[string]agent
	h      *Host
	ws     string // the workspace, links resolved
}

// reviewProject drops the user-only keys of the project layer (with a
// warning each) and refuses a layer that widens access unless the user
// trusted this very content, in this workspace, widening no more than it
// did then (a path in it that now leads elsewhere needs trusting again).
func reviewProject(l *layer, lower []layer, h *Host) error {
	r := newReview(l, lower, h)
	widening := r.findings()
	if len(widening) == 0 {
		return nil
	}
	store, err := trust.Load(trust.File(h.Getenv, h.Home), h.ReadFile)
	if err != nil {
		return usagef("%w", err)
	}
	status, rec, more := store.Check(trust.Key(r.ws), []byte(l.text), widening)
	why := "is not trusted"
	when := rec.Trusted.Format("2006-01-02 15:04 MST")
	switch status {
	case trust.Trusted:
		return nil
	case trust.Changed:
		why = fmt.Sprintf("changed since you trusted it (%s)", when)
	case trust.Widened:
		why = fmt.Sprintf("is the file you trusted (%s), but a path in it now leads elsewhere", when)
		widening = more
	case trust.Outdated:
		why = fmt.Sprintf("was trusted (%s) by an earlier launch, which did not record where its paths lead", when)
	}
	return usagef("%s %s, and it gives the agent more than your own settings do:\n  %s\nRead the file; if you accept it, run: launch trust %s\n(a project file may narrow access without trust: ro, mask, protect, network = \"none\", constant env; see docs/security.md)",
		l.file, why, strings.Join(widening, "\n  "), shell.Quote(filepath.Dir(l.file)))
}

// newReview prepares the review of project layer l of the workspace h.Cwd
// against the layers below it.
func newReview(l *layer, lower []layer, h *Host) *review {
	r := &review{l: l, h: h, ws: h.Cwd, agents: catalogue(lower)}
	if real, err := h.EvalSymlinks(h.Cwd); err == nil {
		r.ws = real
	}
	for _, x := range lower {
		r.lower.mergeFrom(&x.cfg, x.defined, origins{})
	}
	return r
}

// findings strips user-only keys and lists what the widening ones add.
func (r *review) findings() []string {
	var out []string
	for _, k := range r.l.md.Keys() {
		rule, ok := classOf(k)
		if !ok {
			continue // a table header, or a key inside an inline table
		}
		where := fmt.Sprintf("line %d: %s", keyLine(r.l.text, k), k)
		if len(k) == 1 && k[0] == "image_defaults" {
			continue // judged key by key
		}
		switch rule.class {
		case trust.UserOnly:
			r.strip(k)
			r.l.warnings = append(r.l.warnings, fmt.Sprintf("%s: %s: only your own config may set this (it %s); ignored", r.l.file, where, rule.what))
		case trust.Widening:
			if len(k) == 1 && k[0] == "agents" {
				continue // judged key by key
			}
			if rule.widens == nil {
				out = append(out, where+": "+rule.what)
				continue
			}
			for _, w := range rule.widens(r) {
				out = append(out, where+": "+w)
			}
		}
	}
	return out
}

// strip removes a user-only key from the layer.
func (r *review) strip(k toml.Key) {
	switch {
	case len(k) == 1:
		if r.l.ignored == nil {
			r.l.ignored = map[string]bool{}
		}
		r.l.ignored[k[0]] = true
		f := reflect.ValueOf(&r.l.cfg).Elem().Field(fieldByKey()[k[0]])
		f.Set(reflect.Zero(f.Type()))
	case k[0] == "image_defaults":
		r.l.cfg.ImageDefaults = imageDefaults{}
	case k[0] == "agents":
		a := r.l.cfg.AgentTables[k[1]]
		switch k[2] {
		case "env_prefixes":
			a.EnvPrefixes = nil
		case "bedrock_switch":
			a.BedrockSwitch = nil
		case "skills_home":
			a.SkillsHome = nil
		}
		r.l.cfg.AgentTables[k[1]] = a
	}
}

// place judges the host path p as the project file gives it: whether,
// links resolved, it is in the workspace, and how to name it in a finding.
// A path that a link leads elsewhere is named with where it leads, so
// that trust recorded for one target does not cover another.
func (r *review) place(p string) (inside bool, name string) {
	abs := mounts.Expand(p, r.h.Cwd, r.h.Home)
	real, err := r.h.EvalSymlinks(abs)
	if r.l.reviewed == nil {
		r.l.reviewed = map[string]string{}
	}
	r.l.reviewed[abs] = real
	name = strconv.Quote(p)
	plain := abs // the path with the workspace's own links resolved
	if rel, err := filepath.Rel(r.h.Cwd, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		plain = filepath.Join(r.ws, rel)
	}
	if err == nil && real != abs && real != plain {
		name = fmt.Sprintf("%s (a link to %q)", name, real)
	}
	return err == nil && mounts.Within(real, r.ws), name
}

// promptFile judges the prompt files the project's agents name: one
// outside the workspace hands a host file to the agent.
func (r *review) promptFile() []string {
	var out []string
	for _, name := range sortedKeys(r.l.cfg.AgentTables) {
		f := r.l.cfg.AgentTables[name].PromptFile
		if f == nil {
			continue
		}
		if in, what := r.place(*f); !in {
			out = append(out, fmt.Sprintf("gives agent %q the host file %s as its prompt", name, what))
		}
	}
	return out
}

// skills judges the skills the project's agents name: one that is not in
// the project's own skills directory would come from your home.
func (r *review) skills() []string {
	var out []string
	for _, name := range sortedKeys(r.l.cfg.AgentTables) {
		a := r.l.cfg.AgentTables[name]
		dir := r.agents[name].SkillsProject
		if a.SkillsProject != nil {
			dir = *a.SkillsProject
		}
		for _, s := range a.Skills {
			if dir == "" || checkSkillName(s) != nil {
				out = append(out, fmt.Sprintf("gives agent %q the skill %q from your home directory", name, s))
				continue
			}
			p := filepath.Join(r.h.Cwd, dir, s)
			in, what := r.place(p)
			_, err := r.h.Stat(p)
			switch {
			case !in && err != nil:
				out = append(out, fmt.Sprintf("gives agent %q the skill %q from your home directory", name, s))
			case !in:
				out = append(out, fmt.Sprintf("gives agent %q the skill %q from outside the workspace: %s", name, s, what))
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isolate judges isolate: a copy narrows; turning off your own isolation
// widens. isolate = true needs no trust: the agent works on a copy, and
// what launch runs on the host for it is the copy itself (cp), git in the
// copy before the agent has it (the workspace's own repository, as the
// user's own git status would), and, after the session, git only in a git
// directory of launch's own with a fixed configuration, never with one the
// agent could write (isolate_git.go). Its size limit (isolate_max) is the
// user's alone.
func (r *review) isolate() []string {
	if r.lower.Isolate && !r.l.cfg.Isolate {
		return []string{"gives the agent the workspace itself, which your config isolates"}
	}
	return nil
}

func (r *review) condaEnv() []string {
	v := r.l.cfg.CondaEnv
	if !strings.ContainsAny(v, "/~") {
		return []string{fmt.Sprintf("mounts the conda environment %q from the host", v)}
	}
	if in, what := r.place(v); !in {
		return []string{fmt.Sprintf("mounts the conda environment %s from the host", what)}
	}
	return nil
}

func (r *review) certs() []string {
	if in, what := r.place(r.l.cfg.Certs); !in {
		return []string{fmt.Sprintf("mounts the host file %s", what)}
	}
	return nil
}

func (r *review) env() []string {
	var out []string
	for _, e := range r.l.cfg.Env {
		if !e.HasValue {
			out = append(out, fmt.Sprintf("passes your host variable %s to the agent", e.Name))
		}
	}
	return out
}

func (r *review) mounts() []string {
	var out []string
	for _, sp := range r.l.cfg.Mounts {
		in, what := r.place(sp.Host)
		mode := "read-write"
		if sp.ReadOnly {
			mode = "read-only"
		}
		switch {
		case !in:
			out = append(out, fmt.Sprintf("mounts %s from outside the workspace, %s", what, mode))
		case r.lower.GlobalReadOnly && !sp.ReadOnly:
			out = append(out, fmt.Sprintf("mounts %q read-write, which your config makes read-only", sp.Host))
		}
	}
	return out
}

func (r *review) globalReadOnly() []string {
	if r.lower.GlobalReadOnly && !r.l.cfg.GlobalReadOnly {
		return []string{"makes the workspace writable, which your config makes read-only"}
	}
	return nil
}

func (r *review) network() []string {
	// @AGENT entries name the lists of the user's own catalogue: a project
	// file that changes an agent's network_allow widens by itself.
	p, err := r.l.cfg.Network.expand(r.agents)
	if err != nil {
		return []string{fmt.Sprintf("sets the network to %q, which names an unknown agent list", r.l.cfg.Network.String())}
	}
	lower, err := r.lower.Network.expand(r.agents)
	if err != nil {
		lower = plan.Network{Mode: plan.NetworkNone}
	}
	if narrows(p, lower) {
		return nil
	}
	return []string{fmt.Sprintf("sets the network to %q, more than your own %q", p, lower)}
}

// narrows reports whether network policy p allows nothing that lower does
// not.
func narrows(p, lower plan.Network) bool {
	switch {
	case p.Mode == plan.NetworkNone, lower.Mode == plan.NetworkOpen:
		return true
	case lower.Mode == plan.NetworkNone, p.Mode == plan.NetworkOpen:
		return false
	}
	for _, want := range p.Allow {
		covered := false
		for _, have := range lower.Allow {
			if coversHost(have.Host, want.Host) && (have.Port == 0 || have.Port == want.Port) {
				covered = true
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// coversHost reports whether the pattern have matches every name that want
// matches: the same pattern, or a wildcard above it (*.example.com covers
// api.example.com and *.api.example.com, not example.com).
func coversHost(have, want string) bool {
	if have == want {
		return true
	}
	suffix, ok := strings.CutPrefix(have, "*.")
	return ok && strings.HasSuffix(strings.TrimPrefix(want, "*."), "."+suffix)
}

func (r *review) privileges() []string {
	if plan.PrivilegeMode(r.l.cfg.Privileges) == plan.PrivilegesImage {
		return []string{"runs the image with its own privileges (capabilities, setuid)"}
	}
	return nil
}

// limit judges a resource limit: none (0), or above the user's own (or
// the default when the user set none), widens.
func (r *review) limit(key string, p, lower limitSetting, def int64) []string {
	have := def
	if lower.set {
		have = lower.v
	}
	switch {
	case p.v == 0:
		return []string{fmt.Sprintf("removes the %s limit", key)}
	case have != 0 && p.v > have:
		return []string{fmt.Sprintf("raises the %s limit above your own", key)}
	}
	return nil
}

func (r *review) gpus() []string {
	if !r.l.cfg.GPUs.auto && !r.l.cfg.GPUs.Any() {
		return nil
	}
	return []string{"passes GPUs to the agent"}
}

func (r *review) pull() []string {
	if plan.PullPolicy(r.l.cfg.Pull) == plan.PullNever {
		return nil
	}
	return []string{fmt.Sprintf("fetches images from a registry (pull = %q)", string(r.l.cfg.Pull))}
}
