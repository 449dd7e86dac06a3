package plan

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseNetwork checks the allowlist parser: it never panics, refuses
// only with ErrInvalid, and what it accepts prints back to the same policy,
// with hosts lowercased and patterns only in the leading "*." form.
func FuzzParseNetwork(f *testing.F) {
	for _, s := range []string{"none", "open", "allow=github.com", "allow=*.github.com:443,api.openai.com", "allow=[::1]:22", "allow=a..b", "allow=*.*.x", "allow=x:0", "allow=,", "allow=A.B:65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNetwork(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseNetwork(%q): %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		again, err := ParseNetwork(n.String())
		if err != nil || !reflect.DeepEqual(again, n) {
			t.Fatalf("ParseNetwork(%q) = %v; printed %q parses to %v, %v", s, n, n.String(), again, err)
		}
		for _, h := range n.Allow {
			if h.Host != strings.ToLower(h.Host) || strings.Contains(strings.TrimPrefix(h.Host, "*."), "*") {
				t.Fatalf("ParseNetwork(%q): host %q", s, h.Host)
			}
			if h.Port < 0 || h.Port > 65535 {
				t.Fatalf("ParseNetwork(%q): port %d", s, h.Port)
			}
		}
	})
}

// TestEnforced: an allowlist renders as no network, the proxy's two mounts,
// the proxy variables (replacing the user's), and the forwarder in front of
// the agent; other policies are left alone.
func TestEnforced(t *testing.T) {
	n, _ := ParseNetwork("allow=github.com")
	n.Proxy = &Proxy{Dir: "/run/user/1000/launch-net-7", Binary: "/usr/bin/launch", Port: 3128, Log: "/l"}
	p := Plan{Argv: []string{"codex", "-x"}, Network: n, Env: []EnvVar{{Name: "HTTPS_PROXY", Value: "http://corp:8080"}, {Name: "TOOL", Value: "codex"}}}
	q, err := p.Enforced()
	if err != nil {
		t.Fatal(err)
	}
	if q.Network.Mode != NetworkNone || q.Network.Proxy != nil {
		t.Errorf("network %+v, want none", q.Network)
	}
	want := "/.launch/launch _forward --socket /.launch/net/proxy.sock --listen 127.0.0.1:3128 -- codex -x"
	if got := strings.Join(q.Argv, " "); got != want {
		t.Errorf("argv %q, want %q", got, want)
	}
	if len(q.Mounts) != 2 || q.Mounts[0].Source != n.Proxy.Dir || q.Mounts[0].Target != ProxyDir || q.Mounts[0].ReadOnly ||
		q.Mounts[1].Source != "/usr/bin/launch" || q.Mounts[1].Target != ProxyBinary || !q.Mounts[1].ReadOnly {
		t.Errorf("mounts %+v", q.Mounts)
	}
	env := map[string]string{}
	for i, e := range q.Env {
		env[e.Name] = e.Value
		if i > 0 && q.Env[i-1].Name >= e.Name {
			t.Errorf("env not sorted at %s", e.Name)
		}
	}
	if env["HTTPS_PROXY"] != "http://127.0.0.1:3128" || env["http_proxy"] != "http://127.0.0.1:3128" || env["TOOL"] != "codex" || !strings.Contains(env["NO_PROXY"], "127.0.0.1") {
		t.Errorf("env %v", env)
	}
	if len(p.Mounts) != 0 || p.Argv[0] != "codex" {
		t.Error("Enforced changed its receiver")
	}
	n.Proxy = nil
	p.Network = n
	if _, err := p.Enforced(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("an allowlist without a proxy: %v, want ErrUnsupported", err)
	}
}
