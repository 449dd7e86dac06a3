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
