package sshconf

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestSubset: of the user's config, the agent's config holds the asked
// hosts with only the kept options, the identities as mounted, and the
// closing section; known_hosts keeps only their lines.
func TestSubset(t *testing.T) {
	cfg, _ := os.ReadFile("testdata/config")
	kh, _ := os.ReadFile("testdata/known_hosts")
	var hosts []Host
	var ids [][]string
	var names, notes []string
	for _, alias := range []string{"github.com", "work", "db.internal"} {
		h, n := Resolve(string(cfg), alias)
		hosts, notes = append(hosts, h), append(notes, n...)
		var mine []string
		for i := range h.Identities {
			mine = append(mine, "~/.ssh/launch-"+alias+"-"+string(rune('0'+i)))
		}
		ids = append(ids, mine)
		names = append(names, KnownName(h.HostName, h.Port))
	}
	got := Config(hosts, ids, "~/.ssh/known_hosts") + "\n# known_hosts\n" + KnownHosts(string(kh), names) + "\n# notes\n" + strings.Join(notes, "\n") + "\n"
	if *update {
		os.WriteFile("testdata/subset.golden", []byte(got), 0o644)
	}
	want, _ := os.ReadFile("testdata/subset.golden")
	if got != string(want) {
		t.Errorf("subset changed (-update to accept)\n got:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range []string{"ProxyCommand", "ForwardAgent", "LocalForward", "ControlMaster", "AddKeysToAgent", "id_secret", "gitlab.com", "bastion"} {
		if strings.Contains(strings.Split(got, "# notes")[0], bad) {
			t.Errorf("the subset holds %q", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	cfg, _ := os.ReadFile("testdata/config")
	tests := []struct {
		alias, hostName, user string
		port                  int
		ids                   []string
		configured            bool
	}{
		{"work", "git.work.example", "ana", 2222, []string{"~/.ssh/id_work", "~/.ssh/id_default"}, true},
		{"bastion.internal", "bastion.internal", "", 0, []string{"~/.ssh/id_default"}, true},
		{"a.internal", "a.internal", "admin", 0, []string{"~/.ssh/id_internal", "~/.ssh/id_default"}, true},
		{"elsewhere", "elsewhere", "", 0, []string{"~/.ssh/id_default"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.alias, func(t *testing.T) {
			h, _ := Resolve(string(cfg), tt.alias)
			if h.HostName != tt.hostName || h.User != tt.user || h.Port != tt.port || strings.Join(h.Identities, " ") != strings.Join(tt.ids, " ") || h.Configured != tt.configured {
				t.Errorf("got %+v", h)
			}
		})
	}
}

func TestKnownHostsHashed(t *testing.T) {
	salt := []byte("0123456789abcdefghij")
	m := hmac.New(sha1.New, salt)
	m.Write([]byte("[host.example]:2299"))
	line := "|1|" + base64.StdEncoding.EncodeToString(salt) + "|" + base64.StdEncoding.EncodeToString(m.Sum(nil)) + " ssh-ed25519 AAAA\n"
	text := line + "other.example ssh-ed25519 BBBB\n"
	if got := KnownHosts(text, []string{KnownName("host.example", 2299)}); got != line {
		t.Errorf("got %q, want the hashed line", got)
	}
	if got := KnownHosts(text, []string{"host.example"}); got != "" {
		t.Errorf("port 22 matched the line of port 2299: %q", got)
	}
}
