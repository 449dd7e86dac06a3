package podman

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

// What `podman machine init` writes on a Mac (Podman 5).
const machineConnections = `{"Connection":{"Default":"podman-machine-default","Connections":{
 "podman-machine-default":{"URI":"ssh://core@127.0.0.1:53720/run/user/501/podman/podman.sock","Identity":"/Users/ana/.local/share/containers/podman/machine/machine","IsMachine":true},
 "podman-machine-default-root":{"URI":"ssh://root@127.0.0.1:53720/run/podman/podman.sock","Identity":"/Users/ana/.local/share/containers/podman/machine/machine","IsMachine":true},
 "build":{"URI":"ssh://me@build.example:22/run/user/1000/podman/podman.sock","Identity":"/home/me/.ssh/id_ed25519"}}},"Farm":{}}`

const serviceConf = `[engine]
active_service = "hpc"
[engine.service_destinations.hpc]
uri = "ssh://me@login1:22/run/user/1000/podman/podman.sock"
identity = "/home/me/.ssh/id_hpc"
`

func host(env map[string]string, files map[string]string, sockets ...string) Host {
	return Host{
		Getenv: func(k string) string { return env[k] },
		Home:   "/home/me",
		GOOS:   "linux",
		UID:    1000,
		ReadFile: func(p string) ([]byte, error) {
			if c, ok := files[p]; ok {
				return []byte(c), nil
			}
			return nil, fs.ErrNotExist
		},
		Exists: func(p string) bool {
			for _, s := range sockets {
				if s == p {
					return true
				}
			}
			return false
		},
		LookPath: func(string) (string, error) { return "", exec.ErrNotFound },
	}
}

func TestEndpoints(t *testing.T) {
	conns := "/home/me/.config/containers/podman-connections.json"
	tests := []struct {
		name  string
		h     Host
		want  []string // URI (Source)
		ident string   // the first endpoint's identity
	}{
		{"container-host", host(map[string]string{"CONTAINER_HOST": "ssh://me@box/run/podman/podman.sock", "CONTAINER_SSHKEY": "/k", "CONTAINER_CONNECTION": "build"}, map[string]string{conns: machineConnections}),
			[]string{"ssh://me@box/run/podman/podman.sock (CONTAINER_HOST)"}, "/k"},
		{"container-connection", host(map[string]string{"CONTAINER_CONNECTION": "build"}, map[string]string{conns: machineConnections}),
			[]string{`ssh://me@build.example:22/run/user/1000/podman/podman.sock (connection "build" in ` + conns + ` (CONTAINER_CONNECTION))`}, "/home/me/.ssh/id_ed25519"},
		{"default-connection", host(nil, map[string]string{conns: machineConnections}),
			[]string{`ssh://core@127.0.0.1:53720/run/user/501/podman/podman.sock (connection "podman-machine-default" in ` + conns + `)`}, "/Users/ana/.local/share/containers/podman/machine/machine"},
		{"connections-conf-env", host(map[string]string{"PODMAN_CONNECTIONS_CONF": "/c.json"}, map[string]string{"/c.json": machineConnections}),
			[]string{`ssh://core@127.0.0.1:53720/run/user/501/podman/podman.sock (connection "podman-machine-default" in /c.json)`}, "/Users/ana/.local/share/containers/podman/machine/machine"},
		{"containers-conf-active-service", host(nil, map[string]string{"/home/me/.config/containers/containers.conf": serviceConf}),
			[]string{`ssh://me@login1:22/run/user/1000/podman/podman.sock (service "hpc" in /home/me/.config/containers/containers.conf)`}, "/home/me/.ssh/id_hpc"},
		{"sockets", host(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, nil),
			[]string{"unix:///run/user/1000/podman/podman.sock (rootless socket)", "unix:///run/podman/podman.sock (rootful socket)"}, ""},
		{"sockets-without-xdg", host(nil, nil),
			[]string{"unix:///run/user/1000/podman/podman.sock (rootless socket)", "unix:///run/podman/podman.sock (rootful socket)"}, ""},
	}
	withURL := host(map[string]string{"CONTAINER_HOST": "unix:///other.sock", "CONTAINER_SSHKEY": "/k"}, nil)
	withURL.URL = "ssh://me@box:2222/run/podman/podman.sock"
	tests = append(tests, struct {
		name  string
		h     Host
		want  []string
		ident string
	}{"url-flag", withURL, []string{"ssh://me@box:2222/run/podman/podman.sock (--url)"}, "/k"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps, err := Endpoints(tt.h)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ep := range eps {
				got = append(got, ep.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("endpoints\n %s\nwant\n %s", strings.Join(got, "\n "), strings.Join(tt.want, "\n "))
			}
			if eps[0].Identity != tt.ident {
				t.Errorf("identity %q, want %q", eps[0].Identity, tt.ident)
			}
		})
	}
}

// TestEndpointsMachineSocket: on a Mac, a podman machine's forwarded API
// socket replaces its ssh connection when it exists.
func TestEndpointsMachineSocket(t *testing.T) {
	conns := "/Users/ana/.config/containers/podman-connections.json"
	sock := "/var/folders/x/T/podman/podman-machine-default-api.sock"
	h := host(map[string]string{"TMPDIR": "/var/folders/x/T"}, map[string]string{conns: machineConnections}, sock)
	h.Home, h.GOOS = "/Users/ana", "darwin"
	eps, err := Endpoints(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 1 || eps[0].URI != "unix://"+sock || !eps[0].Machine {
		t.Errorf("endpoints %+v, want the machine's API socket", eps)
	}
	h.Exists = func(string) bool { return false }
	eps, _ = Endpoints(h)
	if eps[0].URI != "ssh://core@127.0.0.1:53720/run/user/501/podman/podman.sock" || eps[0].Identity == "" || !eps[0].Machine {
		t.Errorf("without the socket: %+v, want the ssh connection with its key and the machine flag", eps[0])
	}
}

func TestEndpointsErrors(t *testing.T) {
	conns := "/home/me/.config/containers/podman-connections.json"
	_, err := Endpoints(host(map[string]string{"CONTAINER_CONNECTION": "nope"}, map[string]string{conns: machineConnections}))
	if !errors.Is(err, plan.ErrInvalid) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "podman system connection ls") {
		t.Errorf("unknown connection: %v", err)
	}
	_, err = Endpoints(host(nil, map[string]string{conns: "{"}))
	if !errors.Is(err, plan.ErrInvalid) || !strings.Contains(err.Error(), conns) {
		t.Errorf("broken file: %v", err)
	}
}

// TestConnectErrors: what a user reads when no service answers.
func TestConnectErrors(t *testing.T) {
	t.Run("nothing-linux", func(t *testing.T) {
		_, err := Connect(context.Background(), host(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, nil))
		for _, w := range []string{"unix:///run/user/1000/podman/podman.sock (rootless socket): no socket", "unix:///run/podman/podman.sock (rootful socket): no socket", "systemctl --user start podman.socket", "CONTAINER_HOST"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("error %v does not say %q", err, w)
			}
		}
	})
	t.Run("nothing-mac", func(t *testing.T) {
		h := host(nil, nil)
		h.GOOS = "darwin"
		_, err := Connect(context.Background(), h)
		if err == nil || !strings.Contains(err.Error(), "podman machine start") {
			t.Errorf("error %v does not say podman machine start", err)
		}
	})
	t.Run("named-machine-down", func(t *testing.T) {
		h := host(map[string]string{"CONTAINER_HOST": "unix:///nonexistent/api.sock"}, nil)
		_, err := Connect(context.Background(), h)
		if err == nil || !strings.Contains(err.Error(), "unix:///nonexistent/api.sock (CONTAINER_HOST)") {
			t.Errorf("error %v does not name the connection tried", err)
		}
		// Said before dialling: the bindings retry a dial for 600 ms.
		if err == nil || !strings.Contains(err.Error(), "(CONTAINER_HOST): no socket;") {
			t.Errorf("error %v does not say that the socket is missing", err)
		}
	})
}

// refusingAddr is a loopback address where nothing listens: a listener's,
// closed.
func refusingAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestMachineStopped classifies the errors of real dials, through the
// bindings as Connect makes them: a machine's connection whose ssh port or
// forwarded socket refuses is a stopped machine; the same refusal of a
// connection that is no machine's, and a machine's ssh that answers but
// fails (here, a server that hangs up before the handshake), are not.
func TestMachineStopped(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // the ssh client's known_hosts
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hangup.Close()
	go func() {
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	refused := refusingAddr(t)
	src := `connection "podman-machine-default-root" in /c.json`
	machine := Endpoint{URI: "ssh://core@" + refused + "/run/podman/podman.sock", Machine: true, Source: src}
	tests := []struct {
		name  string
		ep    Endpoint
		agent string // SSH_AUTH_SOCK; unset when empty
		want  string // in what, or "" for not classified
	}{
		{"ssh-refused", machine, "", `the podman machine "podman-machine-default" is not running: nothing answers at ` + refused},
		{"api-socket-gone", Endpoint{URI: "unix:///nonexistent/podman-machine-default-api.sock", Machine: true, Source: src + ", its forwarded API socket"}, "", `the podman machine "podman-machine-default" is not running`},
		{"not-a-machine", Endpoint{URI: machine.URI, Source: "CONTAINER_HOST"}, "", ""},
		{"ssh-agent-gone", machine, "/nonexistent/agent.sock", ""},
		{"ssh-hangs-up", Endpoint{URI: "ssh://core@" + hangup.Addr().String() + "/run/podman/podman.sock", Machine: true, Source: src}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SSH_AUTH_SOCK", tt.agent)
			if tt.agent == "" {
				os.Unsetenv("SSH_AUTH_SOCK")
			}
			_, err := dial(context.Background(), tt.ep)
			if err == nil {
				t.Fatal("dial succeeded")
			}
			what, fix, ok := machineStopped(tt.ep, err)
			if tt.want == "" {
				if ok {
					t.Errorf("%v: classified as a stopped machine: %s", err, what)
				}
				return
			}
			if !ok || !strings.Contains(what, tt.want) || fix != "start it: `podman machine start podman-machine-default`, or start it in Podman Desktop" {
				t.Errorf("%v: what %q, fix %q; want %q and podman machine start", err, what, fix, tt.want)
			}
			if err := connectError(tt.ep, err); !strings.Contains(err.Error(), "podman machine start podman-machine-default") || strings.Contains(err.Error(), "dial ") {
				t.Errorf("Connect's error %q: want podman machine start, without the dial error", err)
			}
		})
	}
}
