package mounts

import (
	"strings"

	"github.com/launchcli/launch/plan"
)

// ParseList splits a shell-style list of specs, as in
// LLM_DEVCONTAINER_MOUNTS="$HOME/data '/my dir:/d:ro'": words are separated
// by blanks; single quotes, double quotes and backslashes quote as in sh.
// Variables are not expanded (the shell that set the variable did that).
func ParseList(s string) ([]Spec, error) {
	words, err := Words(s)
	if err != nil {
		return nil, err
	}
	specs := make([]Spec, 0, len(words))
	for _, w := range words {
		sp, err := ParseSpec(w)
		if err != nil {
			return nil, err
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// Words splits a shell-style list into words, as ParseList does.
func Words(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune // 0, '\'' or '"'
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune(`$"\`+"`", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\':
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
			in = true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, plan.Errorf(ErrSpec, "mount list %q: unterminated %c quote", s, quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
