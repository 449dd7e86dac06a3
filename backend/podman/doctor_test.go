package podman

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// fakeCLI answers podman's calls from a table: argv joined by spaces →
// stdout, or an exit code.
type fakeCLI struct {
	onPath map[string]bool
	out    map[string]string
	exit   map[string]int
}

func (f fakeCLI) LookPath(name string) (string, error) {
	if f.onPath[name] {
		return "/usr/bin/" + name, nil
	}
	return "", errors.New("not found")
}

func (f fakeCLI) Capture(_ context.Context, argv []string) ([]byte, []byte, error) {
	k := strings.Join(argv, " ")
	if code, ok := f.exit[k]; ok {
		// A real exit status, from a real process.
		err := exec.Command("sh", "-c", "exit "+strconv.Itoa(code)).Run()
		return nil, []byte("Error: something failed\n"), err
	}
	out, ok := f.out[k]
	if !ok {
		panic("unexpected call: " + k)
	}
	return []byte(out), nil, nil
}

func TestDoctor(t *testing.T) {
	info := `{"host":{"security":{"rootless":true},"ociRuntime":{"name":"crun"},"serviceIsRemote":false},"version":{"Version":"5.4.2"}}`
	tests := []struct {
		name      string
		cli       fakeCLI
		wantReady bool
		want      []string // in facts or problems
	}{
		{"missing", fakeCLI{}, false, []string{"podman is not installed", "install Podman"}},
		{"service-down", fakeCLI{onPath: map[string]bool{"podman": true}, exit: map[string]int{"/usr/bin/podman info --format json": 1}}, false, []string{"podman info: something failed", "podman machine start"}},
		{"ready-no-image-no-runsc", fakeCLI{onPath: map[string]bool{"podman": true}, out: map[string]string{"/usr/bin/podman info --format json": info}, exit: map[string]int{"/usr/bin/podman image exists img": 1}}, true, []string{"version=5.4.2", "rootless=yes", "runsc=not installed", "podman pull img"}},
		{"ready", fakeCLI{onPath: map[string]bool{"podman": true, "runsc": true}, out: map[string]string{"/usr/bin/podman info --format json": info, "/usr/bin/podman image exists img": ""}}, true, []string{"runsc=installed (/usr/bin/runsc)", "image=img (present)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Doctor(context.Background(), tt.cli, host(nil, nil), "img")
			var all []string
			for _, f := range r.Facts {
				all = append(all, f.Name+"="+f.Value)
			}
			for _, p := range r.Problems {
				all = append(all, p.What, p.Fix)
			}
			if r.Ready != tt.wantReady {
				t.Errorf("ready = %v, want %v (%q)", r.Ready, tt.wantReady, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(strings.Join(all, "\n"), w) {
					t.Errorf("report lacks %q: %q", w, all)
				}
			}
		})
	}
}

// TestDoctorMachineStopped: a default connection to a podman machine whose
// ssh port refuses (the machine is stopped) is reported as such, with the
// command that starts it, and not as a dial error; the podman command is
// not asked (fakeCLI panics on a call it does not expect).
func TestDoctorMachineStopped(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // the ssh client's known_hosts
	t.Setenv("SSH_AUTH_SOCK", "")
	os.Unsetenv("SSH_AUTH_SOCK")
	conns := "/home/me/.config/containers/podman-connections.json"
	uri := "ssh://core@" + refusingAddr(t) + "/run/user/501/podman/podman.sock"
	file := `{"Connection":{"Default":"podman-machine-default","Connections":{"podman-machine-default":{"URI":"` + uri + `","IsMachine":true}}}}`
	r := Doctor(context.Background(), fakeCLI{onPath: map[string]bool{"podman": true}}, host(nil, map[string]string{conns: file}), "img")
	if r.Ready || len(r.Problems) != 1 {
		t.Fatalf("report %+v, want one problem, not ready", r)
	}
	p := r.Problems[0]
	if !p.Fatal || !strings.Contains(p.What, `the podman machine "podman-machine-default" is not running`) || !strings.Contains(p.Fix, "podman machine start podman-machine-default") {
		t.Errorf("problem %+v, want the machine named as stopped and podman machine start", p)
	}
	if strings.Contains(p.What, "dial") || strings.Contains(p.What, "unable to connect") {
		t.Errorf("problem %q shows the raw dial error", p.What)
	}
	if got := r.Facts[len(r.Facts)-1]; got.Name != "connection" || !strings.Contains(got.Value, uri) {
		t.Errorf("facts %+v, want the connection last", r.Facts)
	}
}
