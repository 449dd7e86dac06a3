package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/naming"
	sess "github.com/launchcli/launch/session"
)

// TestNoSessionNamesUnreachedBackends: a name found nowhere is a usage
// error that also names the backend that did not answer, since the
// session may be there.
func TestNoSessionNamesUnreachedBackends(t *testing.T) {
	state := t.TempDir()
	h := fakeHost(fakeFS(), []string{"DOCKER_HOST=tcp://127.0.0.1:1", "XDG_STATE_HOME=" + state, "XDG_RUNTIME_DIR=" + state}, false)
	h.LookPath = func(string) (string, error) { return "", errors.New("not found") }
	err := withSessions(context.Background(), h, func(bs []sessionBackend) error {
		_, err := findSession(context.Background(), bs, "launch-codex-gone")
		return err
	})
	if err == nil {
		t.Fatal("no error for a session that is nowhere")
	}
	if !errors.Is(err, errUsage) {
		t.Errorf("%v: not a usage error", err)
	}
	msg := err.Error()
	for _, want := range []string{`session "launch-codex-gone": no such session of yours`, "did not answer", "127.0.0.1:1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

// TestPrintSessionsPorts: launch ps shows a session's published ports with
// its network, from the container's labels.
func TestPrintSessionsPorts(t *testing.T) {
	i := sess.FromLabels(map[string]string{naming.LabelAgent: "shell", naming.LabelNetwork: "open", naming.LabelPorts: "127.0.0.1:8080:80,[::1]:9000:9000"})
	i.Name, i.Status = "launch-shell-proj", sess.Running
	var b strings.Builder
	printSessions(&b, "/home/ana", []sess.Info{i}, time.Now())
	if want := "open, ports 127.0.0.1:8080:80 [::1]:9000:9000"; !strings.Contains(b.String(), want) {
		t.Errorf("launch ps lacks %q:\n%s", want, b.String())
	}
}
