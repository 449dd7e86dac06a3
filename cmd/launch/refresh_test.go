package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/creds"
	"github.com/launchcli/launch/internal/iostreams"
)

// refreshEnv is a scratch home with the fake codex, aws and rsync of
// testdata/fakebin first on PATH; they keep their state in state.
type refreshEnv struct {
	t           *testing.T
	home, state string
	env         []string
}

func newRefreshEnv(t *testing.T, extra ...string) *refreshEnv {
	t.Helper()
	fakebin, err := filepath.Abs("testdata/fakebin")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	e := &refreshEnv{t: t, home: filepath.Join(root, "home"), state: filepath.Join(root, "state")}
	for _, d := range []string{e.home, e.state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.env = append([]string{
		"HOME=" + e.home,
		"PATH=" + fakebin + ":/usr/bin:/bin",
		"FAKE_STATE=" + e.state,
		"FAKE_CODEX_EXP=" + strconv.FormatInt(time.Now().Add(10*24*time.Hour).Unix(), 10),
		"FAKE_AWS_EXPIRATION=" + time.Now().Add(2*time.Hour).UTC().Format("2006-01-02T15:04:05+00:00"),
		"AWS_PROFILE=nih-sso",
	}, extra...)
	return e
}

// run runs launch with args on the scratch home and returns stdout,
// stderr and the exit code.
func (e *refreshEnv) run(args ...string) (string, string, int) {
	e.t.Helper()
	h, err := systemHost(false)
	if err != nil {
		e.t.Fatal(err)
	}
	h.Home, h.Cwd, h.Env = e.home, e.home, e.env
	var out, errb bytes.Buffer
	code := runApp(context.Background(), iostreams.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, h, append([]string{"launch"}, args...))
	return out.String(), errb.String(), code
}

func (e *refreshEnv) calls() []string {
	b, err := os.ReadFile(filepath.Join(e.state, "calls"))
	if err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (e *refreshEnv) touch(name string) {
	if err := os.WriteFile(filepath.Join(e.state, name), nil, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *refreshEnv) write(rel, content string) {
	p := filepath.Join(e.home, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// codexAuth writes a Codex login whose access token expires at exp.
func (e *refreshEnv) codexAuth(exp time.Time) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, exp.Unix())))
	e.write(".codex/auth.json", fmt.Sprintf(`{"tokens":{"access_token":"x.%s.s","refresh_token":"r","account_id":"a"}}`, payload))
}

func (e *refreshEnv) read(rel string) (string, os.FileMode) {
	p := filepath.Join(e.home, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatalf("%s: %v", rel, err)
	}
	fi, _ := os.Stat(p)
	return string(b), fi.Mode().Perm()
}

// TestRefreshLogsInWhereNeeded: nobody is logged in; launch refresh runs
// codex login and aws sso login, converts the Codex login for Pi (keeping
// Pi's other providers), writes the AWS credentials 0600 and the profile,
// and keeps the rest of ~/.aws/config.
func TestRefreshLogsInWhereNeeded(t *testing.T) {
	e := newRefreshEnv(t)
	e.write(".pi/agent/auth.json", `{"anthropic": {"type": "oauth", "access": "a", "refresh": "r", "expires": 1}}`)
	e.write(".aws/config", "# mine\n[profile nih-sso]\nsso_session = nih\n")
	out, errOut, code := e.run("refresh")
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	want := []string{
		"codex login status", "codex login", "codex login status",
		"aws configure export-credentials --format process", "aws sso login", "aws configure export-credentials --format process",
	}
	if got := e.calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range []string{"codex: Not logged in; running codex login", "aws: cannot export credentials (Error when retrieving token from sso", "wrote the Codex login into"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	pi, mode := e.read(".pi/agent/auth.json")
	var entries map[string]map[string]any
	if err := json.Unmarshal([]byte(pi), &entries); err != nil || mode != 0o600 {
		t.Fatalf("pi auth.json (mode %o): %v\n%s", mode, err, pi)
	}
	if entries["anthropic"]["access"] != "a" || entries["openai-codex"]["refresh"] != "rt-fake" || entries["openai-codex"]["accountId"] != "acct-fake" {
		t.Errorf("pi auth.json = %s", pi)
	}
	c, mode := e.read(".aws/credentials.json")
	if pc, err := creds.ParseProcessCredentials([]byte(c)); err != nil || pc.AccessKeyID != "ASIAFAKEKEYID" || mode != 0o600 {
		t.Errorf("credentials.json (mode %o): %v\n%s", mode, err, c)
	}
	cfg, _ := e.read(".aws/config")
	if want := "# mine\n[profile nih-sso]\nsso_session = nih\n\n[profile llm-export]\ncredential_process = sh -c 'cat ~/.aws/credentials.json'\n"; cfg != want {
		t.Errorf("~/.aws/config:\n%s\nwant:\n%s", cfg, want)
	}
	// The exported profile really works: credential_process prints the file.
	if got, err := shOutput(e.home, "cat ~/.aws/credentials.json"); err != nil || got != c {
		t.Errorf("credential_process output %q, %v", got, err)
	}
}

func shOutput(home, script string) (string, error) {
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
	b, err := cmd.Output()
	return string(b), err
}

// TestRefreshAlreadyLoggedIn: nothing to log in to; no login is run.
func TestRefreshAlreadyLoggedIn(t *testing.T) {
	e := newRefreshEnv(t)
	e.touch("codex-logged-in")
	e.touch("aws-logged-in")
	e.codexAuth(time.Now().Add(9*24*time.Hour + time.Hour))
	_, errOut, code := e.run("refresh", "--kind", "all")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "codex login status\naws configure export-credentials --format process"
	if got := strings.Join(e.calls(), "\n"); got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(errOut, "codex: logged in with ChatGPT; "+filepath.Join(e.home, ".codex/auth.json")+" expires in 9d") {
		t.Errorf("stderr does not give the Codex expiry:\n%s", errOut)
	}
}

// TestRefreshNoExportCreds: AWS is checked (and logged in) but nothing is
// written.
func TestRefreshNoExportCreds(t *testing.T) {
	e := newRefreshEnv(t)
	_, errOut, code := e.run("refresh", "--kind", "bedrock", "--no-export-creds")
	if code != 0 || !strings.Contains(errOut, "not exported (--no-export-creds)") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, f := range []string{".aws/credentials.json", ".aws/config", ".codex"} {
		if _, err := os.Stat(filepath.Join(e.home, f)); !os.IsNotExist(err) {
			t.Errorf("~/%s exists (%v)", f, err)
		}
	}
}

// TestRefreshBedrockExport: the one line on stdout exports a Bedrock key
// signed for the region, living as long as the credentials (2 hours).
func TestRefreshBedrockExport(t *testing.T) {
	e := newRefreshEnv(t, "AWS_REGION=eu-central-1")
	e.touch("aws-logged-in")
	out, errOut, code := e.run("refresh", "--bedrock-export")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	tok, ok := strings.CutPrefix(out, "export AWS_BEARER_TOKEN_BEDROCK=bedrock-api-key-")
	if !ok || strings.Count(out, "\n") != 1 {
		t.Fatalf("stdout %q: want one export line", out)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse("https://" + strings.TrimSuffix(string(raw), "&Version=1"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	exp, _ := strconv.Atoi(q.Get("X-Amz-Expires"))
	if !strings.Contains(q.Get("X-Amz-Credential"), "/eu-central-1/bedrock/aws4_request") || exp < 7100 || exp > 7200 || q.Get("X-Amz-Security-Token") != "fake+session/token==" {
		t.Errorf("token URL %s: want eu-central-1, about 7200 s, the session token", raw)
	}
	if got := strings.Join(e.calls(), "\n"); got != "aws configure export-credentials --format process" {
		t.Errorf("calls: %s (--bedrock-export alone is --kind bedrock)", got)
	}
}

// TestRefreshRemote: one rsync of the files that exist, relative to home;
// a missing one is named in a warning. (The real rsync over ssh is in
// remote_test.go, integration tag.)
func TestRefreshRemote(t *testing.T) {
	e := newRefreshEnv(t)
	e.touch("codex-logged-in")
	e.codexAuth(time.Now().Add(time.Hour))
	e.write(".codex/config.toml", "model = 'x'\n")
	_, errOut, code := e.run("refresh", "--kind", "codex", "--remote", "biowulf", "--user", "ana", "--full")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, _ := os.ReadFile(filepath.Join(e.state, "rsync-args"))
	want := "-arv\n--relative\n--chmod=go-rwx\n" + e.home + "/./.codex/auth.json\n" + e.home + "/./.codex/config.toml\nana@biowulf:~/\n"
	if string(b) != want {
		t.Errorf("rsync args:\n%s\nwant:\n%s", b, want)
	}
	if !strings.Contains(errOut, "warning: ~/.codex/AGENTS.md does not exist; not copied") {
		t.Errorf("stderr lacks the warning for a missing file:\n%s", errOut)
	}
}

// TestRefreshFailures: what the user sees when a login fails, when the
// AWS profile is launch's own, when Pi's file is not JSON, and on bad
// options.
func TestRefreshFailures(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		setup    func(e *refreshEnv)
		args     []string
		wantCode int
		wantErr  string
	}{
		{"aws-login-fails", []string{"FAKE_AWS_LOGIN_FAILS=1"}, nil, []string{"--kind", "bedrock"}, 125, "aws sso login: exit status 1; check AWS_PROFILE (\"nih-sso\")"},
		{"codex-login-fails", []string{"FAKE_CODEX_LOGIN_FAILS=1"}, nil, []string{"--kind", "codex"}, 125, "codex login: exit status 1"},
		{"own-profile", []string{"AWS_PROFILE=llm-export"}, nil, []string{"--kind", "claude"}, 125, "AWS_PROFILE is llm-export, the profile that launch refresh writes"},
		{"aws-still-expired", []string{"FAKE_AWS_EXPIRATION=2020-01-01T00:00:00+00:00"}, func(e *refreshEnv) { e.touch("aws-logged-in") }, []string{"--kind", "bedrock"}, 125, "aws: the credentials expired at 2020-01-01T00:00:00Z, even after aws sso login"},
		{"no-aws", []string{"PATH=/usr/bin:/bin"}, nil, []string{"--kind", "bedrock"}, 125, "install the AWS CLI v2"},
		{"pi-without-codex-file", nil, func(e *refreshEnv) { e.touch("codex-logged-in") }, []string{"--kind", "pi"}, 125, "log in to Codex first"},
		{"bad-kind", nil, nil, []string{"--kind", "gemini"}, 2, `--kind: kind "gemini": want one of claude, codex, pi, all, bedrock`},
		{"user-without-remote", nil, nil, []string{"--user", "ana"}, 2, "--user needs --remote HOST"},
		{"bad-remote", nil, nil, []string{"--remote", "-oProxyCommand=x"}, 2, "--remote: remote \"-oProxyCommand=x\""},
		{"bedrock-export-codex", nil, nil, []string{"--kind", "codex", "--bedrock-export"}, 2, "--bedrock-export needs AWS credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRefreshEnv(t, tt.env...)
			if tt.setup != nil {
				tt.setup(e)
			}
			out, errOut, code := e.run(append([]string{"refresh"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", code, out, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestRefreshPiRefusesInvalidJSON(t *testing.T) {
	e := newRefreshEnv(t)
	e.touch("codex-logged-in")
	e.codexAuth(time.Now().Add(time.Hour))
	e.write(".pi/agent/auth.json", "{oops")
	_, errOut, code := e.run("refresh", "--kind", "pi")
	if code != 125 || !strings.Contains(errOut, "pi: .pi/agent/auth.json: not valid JSON") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	if got, _ := e.read(".pi/agent/auth.json"); got != "{oops" {
		t.Errorf("pi auth.json was changed to %q", got)
	}
}

func TestRefreshShowFiles(t *testing.T) {
	e := newRefreshEnv(t)
	e.write(".aws/config", "")
	out, errOut, code := e.run("refresh", "--show-files", "--kind", "claude")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, l := range []string{"credential files (launch refresh --remote HOST):", "~/.claude/.credentials.json  missing", "~/.aws/config                present", "with --full, also:", "~/.claude/settings.json"} {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
	if e.calls()[0] != "" {
		t.Errorf("--show-files ran %q", e.calls())
	}
}
