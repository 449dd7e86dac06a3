package docker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/term"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/plan"
)

// ensureImage makes the image present as r.Request.Pull says: a local image
// is used unless the policy is always; a missing one is pulled when the
// policy is always or missing; otherwise (never) it is an error that says
// how to get the image. It returns the image's inspection when it made one
// (nil after a pull, unless OnPull asked for the pulled image's ID).
func (r Rendered) ensureImage(ctx context.Context, e engine, s iostreams.Streams) (*client.ImageInspectResult, error) {
	ref := r.Request.Config.Image
	pull := r.Request.Pull
	before := "" // the ID ref named before the pull
	if pull != plan.PullAlways || r.OnPull != nil {
		res, err := e.ImageInspect(ctx, ref)
		switch {
		case err == nil && pull != plan.PullAlways:
			return &res, nil
		case err == nil:
			before = res.ID
		case !cerrdefs.IsNotFound(err):
			return nil, engineError(e, fmt.Sprintf("inspect image %q", ref), err)
		case pull == plan.PullNever:
			return nil, plan.Errorf(cerrdefs.ErrNotFound,
				"image %q: not present on the engine, and not pulled (--pull never, the default for an image that is not launch's own): check the name, run `docker pull %s` (or build it), or pass --pull missing", ref, ref)
		}
	}
	if err := r.pull(ctx, e, s, ref); err != nil {
		return nil, err
	}
	if r.OnPull == nil {
		return nil, nil
	}
	res, err := e.ImageInspect(ctx, ref)
	if err != nil {
		return nil, engineError(e, fmt.Sprintf("inspect image %q", ref), err)
	}
	if before == "" {
		r.OnPull(ref, res.ID)
	}
	return &res, nil
}

// imagePath is the PATH in the image's configuration; "" when it sets none
// (the engine then gives the container plan.FallbackPath's value too).
func imagePath(img client.ImageInspectResult) string {
	if img.Config == nil {
		return ""
	}
	for _, kv := range img.Config.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			return v
		}
	}
	return ""
}

// withImagePath is a copy of r.Request.Config whose PATH has the Plan's
// prepends in front of imagePath, the image's own PATH, in place of the
// dry run's plan.FallbackPath (plan.Plan.EnvWithPath).
func (r Rendered) withImagePath(imagePath string) *container.Config {
	cfg := *r.Request.Config
	cfg.Env, _ = envList(r.p.EnvWithPath(imagePath))
	return &cfg
}

// pull pulls ref with per-layer progress on stderr when it is a terminal and
// one line per step otherwise.
func (r Rendered) pull(ctx context.Context, e engine, s iostreams.Streams, ref string) error {
	auth, warning := registryAuth(r.ConfigDir, ref)
	if warning != "" {
		fmt.Fprintf(s.Err, "launch: warning: %s\n", warning)
	}
	opts := client.ImagePullOptions{RegistryAuth: auth}
	if r.Request.Platform != nil {
		opts.Platforms = []ocispec.Platform{*r.Request.Platform}
	}
	fmt.Fprintf(s.Err, "launch: pulling %s\n", ref)
	resp, err := e.ImagePull(ctx, ref, opts)
	if err != nil {
		return pullError(ctx, e, ref, err)
	}
	defer resp.Close()
	fd, isTerm := uintptr(0), false
	if f, ok := s.Err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd, isTerm = f.Fd(), true
	}
	if err := jsonmessage.DisplayJSONMessagesStream(resp, s.Err, fd, isTerm, nil); err != nil {
		return pullError(ctx, e, ref, err)
	}
	return nil
}

func pullError(ctx context.Context, e engine, ref string, err error) error {
	if ctx.Err() != nil {
		return interrupted(ctx, "pulling "+ref)
	}
	if client.IsErrConnectionFailed(err) {
		return engineError(e, fmt.Sprintf("pull image %q", ref), err)
	}
	return fmt.Errorf("pull image %q: %w; check the name, and log in with `docker login %s` if the registry needs it", ref, trimEngineText(err), registryHost(ref))
}

// registryHost is the registry part of an image reference, as the docker CLI
// reads it: the first path component when it looks like a host (has a '.'
// or a ':', or is localhost), else docker.io.
func registryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

// serverAddress is the key docker login stores a registry under.
func serverAddress(host string) string {
	if host == "docker.io" {
		return "https://index.docker.io/v1/"
	}
	return host
}

// normalizeRegistry maps a config.json auths key to a registry host.
func normalizeRegistry(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	key, _, _ = strings.Cut(key, "/")
	switch key {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return key
}

// dockerConfig is the part of ~/.docker/config.json that holds credentials.
type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

// registryAuth returns the encoded credentials for ref's registry from
// dir/config.json: a credential helper's (credHelpers, then credsStore) or
// an auths entry's. No credentials is not an error (the pull is then
// anonymous); a problem reading them is returned as a warning.
func registryAuth(dir, ref string) (auth, warning string) {
	if dir == "" {
		return "", ""
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", ""
	}
	if err != nil {
		return "", fmt.Sprintf("registry credentials: %v; pulling anonymously", err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Sprintf("registry credentials: %q: %v; pulling anonymously", path, err)
	}
	host := registryHost(ref)
	ac := registry.AuthConfig{ServerAddress: serverAddress(host)}
	helper := cfg.CredHelpers[host]
	if helper == "" {
		helper = cfg.CredsStore
	}
	found := false
	if helper != "" {
		user, secret, err := helperGet(helper, serverAddress(host))
		if err != nil {
			warning = fmt.Sprintf("registry credentials for %s from docker-credential-%s (%q): %v", host, helper, path, err)
		} else if secret != "" {
			found = true
			if user == "<token>" {
				ac.IdentityToken = secret
			} else {
				ac.Username, ac.Password = user, secret
			}
		}
	}
	if !found {
		for _, key := range sortedKeys(cfg.Auths) {
			a := cfg.Auths[key]
			if normalizeRegistry(key) != host {
				continue
			}
			switch {
			case a.IdentityToken != "":
				ac.IdentityToken = a.IdentityToken
			case a.Auth != "":
				dec, err := base64.StdEncoding.DecodeString(a.Auth)
				if err != nil {
					return "", fmt.Sprintf("registry credentials for %s in %q: bad auth value: %v; pulling anonymously", host, path, err)
				}
				ac.Username, ac.Password, _ = strings.Cut(string(dec), ":")
			default:
				ac.Username, ac.Password = a.Username, a.Password
			}
			found = true
			break
		}
	}
	if !found {
		return "", warning
	}
	enc, err := authconfig.Encode(ac)
	if err != nil {
		return "", fmt.Sprintf("registry credentials for %s: %v; pulling anonymously", host, err)
	}
	return enc, warning
}

// helperGet runs `docker-credential-NAME get`. A helper that has no
// credentials for server returns no error and an empty secret.
func helperGet(name, server string) (user, secret string, err error) {
	var out, stderr bytes.Buffer
	cmd := exec.Command("docker-credential-"+name, "get")
	cmd.Stdin = strings.NewReader(server)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String() + " " + stderr.String())
		if strings.Contains(strings.ToLower(msg), "credentials not found") {
			return "", "", nil
		}
		if msg != "" {
			return "", "", fmt.Errorf("%w: %s", err, msg)
		}
		return "", "", err
	}
	var res struct {
		Username string
		Secret   string
	}
	if err := json.NewDecoder(io.LimitReader(&out, 1<<20)).Decode(&res); err != nil {
		return "", "", fmt.Errorf("unreadable answer: %w", err)
	}
	return res.Username, res.Secret, nil
}
