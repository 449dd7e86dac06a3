package docker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/authconfig"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeContext(t *testing.T, dir, name, host string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	meta := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	body := `{"Name":"` + name + `","Metadata":{},"Endpoints":{"docker":{"Host":"` + host + `","SkipTLSVerify":false}}}`
	if err := os.WriteFile(filepath.Join(meta, "meta.json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEndpoints(t *testing.T) {
	home := t.TempDir()
	cfgDir := filepath.Join(home, ".docker")
	writeContext(t, cfgDir, "colima", "unix:///Users/ana/.colima/default/docker.sock")
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"currentContext":"colima"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyCfg := t.TempDir()
	only := func(paths ...string) func(string) bool {
		return func(p string) bool { return slices.Contains(paths, p) }
	}
	tests := []struct {
		name    string
		host    Host
		want    []string
		wantErr string
	}{
		{"docker-host-wins", Host{Getenv: env(map[string]string{"DOCKER_HOST": "tcp://10.0.0.1:2376", "DOCKER_CONTEXT": "colima"}), ConfigDir: cfgDir},
			[]string{"tcp://10.0.0.1:2376 (DOCKER_HOST)"}, ""},
		{"current-context", Host{Getenv: env(nil), ConfigDir: cfgDir},
			[]string{`unix:///Users/ana/.colima/default/docker.sock (context "colima")`}, ""},
		{"docker-context-env", Host{Getenv: env(map[string]string{"DOCKER_CONTEXT": "default"}), ConfigDir: cfgDir, Exists: only("/var/run/docker.sock")},
			[]string{"unix:///var/run/docker.sock (default socket)"}, ""},
		{"missing-context", Host{Getenv: env(map[string]string{"DOCKER_CONTEXT": "gone"}), ConfigDir: cfgDir},
			nil, `docker context "gone" (from DOCKER_CONTEXT): no such context`},
		{"rootless-first", Host{Getenv: env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}), ConfigDir: emptyCfg, GOOS: "linux",
			Exists: only("/run/user/1000/docker.sock", "/var/run/docker.sock")},
			[]string{"unix:///run/user/1000/docker.sock (rootless docker)", "unix:///var/run/docker.sock (default socket)"}, ""},
		{"macos-colima", Host{Getenv: env(nil), Home: "/Users/ana", ConfigDir: emptyCfg, GOOS: "darwin",
			Exists: only("/Users/ana/.colima/default/docker.sock")},
			[]string{"unix:///Users/ana/.colima/default/docker.sock (Colima)"}, ""},
		{"macos-none-lists-all", Host{Getenv: env(nil), Home: "/Users/ana", ConfigDir: emptyCfg, GOOS: "darwin", Exists: only()},
			[]string{
				"unix:///var/run/docker.sock (default socket)",
				"unix:///Users/ana/.colima/default/docker.sock (Colima)",
				"unix:///Users/ana/.orbstack/run/docker.sock (OrbStack)",
				"unix:///Users/ana/.docker/run/docker.sock (Docker Desktop)",
			}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps, err := Endpoints(tt.host)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range eps {
				got = append(got, e.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Endpoints =\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

func TestConnectUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nothing.sock")
	_, err := Connect(context.Background(), Host{Getenv: env(map[string]string{"DOCKER_HOST": "unix://" + sock})})
	t.Log(err)
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v is not an *UnreachableError", err)
	}
	for _, w := range []string{"unix://" + sock + " (DOCKER_HOST)", "start dockerd", "--backend podman"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestRegistryAuth(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"auths":{
		"https://index.docker.io/v1/":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("ana:hub-pass")) + `"},
		"ghcr.io":{"identitytoken":"tok"},
		"127.0.0.1:5000":{"username":"u","password":"p"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref, user, pass, token, server string
	}{
		{"busybox:latest", "ana", "hub-pass", "", "https://index.docker.io/v1/"},
		{"library/busybox", "ana", "hub-pass", "", "https://index.docker.io/v1/"},
		{"ghcr.io/nichd-bspc/llm:codex-latest", "", "", "tok", "ghcr.io"},
		{"127.0.0.1:5000/launch-test/busybox:latest", "u", "p", "", "127.0.0.1:5000"},
		{"quay.io/x/y", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			enc, warning := registryAuth(dir, tt.ref)
			if warning != "" {
				t.Errorf("warning %q", warning)
			}
			if tt.server == "" {
				if enc != "" {
					t.Errorf("credentials %q for a registry with none", enc)
				}
				return
			}
			ac, err := authconfig.Decode(enc)
			if err != nil {
				t.Fatal(err)
			}
			if ac.Username != tt.user || ac.Password != tt.pass || ac.IdentityToken != tt.token || ac.ServerAddress != tt.server {
				t.Errorf("auth %+v", ac)
			}
		})
	}
	t.Run("missing-helper-warns", func(t *testing.T) {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, "config.json"), []byte(`{"credsStore":"launch-test-no-such-helper"}`), 0o600)
		enc, warning := registryAuth(d, "busybox")
		if enc != "" || !strings.Contains(warning, "docker-credential-launch-test-no-such-helper") {
			t.Errorf("auth %q, warning %q", enc, warning)
		}
	})
	t.Run("no-config", func(t *testing.T) {
		if enc, warning := registryAuth(t.TempDir(), "busybox"); enc != "" || warning != "" {
			t.Errorf("auth %q, warning %q", enc, warning)
		}
	})
}

func TestConfigured(t *testing.T) {
	none := func(string) bool { return false }
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		name string
		h    Host
		want bool
	}{
		{"nothing", Host{Getenv: env(), GOOS: "linux", Exists: none}, false},
		{"DOCKER_HOST", Host{Getenv: env("DOCKER_HOST", "tcp://h:2375"), GOOS: "linux", Exists: none}, true},
		{"default socket", Host{Getenv: env(), GOOS: "linux", Exists: func(p string) bool { return p == "/var/run/docker.sock" }}, true},
		{"rootless socket", Host{Getenv: env("XDG_RUNTIME_DIR", "/run/user/5"), GOOS: "linux", Exists: func(p string) bool { return p == "/run/user/5/docker.sock" }}, true},
	} {
		if got := Configured(c.h); got != c.want {
			t.Errorf("%s: Configured = %v, want %v", c.name, got, c.want)
		}
	}
}
