package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

func FuzzEnvSpec(f *testing.F) {
	for _, s := range []string{"A=1", "A", "=x", "1A=2", "A==b", "A=", "PATH=/a:/b", "A=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var e envSpec
		if err := e.UnmarshalText([]byte(s)); err != nil {
			if !strings.Contains(err.Error(), "NAME") && !strings.Contains(err.Error(), "NUL") {
				t.Fatalf("error %q does not say what is wanted", err)
			}
			return
		}
		name, value, hasValue := e.Name, e.Value, e.HasValue
		if !plan.ValidEnvName(name) {
			t.Fatalf("accepted invalid name %q from %q", name, s)
		}
		if hasValue && name+"="+value != s {
			t.Fatalf("%q split into %q and %q", s, name, value)
		}
		if !hasValue && name != s {
			t.Fatalf("%q read as name %q", s, name)
		}
	})
}

func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		builtinTOML,
		"backend = \"docker\"\nmounts = [\"/a:/b:ro\"]\n",
		"[agents.x]\ncommand = [\"x\"]\ncredentials = [{ path = \".x\", dir = true }]\n",
		"yes = 1\n", "[agents.\"A B\"]\n", "mask = [\n", "uid = -1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := decodeConfig("fuzz.toml", s)
		if err != nil {
			if !errors.Is(err, errUsage) || !strings.HasPrefix(err.Error(), "fuzz.toml: ") {
				t.Fatalf("error %q does not name the file or is not a usage error", err)
			}
			return
		}
		for name, a := range l.cfg.AgentTables {
			if !validAgentName(name) {
				t.Fatalf("accepted agent name %q", name)
			}
			for _, p := range a.Credentials {
				if p.Validate() != nil {
					t.Fatalf("accepted credential path %q", p.Rel)
				}
			}
		}
	})
}
