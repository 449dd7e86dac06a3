// Package sshconf picks, from a user's OpenSSH client configuration and
// known_hosts, what a few named hosts need and nothing else, so that an agent
// can be given SSH access to those hosts only. It parses text and writes
// text: no I/O. It imports only the standard library.
package sshconf

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"path"
	"strings"
)

// block is one Host section of a config: its patterns and options in order.
type block struct {
	patterns []string
	match    bool // a Match section: not understood here, skipped
	opts     [][2]string
}

// parse splits config text into sections; options before the first Host
// apply to every host (a block with pattern "*").
func parse(text string) []block {
	blocks := []block{{patterns: []string{"*"}}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val := splitOption(line)
		switch strings.ToLower(key) {
		case "host":
			blocks = append(blocks, block{patterns: strings.Fields(val)})
		case "match":
			blocks = append(blocks, block{match: true})
		default:
			b := &blocks[len(blocks)-1]
			b.opts = append(b.opts, [2]string{key, strings.Trim(val, `"`)})
		}
	}
	return blocks
}

// splitOption splits "Key value", "Key=value" or "Key = value".
func splitOption(line string) (string, string) {
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return line, ""
	}
	key, rest := line[:i], strings.TrimSpace(line[i:])
	rest = strings.TrimSpace(strings.TrimPrefix(rest, "="))
	return key, rest
}

// matches reports whether host matches the section's patterns as ssh
// matches them: some pattern matches and no negated one does.
func (b block) matches(host string) bool {
	return matchPatterns(b.patterns, host)
}

// matchPatterns reports whether name matches a list of ssh patterns: some
// pattern matches and no negated ("!") one does.
func matchPatterns(patterns []string, name string) bool {
	ok := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if m, _ := path.Match(p, name); m || strings.EqualFold(p, name) {
			if neg {
				return false
			}
			ok = true
		}
	}
	return ok
}

// kept are the options copied into the subset (lower-case keys): where and
// as whom to connect, which key, and how. Others are left out with a note:
// a ProxyCommand or LocalCommand runs a command, a ProxyJump names a host
// that is not in the list, forwarding reaches further.
var kept = map[string]string{
	"hostname": "HostName", "user": "User", "port": "Port",
	"identityfile": "IdentityFile", "identitiesonly": "IdentitiesOnly",
	"stricthostkeychecking": "StrictHostKeyChecking", "connecttimeout": "ConnectTimeout",
	"serveraliveinterval": "ServerAliveInterval", "serveralivecountmax": "ServerAliveCountMax",
	"compression": "Compression", "preferredauthentications": "PreferredAuthentications",
	"pubkeyacceptedalgorithms": "PubkeyAcceptedAlgorithms", "pubkeyacceptedkeytypes": "PubkeyAcceptedKeyTypes",
	"hostkeyalgorithms": "HostKeyAlgorithms", "kexalgorithms": "KexAlgorithms",
	"ciphers": "Ciphers", "macs": "MACs", "hostkeyalias": "HostKeyAlias",
	"addressfamily": "AddressFamily", "batchmode": "BatchMode",
}

// Host is what one named host resolves to.
type Host struct {
	// Alias is the name asked for (what the agent types: ssh ALIAS).
	Alias string
	// HostName, User and Port are the resolved values; Port 0 means 22.
	HostName, User string
	Port           int
	// Identities are the identity files, as the config names them (~ and
	// %d expanded by the caller's Expand).
	Identities []string
	// Options are the kept options other than IdentityFile, in order.
	Options [][2]string
	// Configured is set when a section other than "Host *" names it.
	Configured bool
}

// Resolve finds what ssh would use for alias in config text: the first
// value of each kept option over every matching section (IdentityFile
// accumulates), as ssh_config(5) says. notes say what was left out.
func Resolve(text, alias string) (Host, []string) {
	h := Host{Alias: alias}
	var notes []string
	seen := map[string]bool{}
	for _, b := range parse(text) {
		if b.match {
			if !seen["match"] {
				notes = append(notes, fmt.Sprintf("%s: a Match section in your ssh config is not applied", alias))
				seen["match"] = true
			}
			continue
		}
		if !b.matches(alias) {
			continue
		}
		for _, p := range b.patterns {
			if p != "*" && !strings.HasPrefix(p, "!") {
				h.Configured = true
			}
		}
		for _, o := range b.opts {
			k := strings.ToLower(o[0])
			name, ok := kept[k]
			switch {
			case !ok:
				if !seen[k] {
					notes = append(notes, fmt.Sprintf("%s: %s left out of the agent's ssh config", alias, o[0]))
					seen[k] = true
				}
				continue
			case k == "identityfile":
				h.Identities = append(h.Identities, o[1])
				continue
			case seen[k]:
				continue
			}
			seen[k] = true
			switch k {
			case "hostname":
				h.HostName = strings.ReplaceAll(o[1], "%h", alias)
			case "user":
				h.User = o[1]
			case "port":
				fmt.Sscanf(o[1], "%d", &h.Port)
			}
			h.Options = append(h.Options, [2]string{name, o[1]})
		}
	}
	if h.HostName == "" {
		h.HostName = alias
	}
	return h, notes
}

// Config writes the subset: one Host section per host, with its kept
// options and ids (the identity files' paths in the container, in the
// order of h.Identities; empty when an agent gives the keys), then a
// closing section that makes ssh trust only the given known_hosts and no
// other file.
func Config(hosts []Host, ids [][]string, knownHosts string) string {
	var b strings.Builder
	b.WriteString("# Written by launch: only the hosts this agent was given.\n")
	for i, h := range hosts {
		fmt.Fprintf(&b, "\nHost %s\n", h.Alias)
		for _, o := range h.Options {
			fmt.Fprintf(&b, "  %s %s\n", o[0], o[1])
		}
		for _, id := range ids[i] {
			fmt.Fprintf(&b, "  IdentityFile %s\n", quote(id))
		}
		if len(ids[i]) > 0 {
			b.WriteString("  IdentitiesOnly yes\n")
		}
	}
	fmt.Fprintf(&b, "\nHost *\n  StrictHostKeyChecking yes\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n", quote(knownHosts))
	return b.String()
}

func quote(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return `"` + s + `"`
	}
	return s
}

// KnownName is how known_hosts names a host on a port: "host", or
// "[host]:port" off port 22.
func KnownName(host string, port int) string {
	if port == 0 || port == 22 {
		return host
	}
	return fmt.Sprintf("[%s]:%d", host, port)
}

// KnownHosts keeps the lines of known_hosts text that name one of names
// (plain, as a pattern, or hashed), markers (@cert-authority, @revoked)
// included, and drops every other line.
func KnownHosts(text string, names []string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		hosts := f[0]
		if strings.HasPrefix(hosts, "@") {
			hosts = f[1]
		}
		for _, n := range names {
			if knownMatch(hosts, n) {
				b.WriteString(strings.TrimSpace(line) + "\n")
				break
			}
		}
	}
	return b.String()
}

// knownMatch reports whether a known_hosts host field names name.
func knownMatch(field, name string) bool {
	if strings.HasPrefix(field, "|1|") {
		parts := strings.Split(field, "|")
		if len(parts) != 4 {
			return false
		}
		salt, err1 := base64.StdEncoding.DecodeString(parts[2])
		want, err2 := base64.StdEncoding.DecodeString(parts[3])
		if err1 != nil || err2 != nil {
			return false
		}
		m := hmac.New(sha1.New, salt)
		m.Write([]byte(name))
		return hmac.Equal(m.Sum(nil), want)
	}
	return matchPatterns(strings.Split(field, ","), name)
}
