package creds

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CodexAuth is the Codex login file, relative to home.
const CodexAuth = ".codex/auth.json"

// PiAuth is Pi's credential file, relative to home.
const PiAuth = ".pi/agent/auth.json"

// PiProvider is the entry of Pi's auth.json that holds the ChatGPT (Codex)
// login.
const PiProvider = "openai-codex"

// PiFromCodex returns Pi's auth.json (pi: its current content, nil when the
// file does not exist) with the openai-codex entry set from Codex's
// auth.json: the access and refresh tokens, the account id and the expiry
// (the access token's exp, in milliseconds). Every other entry, and every
// other field of the openai-codex entry, is kept, in its order. Content
// that is not a JSON object is an error: launch does not overwrite what it
// cannot read.
func PiFromCodex(codex, pi []byte) ([]byte, error) {
	var a codexAuth
	if err := json.Unmarshal(codex, &a); err != nil {
		return nil, fmt.Errorf("%s: not JSON: %w", CodexAuth, err)
	}
	t := a.Tokens
	if t.AccessToken == "" || t.RefreshToken == "" {
		return nil, fmt.Errorf("%s has no ChatGPT access and refresh tokens (an API key login?); log in with codex login and choose ChatGPT", CodexAuth)
	}
	exp, err := JWTExpiry(t.AccessToken)
	if err != nil {
		return nil, fmt.Errorf("%s access token: %w", CodexAuth, err)
	}
	account := t.AccountID
	if account == "" {
		account = jwtAccountID(t.AccessToken)
	}
	if account == "" {
		return nil, fmt.Errorf("%s has no account id (tokens.account_id); log in again with codex login", CodexAuth)
	}

	entries, err := orderedObject(pi)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; fix or move the file, then run launch refresh again", PiAuth, err)
	}
	var entry []member
	for _, e := range entries {
		if e.key == PiProvider {
			if entry, err = orderedObject(e.value); err != nil {
				return nil, fmt.Errorf("%s: entry %q: %w", PiAuth, PiProvider, err)
			}
		}
	}
	for _, f := range []struct {
		key string
		v   any
	}{{"type", "oauth"}, {"access", t.AccessToken}, {"refresh", t.RefreshToken}, {"expires", exp.UnixMilli()}, {"accountId", account}} {
		b, _ := json.Marshal(f.v)
		entry = setMember(entry, f.key, b)
	}
	entries = setMember(entries, PiProvider, encodeObject(entry, ""))
	return append(encodeObject(entries, ""), '\n'), nil
}

// jwtAccountID reads the ChatGPT account id claim of an OpenAI access token.
func jwtAccountID(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Auth struct {
			AccountID string `json:"chatgpt_account_id"`
		} `json:"https://api.openai.com/auth"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Auth.AccountID
}

// member is one key and raw value of a JSON object, in file order.
type member struct {
	key   string
	value json.RawMessage
}

// orderedObject decodes a JSON object keeping the order of its members;
// empty input is an empty object.
func orderedObject(b []byte) ([]member, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		out = append(out, member{k.(string), v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON: data after the object")
	}
	return out, nil
}

// setMember replaces key's value, or appends it.
func setMember(ms []member, key string, v json.RawMessage) []member {
	for i := range ms {
		if ms[i].key == key {
			ms[i].value = v
			return ms
		}
	}
	return append(ms, member{key, v})
}

// encodeObject writes the members as an object indented by two spaces,
// nested at indent.
func encodeObject(ms []member, indent string) []byte {
	if len(ms) == 0 {
		return []byte("{}")
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, m := range ms {
		k, _ := json.Marshal(m.key)
		var v bytes.Buffer
		if err := json.Indent(&v, m.value, indent+"  ", "  "); err != nil {
			v.Reset()
			v.Write(m.value)
		}
		fmt.Fprintf(&b, "%s  %s: %s", indent, k, v.Bytes())
		if i < len(ms)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString(indent + "}")
	return b.Bytes()
}
