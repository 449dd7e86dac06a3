package creds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Runner runs the external tools launch refresh relies on (codex, aws,
// rsync). The real one runs programs from PATH; tests put fakes first on
// PATH, so the calls are real processes either way.
type Runner interface {
	// Capture runs argv and returns its standard output and standard error.
	Capture(ctx context.Context, argv []string) (stdout, stderr []byte, err error)
	// Interact runs argv on the user's terminal (a browser login): standard
	// input is the user's, both outputs go to the user's standard error.
	Interact(ctx context.Context, argv []string) error
}

// Refresh is one launch refresh: which kind, where home is, what to do.
type Refresh struct {
	Kind Kind
	// Home is the user's home directory.
	Home string
	// ExportCreds writes ~/.aws/credentials.json and the llm-export profile
	// (launch refresh without --no-export-creds).
	ExportCreds bool
	// Getenv reads AWS_PROFILE, AWS_CONFIG_FILE.
	Getenv func(string) string
	Run    Runner
	// Log receives progress for a person (standard error).
	Log io.Writer
	// Now is the clock.
	Now func() time.Time
}

// Refreshed is what a refresh obtained.
type Refreshed struct {
	// AWS holds the AWS credentials when the kind uses them.
	AWS *ProcessCredentials
}

// LoggedInChatGPT is what `codex login status` prints when Codex is logged
// in with a ChatGPT account.
const LoggedInChatGPT = "Logged in using ChatGPT"

// Do refreshes the logins of r.Kind: Codex (codex login when not logged in
// with ChatGPT), Pi (converted from Codex), AWS SSO (aws sso login when the
// credentials cannot be exported) and writes the exported AWS credentials.
func (r Refresh) Do(ctx context.Context) (Refreshed, error) {
	var res Refreshed
	if r.Kind.NeedsCodex() {
		if err := r.codex(ctx); err != nil {
			return res, err
		}
	}
	if r.Kind.has(KindPi) {
		if err := r.pi(); err != nil {
			return res, err
		}
	}
	if r.Kind.NeedsAWS() {
		c, err := r.aws(ctx)
		if err != nil {
			return res, err
		}
		res.AWS = &c
	}
	return res, nil
}

func (r Refresh) logf(format string, args ...any) {
	fmt.Fprintf(r.Log, "launch: "+format+"\n", args...)
}

// codex makes sure Codex is logged in with ChatGPT.
func (r Refresh) codex(ctx context.Context) error {
	status := func() (bool, string, error) {
		out, errOut, err := r.Run.Capture(ctx, []string{"codex", "login", "status"})
		text := strings.TrimSpace(string(out) + "\n" + string(errOut))
		var ee interface{ ExitCode() int }
		if err != nil && !errors.As(err, &ee) {
			return false, "", fmt.Errorf("codex login status: %w; install Codex (npm install -g @openai/codex) or put it on PATH", err)
		}
		return strings.Contains(text, LoggedInChatGPT), firstLine(text), nil
	}
	ok, said, err := status()
	if err != nil {
		return err
	}
	if !ok {
		r.logf("codex: %s; running codex login (a browser opens)", orText(said, "not logged in"))
		if err := r.Run.Interact(ctx, []string{"codex", "login"}); err != nil {
			return fmt.Errorf("codex login: %w", err)
		}
		if ok, said, err = status(); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("codex login status still says %q after codex login; log in with a ChatGPT account", said)
		}
	}
	st := Check(TokenFiles[0], r.Home, r.Now(), os.ReadFile)
	r.logf("codex: logged in with ChatGPT; %s %s", st.File, st.Describe())
	return nil
}

// pi writes the Codex login into Pi's auth.json.
func (r Refresh) pi() error {
	codexFile := filepath.Join(r.Home, filepath.FromSlash(CodexAuth))
	codex, err := os.ReadFile(codexFile)
	if err != nil {
		return fmt.Errorf("pi: %w; log in to Codex first (launch refresh --kind codex)", err)
	}
	piFile := filepath.Join(r.Home, filepath.FromSlash(PiAuth))
	old, err := os.ReadFile(piFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pi: %w", err)
	}
	updated, err := PiFromCodex(codex, old)
	if err != nil {
		return fmt.Errorf("pi: %w", err)
	}
	if err := WriteFileAtomic(piFile, updated, 0o600); err != nil {
		return fmt.Errorf("pi: %w", err)
	}
	r.logf("pi: wrote the Codex login into %s (entry %s)", piFile, PiProvider)
	return nil
}

// aws exports the AWS credentials of the current profile, logging in
// through SSO when they cannot be exported or have expired.
func (r Refresh) aws(ctx context.Context) (ProcessCredentials, error) {
	if p := r.Getenv("AWS_PROFILE"); p == ExportProfile {
		return ProcessCredentials{}, fmt.Errorf("AWS_PROFILE is %s, the profile that launch refresh writes (it reads ~/%s); set AWS_PROFILE to your SSO profile and run again", ExportProfile, ExportedCredentials)
	}
	c, why, err := r.export(ctx)
	if err != nil {
		return c, err
	}
	if why != "" {
		r.logf("aws: %s; running aws sso login (a browser opens)", why)
		if err := r.Run.Interact(ctx, []string{"aws", "sso", "login"}); err != nil {
			return c, fmt.Errorf("aws sso login: %w; check AWS_PROFILE (%q) and its sso_session in ~/.aws/config", err, r.Getenv("AWS_PROFILE"))
		}
		if c, why, err = r.export(ctx); err != nil {
			return c, err
		}
		if why != "" {
			return c, fmt.Errorf("aws: %s, even after aws sso login; check AWS_PROFILE (%q)", why, r.Getenv("AWS_PROFILE"))
		}
	}
	exp, _ := c.Expires()
	left := "no expiry (long-term keys)"
	if !exp.IsZero() {
		left = "expire in " + HumanDuration(exp.Sub(r.Now())) + " (" + exp.Format(time.RFC3339) + ")"
	}
	if !r.ExportCreds {
		r.logf("aws: credentials %s; not exported (--no-export-creds)", left)
		return c, nil
	}
	if err := WriteExport(r.Home, r.Getenv("AWS_CONFIG_FILE"), c); err != nil {
		return c, fmt.Errorf("aws: %w", err)
	}
	r.logf("aws: credentials %s; wrote ~/%s and [profile %s] in ~/.aws/config", left, ExportedCredentials, ExportProfile)
	return c, nil
}

// export runs aws configure export-credentials. why says, when not empty,
// why a login is needed (the command failed, or the credentials expired);
// err is for what a login cannot fix (no aws on PATH).
func (r Refresh) export(ctx context.Context) (c ProcessCredentials, why string, err error) {
	out, errOut, err := r.Run.Capture(ctx, []string{"aws", "configure", "export-credentials", "--format", "process"})
	var ee interface{ ExitCode() int }
	switch {
	case err != nil && !errors.As(err, &ee):
		return c, "", fmt.Errorf("aws configure export-credentials: %w; install the AWS CLI v2 or put it on PATH", err)
	case err != nil:
		return c, "cannot export credentials (" + orText(firstLine(string(bytes.TrimSpace(errOut))), err.Error()) + ")", nil
	}
	c, perr := ParseProcessCredentials(out)
	if perr != nil {
		return c, "", fmt.Errorf("aws configure export-credentials: %w", perr)
	}
	if exp, _ := c.Expires(); !exp.IsZero() && !exp.After(r.Now()) {
		return c, "the credentials expired at " + exp.Format(time.RFC3339), nil
	}
	return c, "", nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l)
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
