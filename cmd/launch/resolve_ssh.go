package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/launchcli/launch/plan"
	"github.com/launchcli/launch/sshconf"
)

// SSHAgentTarget is where a forwarded SSH agent's socket is in the container.
const SSHAgentTarget = "/etc/launch/ssh-agent.sock"

// sshOf gives the agent SSH access to the hosts asked for (ssh_hosts,
// --ssh-host) and to no other: a config holding only their sections (from
// ~/.ssh/config, kept options only) and known_hosts holding only their
// lines, written privately by a real run and mounted read-only at
// ~/.ssh/config and ~/.ssh/known_hosts; their identity files mounted
// read-only one by one, or the SSH agent's socket with ssh_agent. Nothing
// else of ~/.ssh is mounted.
func sshOf(o *options, a agent, h *Host, user plan.User, add func(plan.Mount, fmt.Stringer) error, m *mountSet, n *notes) error {
	names := append(append([]string(nil), a.SSHHosts...), o.SSHHostFlags...)
	useAgent := a.SSHAgent || o.SSHAgentFlag
	if len(names) == 0 {
		if useAgent {
			return usagef("ssh_agent (--ssh-agent): no SSH host is given; name them with ssh_hosts under [agents.%s] or --ssh-host", a.Name)
		}
		return nil
	}
	cfgText := readOptional(h, filepath.Join(h.Home, ".ssh", "config"))
	khText := readOptional(h, filepath.Join(h.Home, ".ssh", "known_hosts"))
	info := &plan.SSH{Agent: useAgent}
	var hosts []sshconf.Host
	var ids [][]string
	var known []string
	seen := map[string]bool{}
	home := path.Join(user.Home, ".ssh")
	for _, alias := range names {
		if seen[alias] {
			continue
		}
		if alias == "" || strings.ContainsAny(alias, " \t*?!,") || strings.HasPrefix(alias, "-") {
			return usagef("ssh host %q: want a host name or an alias of your ~/.ssh/config, without blanks or patterns", alias)
		}
		seen[alias] = true
		sh, kn, mine, err := sshHostOf(alias, cfgText, khText, useAgent, h, home, add, n)
		if err != nil {
			return err
		}
		known = append(known, kn)
		hosts, ids = append(hosts, sh), append(ids, mine)
		info.Hosts = append(info.Hosts, alias)
		warnNotAllowed(o, alias, sh, n)
	}
	config := sshconf.Config(hosts, ids, "~/.ssh/known_hosts")
	knownHosts := sshconf.KnownHosts(khText, known)
	sum := sha256.Sum256([]byte(config + "\x00" + knownHosts))
	dir := filepath.Join(stateDir(h), "ssh", hex.EncodeToString(sum[:12]))
	m.prepare = append(m.prepare, plan.HostPath{Path: dir, Dir: true},
		plan.HostPath{Path: filepath.Join(dir, "config"), Content: config},
		plan.HostPath{Path: filepath.Join(dir, "known_hosts"), Content: knownHosts})
	for _, f := range []string{"config", "known_hosts"} {
		if err := add(plan.Mount{Kind: plan.MountBind, Source: filepath.Join(dir, f), Target: path.Join(home, f), ReadOnly: true, File: true, Origin: plan.OriginSSH}, nil); err != nil {
			return err
		}
	}
	info.Config = filepath.Join(dir, "config")
	if useAgent {
		if err := sshAgentOf(h, add, m); err != nil {
			return err
		}
	}
	m.ctx.ssh = info
	n.info("ssh: the agent may reach %s; its ~/.ssh holds only their config, known_hosts and keys", strings.Join(info.Hosts, ", "))
	return nil
}

// readOptional reads a file, "" when it cannot.
func readOptional(h *Host, p string) string {
	b, err := h.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(b)
}

// identityPath expands an IdentityFile as ssh does for ~ and %d (the
// home); relative paths are in the home. Other tokens are not expanded.
func identityPath(id, home string) (string, bool) {
	id = strings.ReplaceAll(id, "%d", home)
	if strings.Contains(strings.ReplaceAll(id, "%%", ""), "%") {
		return "", false
	}
	id = strings.ReplaceAll(id, "%%", "%")
	switch {
	case id == "~" || strings.HasPrefix(id, "~/"):
		return filepath.Join(home, id[1:]), true
	case filepath.IsAbs(id):
		return filepath.Clean(id), true
	}
	return filepath.Join(home, id), true
}

// configuredAliases lists the host aliases of an ssh config that name one
// host (no pattern), sorted.
func configuredAliases(text string) []string {
	set := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(strings.TrimSpace(line))
		if len(f) < 2 || !strings.EqualFold(f[0], "host") {
			continue
		}
		for _, p := range f[1:] {
			if !strings.ContainsAny(p, "*?!") {
				set[p] = true
			}
		}
	}
	if len(set) == 0 {
		return []string{"(none)"}
	}
	return sortedKeys(set)
}

// warnNotAllowed warns when a network allowlist leaves an SSH host out:
// ssh goes through the network policy like everything else.
func warnNotAllowed(o *options, alias string, sh sshconf.Host, n *notes) {
	nw := o.Network.value()
	if nw.Mode != plan.NetworkAllow {
		return
	}
	port := sh.Port
	if port == 0 {
		port = 22
	}
	for _, a := range nw.Allow {
		if strings.EqualFold(a.Host, sh.HostName) && (a.Port == 0 || a.Port == port) {
			return
		}
	}
	n.warn("ssh host %q: %s:%d is not in the network allowlist, so the agent cannot reach it; add allow=%s:%d to --network", alias, sh.HostName, port, sh.HostName, port)
}

// sshAgentOf forwards the caller's SSH agent: its socket at SSHAgentTarget,
// named by SSH_AUTH_SOCK.
func sshAgentOf(h *Host, add func(plan.Mount, fmt.Stringer) error, m *mountSet) error {
	sock := h.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return usagef("ssh_agent (--ssh-agent): SSH_AUTH_SOCK is not set, so there is no agent to forward; start one (eval $(ssh-agent); ssh-add) or mount the hosts' keys instead (drop ssh_agent)")
	}
	if fi, err := h.Stat(sock); err != nil || fi.Mode()&fs.ModeSocket == 0 {
		return usagef("ssh_agent (--ssh-agent): SSH_AUTH_SOCK=%q is not a socket; is the agent running?", sock)
	}
	if err := add(plan.Mount{Kind: plan.MountBind, Source: sock, Target: SSHAgentTarget, File: true, Origin: plan.OriginSSH}, nil); err != nil {
		return err
	}
	m.ctx.env = append(m.ctx.env, plan.EnvVar{Name: "SSH_AUTH_SOCK", Value: SSHAgentTarget})
	return nil
}

// sshHostOf resolves one SSH host: its section of the user's config, its
// known_hosts name, and its identity files mounted read-only (none with a
// forwarded agent).
func sshHostOf(alias, cfgText, khText string, useAgent bool, h *Host, home string, add func(plan.Mount, fmt.Stringer) error, n *notes) (sshconf.Host, string, []string, error) {
	sh, notes := sshconf.Resolve(cfgText, alias)
	for _, x := range notes {
		n.info("ssh: %s", x)
	}
	kn := sshconf.KnownName(sh.HostName, sh.Port)
	lines := sshconf.KnownHosts(khText, []string{kn})
	if !sh.Configured && lines == "" {
		return sh, "", nil, usagef("ssh host %q: neither your ~/.ssh/config nor ~/.ssh/known_hosts knows it; hosts in your config: %s (connect once with ssh %s on the host to record its key)", alias, strings.Join(configuredAliases(cfgText), ", "), alias)
	}
	if lines == "" {
		n.warn("ssh host %q: ~/.ssh/known_hosts has no key of %s, so ssh in the container refuses it; connect once with ssh %s on the host", alias, kn, alias)
	}
	var mine []string
	for i, id := range sh.Identities {
		if useAgent {
			break
		}
		src, ok := identityPath(id, h.Home)
		if !ok {
			n.warn("ssh host %q: IdentityFile %q uses tokens launch does not expand; not mounted", alias, id)
			continue
		}
		if _, err := h.Stat(src); err != nil {
			n.info("ssh host %q: IdentityFile %q does not exist; not mounted", alias, id)
			continue
		}
		if real, err := h.EvalSymlinks(src); err == nil {
			src = real
		}
		target := path.Join(home, fmt.Sprintf("launch-%s-%d", alias, i))
		if err := add(plan.Mount{Kind: plan.MountBind, Source: src, Target: target, ReadOnly: true, File: true, Origin: plan.OriginSSH}, nil); err != nil {
			return sh, "", nil, err
		}
		mine = append(mine, "~/.ssh/"+path.Base(target))
	}
	return sh, kn, mine, nil
}
