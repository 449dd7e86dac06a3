package creds

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/launchcli/launch/plan"
)

// TokenFile is a credential file whose expiry launch knows how to read.
type TokenFile struct {
	// Rel is the file's path relative to the home directory.
	Rel string
	// What names the credential for a person ("Codex ChatGPT login").
	What string
	// Fix is the command that renews it.
	Fix string
	// expiry reads the file's content: when it expires (zero: never or
	// unknown) and a note ("API key, no expiry").
	expiry func([]byte, time.Time) (time.Time, string, error)
}

// TokenFiles are the credential files whose expiry launch reads, in the
// order they are reported.
var TokenFiles = []TokenFile{
	{Rel: ".codex/auth.json", What: "Codex login (ChatGPT)", Fix: "launch refresh --kind codex", expiry: codexExpiry},
	{Rel: ".claude/.credentials.json", What: "Claude Code login", Fix: "claude /login (on this machine), then launch refresh --kind claude --remote HOST to copy it", expiry: claudeExpiry},
	{Rel: ".pi/agent/auth.json", What: "Pi logins", Fix: "launch refresh --kind pi", expiry: piExpiry},
	{Rel: ".aws/credentials.json", What: "AWS credentials for Bedrock (exported)", Fix: "launch refresh --kind bedrock", expiry: awsExpiry},
}

// State is the state of one credential file.
type State string

// The states of a credential file.
const (
	StateMissing  State = "missing"
	StateValid    State = "valid"
	StateExpiring State = "expiring" // within the warning window
	StateExpired  State = "expired"
	StateNoExpiry State = "no expiry"
	StateInvalid  State = "unreadable"
)

// Status is what launch knows about one credential file.
type Status struct {
	// Agents are the agents that use the file.
	Agents []string `json:"agents,omitempty"`
	// File is the absolute host path.
	File string `json:"file"`
	// What names the credential.
	What string `json:"what"`
	// State is missing, valid, expiring, expired, no expiry or unreadable.
	State State `json:"state"`
	// Expires is when the token expires; zero when unknown or never.
	Expires time.Time `json:"expires,omitzero"`
	// Left is the time left, rounded to the second; negative when expired.
	Left time.Duration `json:"-"`
	// Note explains the state ("API key, no expiry", the parse error).
	Note string `json:"note,omitempty"`
	// Fix is the command that renews it, for a state that needs one.
	Fix string `json:"fix,omitempty"`
}

// WarnWithin is how close to its expiry a credential counts as expiring.
const WarnWithin = time.Hour

// TokenFilesUnder returns the token files that lie at or under one of the
// home-relative roots (an agent's credential paths: ".codex", ".aws").
func TokenFilesUnder(roots []string) []TokenFile {
	var out []TokenFile
	for _, tf := range TokenFiles {
		for _, r := range roots {
			r = path.Clean(r)
			if tf.Rel == r || strings.HasPrefix(tf.Rel, r+"/") {
				out = append(out, tf)
				break
			}
		}
	}
	return out
}

// Check reads the token file tf under home and reports its state at now.
func Check(tf TokenFile, home string, now time.Time, readFile func(string) ([]byte, error)) Status {
	return check(tf, filepath.Join(home, filepath.FromSlash(tf.Rel)), now, readFile)
}

func check(tf TokenFile, file string, now time.Time, readFile func(string) ([]byte, error)) Status {
	s := Status{File: file, What: tf.What}
	b, err := readFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.State, s.Fix = StateMissing, tf.Fix
		return s
	case err != nil:
		s.State, s.Note, s.Fix = StateInvalid, err.Error(), tf.Fix
		return s
	}
	exp, note, err := tf.expiry(b, now)
	if err != nil {
		s.State, s.Note, s.Fix = StateInvalid, err.Error(), tf.Fix
		return s
	}
	s.Note = note
	if exp.IsZero() {
		s.State = StateNoExpiry
		return s
	}
	s.Expires = exp.UTC()
	s.Left = exp.Sub(now).Round(time.Second)
	switch {
	case s.Left <= 0:
		s.State, s.Fix = StateExpired, tf.Fix
	case s.Left <= WarnWithin:
		s.State, s.Fix = StateExpiring, tf.Fix
	default:
		s.State = StateValid
	}
	return s
}

// MarshalJSON writes Left as left_seconds, in whole seconds.
func (s Status) MarshalJSON() ([]byte, error) {
	type plain Status
	out := struct {
		plain
		Left *int64 `json:"left_seconds,omitempty"`
	}{plain: plain(s)}
	if !s.Expires.IsZero() {
		sec := int64(s.Left / time.Second)
		out.Left = &sec
	}
	return json.Marshal(out)
}

// PlanStatus reports the token files that the plan mounts into the
// container: those under its credential mounts, read from the host.
func PlanStatus(p plan.Plan, now time.Time, readFile func(string) ([]byte, error)) []Status {
	var out []Status
	for _, m := range p.Mounts {
		if m.Origin != plan.OriginCredential || m.Kind != plan.MountBind {
			continue
		}
		rel, ok := strings.CutPrefix(m.Target, strings.TrimSuffix(p.User.Home, "/")+"/")
		if !ok {
			continue
		}
		for _, tf := range TokenFilesUnder([]string{rel}) {
			rest := strings.TrimPrefix(strings.TrimPrefix(tf.Rel, rel), "/")
			s := check(tf, filepath.Join(m.Source, filepath.FromSlash(rest)), now, readFile)
			s.Agents = []string{p.Agent}
			out = append(out, s)
		}
	}
	return out
}

// Expiring returns the statuses that need the user's attention before a
// launch: expired, expiring within WarnWithin, or unreadable. A missing
// file is not reported: the agent may log in inside, or use an API key.
func Expiring(st []Status) []Status {
	var out []Status
	for _, s := range st {
		switch s.State {
		case StateExpired, StateExpiring, StateInvalid:
			out = append(out, s)
		}
	}
	return out
}

// Describe is one line about s for a person: "expires in 9m (2026-12-01
// 15:04 UTC)".
func (s Status) Describe() string {
	switch s.State {
	case StateExpired:
		return fmt.Sprintf("expired %s ago (%s)", HumanDuration(-s.Left), s.Expires.Format("2006-01-02 15:04 MST"))
	case StateExpiring, StateValid:
		return fmt.Sprintf("expires in %s (%s)", HumanDuration(s.Left), s.Expires.Format("2006-01-02 15:04 MST"))
	case StateNoExpiry:
		if s.Note != "" {
			return s.Note
		}
		return "no expiry recorded"
	case StateInvalid:
		return "unreadable: " + s.Note
	}
	return string(s.State)
}

// HumanDuration is d rounded for a person: 45s, 9m, 3h12m, 2d4h.
func HumanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// codexExpiry reads ~/.codex/auth.json: the exp claim of the ChatGPT access
// token (the id token's when there is no access token); an API key alone
// does not expire.
func codexExpiry(b []byte, _ time.Time) (time.Time, string, error) {
	var a codexAuth
	if err := json.Unmarshal(b, &a); err != nil {
		return time.Time{}, "", fmt.Errorf("not JSON: %w", err)
	}
	tok := a.Tokens.AccessToken
	if tok == "" {
		tok = a.Tokens.IDToken
	}
	if tok == "" {
		if a.APIKey != nil && *a.APIKey != "" {
			return time.Time{}, "API key, no expiry", nil
		}
		return time.Time{}, "", errors.New("no ChatGPT tokens and no API key; log in with codex login")
	}
	exp, err := JWTExpiry(tok)
	return exp, "", err
}

// codexAuth is the part of ~/.codex/auth.json that launch reads.
type codexAuth struct {
	APIKey *string `json:"OPENAI_API_KEY"`
	Tokens struct {
		IDToken      string `json:"id_token"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		AccountID    string `json:"account_id"`
	} `json:"tokens"`
}

// JWTExpiry returns the exp claim of a JWT (not verified: launch only
// reports it).
func JWTExpiry(tok string) (time.Time, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("token is not a JWT (want three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, fmt.Errorf("token payload: %w", err)
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, fmt.Errorf("token payload: %w", err)
	}
	if claims.Exp == nil {
		return time.Time{}, errors.New("token has no exp claim")
	}
	f, err := claims.Exp.Float64()
	if err != nil {
		return time.Time{}, fmt.Errorf("token exp %q: %w", claims.Exp.String(), err)
	}
	return time.Unix(int64(f), 0).UTC(), nil
}

// claudeExpiry reads ~/.claude/.credentials.json: claudeAiOauth.expiresAt,
// in milliseconds since the epoch.
func claudeExpiry(b []byte, _ time.Time) (time.Time, string, error) {
	var c struct {
		OAuth *struct {
			ExpiresAt int64 `json:"expiresAt"`
		} `json:"claudeAiOauth"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return time.Time{}, "", fmt.Errorf("not JSON: %w", err)
	}
	if c.OAuth == nil || c.OAuth.ExpiresAt == 0 {
		return time.Time{}, "no claudeAiOauth.expiresAt", nil
	}
	return time.UnixMilli(c.OAuth.ExpiresAt).UTC(), "", nil
}

// piExpiry reads ~/.pi/agent/auth.json: the earliest expires (milliseconds)
// of its OAuth entries; the note names them.
func piExpiry(b []byte, _ time.Time) (time.Time, string, error) {
	var entries map[string]struct {
		Type    string `json:"type"`
		Expires int64  `json:"expires"`
	}
	if err := json.Unmarshal(b, &entries); err != nil {
		return time.Time{}, "", fmt.Errorf("not a JSON object: %w", err)
	}
	var first time.Time
	var names []string
	for name, e := range entries {
		if e.Expires == 0 {
			continue
		}
		names = append(names, name)
		if t := time.UnixMilli(e.Expires); first.IsZero() || t.Before(first) {
			first = t
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return time.Time{}, "no OAuth entry with an expiry", nil
	}
	return first.UTC(), strings.Join(names, ", "), nil
}

// awsExpiry reads ~/.aws/credentials.json (the credential_process format):
// Expiration.
func awsExpiry(b []byte, _ time.Time) (time.Time, string, error) {
	c, err := ParseProcessCredentials(b)
	if err != nil {
		return time.Time{}, "", err
	}
	if c.Expiration == "" {
		return time.Time{}, "no Expiration (long-term keys)", nil
	}
	t, err := c.Expires()
	return t, "", err
}
