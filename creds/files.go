package creds

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// Kind is what launch refresh refreshes and copies.
type Kind string

// The kinds of launch refresh --kind.
const (
	KindCodex   Kind = "codex"   // Codex's ChatGPT login
	KindClaude  Kind = "claude"  // Claude Code: AWS (Bedrock) credentials and Claude's own files
	KindPi      Kind = "pi"      // Pi: the Codex login converted into Pi's auth.json
	KindBedrock Kind = "bedrock" // AWS credentials only
	KindAll     Kind = "all"
)

// Kinds lists the kinds in --help order.
var Kinds = []Kind{KindClaude, KindCodex, KindPi, KindAll, KindBedrock}

// ParseKind reads a --kind value.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("kind %q: want one of %s", s, strings.Join(names, ", "))
}

// has reports whether k includes part (all includes every kind).
func (k Kind) has(part Kind) bool { return k == part || k == KindAll }

// NeedsCodex reports whether k uses the Codex login (codex, pi).
func (k Kind) NeedsCodex() bool { return k.has(KindCodex) || k.has(KindPi) }

// NeedsAWS reports whether k uses AWS credentials (claude, bedrock).
func (k Kind) NeedsAWS() bool { return k.has(KindClaude) || k.has(KindBedrock) }

// fileSet is the files of one kind, relative to home.
type fileSet struct {
	kind Kind
	// auth are the credential files: always sent.
	auth []string
	// full are the rest of the agent's set-up (settings, memories, skills,
	// extensions): sent with --full.
	full []string
}

// fileSets are the files launch refresh --remote copies, per kind.
var fileSets = []fileSet{
	{KindCodex, []string{CodexAuth}, []string{".codex/config.toml", ".codex/AGENTS.md", ".codex/prompts", ".codex/skills"}},
	{KindClaude, []string{".claude/.credentials.json", ExportedCredentials, ".aws/config"}, []string{".claude/settings.json", ".claude/CLAUDE.md", ".claude/agents", ".claude/commands", ".claude/skills"}},
	{KindPi, []string{PiAuth}, []string{".pi/agent/settings.json", ".pi/agent/models.json", ".pi/agent/AGENTS.md", ".pi/agent/extensions", ".pi/agent/prompts", ".pi/agent/skills"}},
	{KindBedrock, []string{ExportedCredentials, ".aws/config"}, nil},
}

// Files returns the home-relative files of kind k: the credential files,
// and the whole set-up that --full adds. Each appears once.
func Files(k Kind) (auth, full []string) {
	seen := map[string]bool{}
	add := func(dst *[]string, files []string) {
		for _, f := range files {
			if !seen[f] {
				seen[f] = true
				*dst = append(*dst, f)
			}
		}
	}
	for _, s := range fileSets {
		if k.has(s.kind) {
			add(&auth, s.auth)
		}
	}
	for _, s := range fileSets {
		if k.has(s.kind) {
			add(&full, s.full)
		}
	}
	return auth, full
}

// Present splits home-relative files into those that exist under home and
// those that do not.
func Present(home string, files []string, stat func(string) (fs.FileInfo, error)) (present, missing []string, err error) {
	for _, f := range files {
		_, err := stat(filepath.Join(home, filepath.FromSlash(f)))
		switch {
		case err == nil:
			present = append(present, f)
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, f)
		default:
			return nil, nil, fmt.Errorf("%q: %w", filepath.Join(home, f), err)
		}
	}
	return present, missing, nil
}

// RsyncArgv is the one rsync command that copies the home-relative files to
// the same places under the remote user's home: --relative keeps the path
// after the "/./" marker, so HOME/./.codex/auth.json lands in
// ~/.codex/auth.json there. --chmod=go-rwx keeps every copied file and
// directory private to the user, whatever its mode here: a login node is
// shared. user may be empty (ssh's default).
func RsyncArgv(home string, files []string, host, user string) []string {
	argv := []string{"rsync", "-arv", "--relative", "--chmod=go-rwx"}
	for _, f := range files {
		argv = append(argv, strings.TrimSuffix(home, "/")+"/./"+f)
	}
	dest := host
	if user != "" {
		dest = user + "@" + host
	}
	return append(argv, dest+":~/")
}

// ValidRemote checks a --remote host (HOST or USER@HOST) and --user: no
// option-like or rsync-special text.
func ValidRemote(host, user string) error {
	h := host
	if u, rest, ok := strings.Cut(host, "@"); ok {
		if user != "" {
			return fmt.Errorf("remote %q names a user and so does --user %q; give one", host, user)
		}
		h, user = rest, u
	}
	if h == "" || strings.HasPrefix(h, "-") || strings.ContainsAny(h, ":/@ \t\n") {
		return fmt.Errorf("remote %q: want a host name or an ssh alias, optionally USER@HOST", host)
	}
	if user != "" && (strings.HasPrefix(user, "-") || strings.ContainsAny(user, ":/@ \t\n")) {
		return fmt.Errorf("user %q: want a user name", user)
	}
	return nil
}
