package main

import (
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// fromFlag reports whether the scalar setting key came from a flag.
func (o *options) fromFlag(key string) bool { return o.from.of(key, 0).flag != "" }

// privilegesOf is what the agent may hold or gain: --privileges, else the
// agent's own privileges key, else the config's, else least; the
// capabilities of --cap-add, cap_add and the agent's cap_add together.
func privilegesOf(o *options, a agent) plan.Privileges {
	mode := plan.PrivilegeMode(o.Privileges)
	if a.Privileges != nil && !o.fromFlag("privileges") {
		mode = plan.PrivilegeMode(*a.Privileges)
	}
	var names []string
	for _, c := range append(append([]capability(nil), o.CapAdd...), a.CapAdd...) {
		names = append(names, string(c))
	}
	// Each name was parsed already (capability.UnmarshalText).
	caps, _ := plan.CanonicalCapabilities(names)
	return plan.PrivilegesOf(mode, caps)
}

// limitsOf is the container's limits: a flag, else the agent's own key,
// else the config's; pids defaults to plan.DefaultPIDs, the others to none.
func limitsOf(o *options, a agent) plan.Limits {
	pick := func(key string, top limitSetting, own *limitSetting) limitSetting {
		if own != nil && !o.fromFlag(key) {
			return *own
		}
		return top
	}
	var mem, cpus, pids *limitSetting
	if a.Memory != nil {
		mem = &a.Memory.limitSetting
	}
	if a.CPUs != nil {
		cpus = &a.CPUs.limitSetting
	}
	if a.PIDs != nil {
		pids = &a.PIDs.limitSetting
	}
	l := plan.Limits{
		Memory:    pick("memory", o.Memory.limitSetting, mem).v,
		MilliCPUs: pick("cpus", o.CPUs.limitSetting, cpus).v,
	}
	if p := pick("pids", o.PIDs.limitSetting, pids); p.set {
		l.PIDs = p.v
	} else {
		l.PIDs, l.PIDsDefault = plan.DefaultPIDs, true
	}
	return l
}

// secretStores are where credentials live, relative to a home directory
// (or any directory): a workspace that holds one of them would hand it to
// the agent.
var secretStores = []string{
	".ssh", ".aws", ".gnupg", ".kube", ".docker/config.json", ".netrc",
	".git-credentials", ".config/gcloud", ".azure", ".password-store",
	".pgpass", ".vault-token", ".config/gh/hosts.yml", ".local/share/keyrings",
}

// exposureOf checks that the workspace does not hand the agent more than a
// project: it must not be or contain the home directory, nor hold a secret
// store that no --mask hides. With allow_secrets it returns, sorted, what
// becomes visible (Plan.Exposes) and a warning names it; without, the launch
// is refused.
func exposureOf(o *options, h *Host, ws workspace, ms []plan.Mount, n *notes) ([]string, error) {
	home := filepath.Clean(h.Home)
	var exposed, why []string
	homeInside := home != "" && mounts.Within(home, ws.host)
	switch {
	case homeInside && home == ws.host:
		why = append(why, "is your home directory")
	case homeInside:
		why = append(why, "contains your home directory "+home)
	}
	if homeInside {
		exposed = append(exposed, home)
	}
	dirs := []string{ws.host}
	if homeInside && home != ws.host {
		dirs = append(dirs, home)
	}
	seen := map[string]bool{}
	var stores []string
	for _, dir := range dirs {
		for _, s := range secretStores {
			p := filepath.Join(dir, s)
			if seen[p] {
				continue
			}
			seen[p] = true
			if _, err := h.Stat(p); err != nil || masked(p, ws, ms) {
				continue
			}
			exposed = append(exposed, p)
			stores = append(stores, p)
		}
	}
	if len(stores) > 0 {
		why = append(why, "holds "+joinWords(quoteAll(stores)))
	}
	if len(why) == 0 {
		return nil, nil
	}
	sort.Strings(exposed)
	if !o.AllowSecrets {
		hint := "run launch from a project directory instead"
		if !homeInside {
			hint = "hide each with --mask (--mask " + relTo(stores[0], ws.host) + ")"
		}
		return nil, usagef("workspace %q %s: the agent would see it all, credentials included; %s, or pass --allow-secrets (allow_secrets = true) to mount it anyway", ws.host, strings.Join(why, " and "), hint)
	}
	n.warn("workspace %q %s; --allow-secrets: the agent sees %s", ws.host, strings.Join(why, " and "), joinWords(quoteAll(exposed)))
	return exposed, nil
}

// masked reports whether a --mask hides host path p of the workspace.
func masked(p string, ws workspace, ms []plan.Mount) bool {
	rel, err := filepath.Rel(ws.host, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	target := path.Join(ws.target, filepath.ToSlash(rel))
	for _, m := range ms {
		if m.Kind == plan.MountMask && (m.Target == target || strings.HasPrefix(target, m.Target+"/")) {
			return true
		}
	}
	return false
}

func relTo(p, dir string) string {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return p
	}
	return rel
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
