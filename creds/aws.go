package creds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ExportProfile is the AWS profile that launch refresh writes to
// ~/.aws/config: it reads the exported credentials file, so that an agent
// in a container (or on a cluster) uses them without SSO.
const ExportProfile = "llm-export"

// ExportedCredentials is the exported credentials file, relative to home.
const ExportedCredentials = ".aws/credentials.json"

// CredentialProcess is the credential_process of ExportProfile. It names
// the file through ~ so that the same config works in the container, where
// home is another directory.
const CredentialProcess = "sh -c 'cat ~/.aws/credentials.json'"

// ProcessCredentials is the JSON that `aws configure export-credentials
// --format process` prints and a credential_process must print.
type ProcessCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken,omitempty"`
	// Expiration is RFC 3339; empty for long-term keys.
	Expiration string `json:"Expiration,omitempty"`
}

// ParseProcessCredentials decodes and checks the credential_process JSON.
func ParseProcessCredentials(b []byte) (ProcessCredentials, error) {
	var c ProcessCredentials
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("not credential_process JSON: %w", err)
	}
	if c.Version != 1 {
		return c, fmt.Errorf("credential_process JSON has Version %d, want 1", c.Version)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, errors.New("credential_process JSON lacks AccessKeyId or SecretAccessKey")
	}
	if c.Expiration != "" {
		if _, err := c.Expires(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Expires parses Expiration; zero when there is none.
func (c ProcessCredentials) Expires() (time.Time, error) {
	if c.Expiration == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil {
		return time.Time{}, fmt.Errorf("Expiration %q: want RFC 3339 (2026-01-02T15:04:05Z)", c.Expiration)
	}
	return t.UTC(), nil
}

// sectionHeader matches an INI section header, with an optional comment.
var sectionHeader = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*\[([^\]]*)\]\s*([#;].*)?$`) })

// UpsertProfile returns the AWS config text with profile's key set to
// value. Everything else is kept as it was, byte for byte: other sections,
// comments, blank lines, the order of sections and of the profile's other
// keys. An existing key is replaced where it stands; a missing key goes right
// under the section header; a missing section is appended at the end, after
// a blank line.
func UpsertProfile(config []byte, profile, key, value string) []byte {
	lines := strings.SplitAfter(string(config), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	want := key + " = " + value + "\n"
	header := -1
	for i, l := range lines {
		if m := sectionHeader().FindStringSubmatch(strings.TrimRight(l, "\r\n")); m != nil && sectionName(m[1]) == "profile "+profile {
			header = i
			break
		}
	}
	if header < 0 {
		var b strings.Builder
		b.WriteString(strings.Join(lines, ""))
		if len(lines) > 0 {
			if !strings.HasSuffix(lines[len(lines)-1], "\n") {
				b.WriteString("\n")
			}
			if strings.TrimSpace(lines[len(lines)-1]) != "" {
				b.WriteString("\n")
			}
		}
		fmt.Fprintf(&b, "[profile %s]\n%s", profile, want)
		return []byte(b.String())
	}
	end := len(lines)
	for i := header + 1; i < len(lines); i++ {
		if sectionHeader().MatchString(strings.TrimRight(lines[i], "\r\n")) {
			end = i
			break
		}
	}
	out := append([]string(nil), lines[:header+1]...)
	found := false
	for i := header + 1; i < end; i++ {
		k, _, ok := strings.Cut(lines[i], "=")
		if ok && strings.TrimSpace(k) == key && !strings.HasPrefix(strings.TrimSpace(lines[i]), "#") {
			if !found {
				out = append(out, want)
			}
			found = true
			// Indented lines after it continue its value: replaced too.
			for i+1 < end && isContinuation(lines[i+1]) {
				i++
			}
			continue
		}
		out = append(out, lines[i])
	}
	if !found {
		out = append(out[:header+1], append([]string{want}, out[header+1:]...)...)
	}
	if !strings.HasSuffix(out[header], "\n") {
		out[header] += "\n"
	}
	out = append(out, lines[end:]...)
	return []byte(strings.Join(out, ""))
}

// sectionName normalises the inside of a header: "profile   x" → "profile x".
func sectionName(s string) string { return strings.Join(strings.Fields(s), " ") }

func isContinuation(l string) bool {
	return strings.TrimSpace(l) != "" && (l[0] == ' ' || l[0] == '\t')
}

// WriteExport writes the exported credentials to home's
// ~/.aws/credentials.json (0600) and points ExportProfile at it in
// ~/.aws/config, keeping the rest of that file. configFile is the config to
// edit ($AWS_CONFIG_FILE, or "" for ~/.aws/config).
func WriteExport(home, configFile string, c ProcessCredentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(home, filepath.FromSlash(ExportedCredentials)), append(b, '\n'), 0o600); err != nil {
		return err
	}
	if configFile == "" {
		configFile = filepath.Join(home, ".aws", "config")
	}
	old, err := os.ReadFile(configFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("aws config %q: %w", configFile, err)
	}
	updated := UpsertProfile(old, ExportProfile, "credential_process", CredentialProcess)
	if bytes.Equal(old, updated) {
		return nil
	}
	perm := os.FileMode(0o600)
	if fi, err := os.Stat(configFile); err == nil {
		perm = fi.Mode().Perm()
	}
	return WriteFileAtomic(configFile, updated, perm)
}

// WriteFileAtomic writes data to name through a temporary file in the same
// directory and a rename, so that a reader (an agent in a running
// container) sees the old file or the new one, never half of one. The
// directory is created 0700 when missing.
func WriteFileAtomic(name string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %q: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %q: %w", name, err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %q: %w", name, err)
	}
	return nil
}
