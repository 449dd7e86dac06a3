package podman

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/launchcli/launch/internal/iostreams"
	"github.com/launchcli/launch/internal/naming"
	"github.com/launchcli/launch/internal/runner"
	sess "github.com/launchcli/launch/session"
)

// The session commands (launch ps, attach, stop, logs, gc) over the libpod
// REST API, as Exec's calls are (engine.go): the same connection, no
// wrapper packages.

// listed is a container as GET /containers/json returns it.
type listed struct {
	ID       string            `json:"Id"`
	Names    []string          `json:"Names"`
	Labels   map[string]string `json:"Labels"`
	State    string            `json:"State"`
	Exited   bool              `json:"Exited"`
	ExitCode int32             `json:"ExitCode"`
	Created  time.Time         `json:"Created"`
}

// Sessions lists the sessions of the user uid on the service c: the
// containers with launch's labels and uid's. Without all, only those not
// yet ended.
func Sessions(ctx context.Context, c *Conn, uid int, all bool) ([]sess.Info, error) {
	filters, _ := json.Marshal(map[string][]string{"label": {naming.LabelPlan, naming.LabelUser + "=" + strconv.Itoa(uid)}})
	var list []listed
	if err := c.do(ctx, http.MethodGet, "/containers/json", url.Values{"all": {"true"}, "filters": {string(filters)}}, nil, &list); err != nil {
		return nil, engineError(c, "list containers", err)
	}
	var out []sess.Info
	for _, l := range list {
		if !sess.Mine(l.Labels, uid) {
			continue
		}
		i := sess.FromLabels(l.Labels)
		i.ID, i.Backend, i.Endpoint = l.ID, "podman", c.Endpoint()
		if len(l.Names) > 0 {
			i.Name = l.Names[0]
		}
		i.Status = sess.Status(l.State)
		if i.Status.Ended() || l.Exited {
			i.Status = sess.Exited
			n := int(l.ExitCode)
			i.ExitCode = &n
		}
		if !all && i.Status.Ended() {
			continue
		}
		out = append(out, i)
	}
	sess.Sort(out)
	return out, nil
}

// ContainerSizes are the sizes of the writable layers of uid's session
// containers, by ID: what removing each frees (the image stays). Podman
// computes them on request (size=true), so only launch gc asks.
func ContainerSizes(ctx context.Context, c *Conn, uid int) (map[string]int64, error) {
	filters, _ := json.Marshal(map[string][]string{"label": {naming.LabelPlan, naming.LabelUser + "=" + strconv.Itoa(uid)}})
	var list []struct {
		ID   string `json:"Id"`
		Size *struct {
			RwSize int64 `json:"rwSize"`
		} `json:"Size"`
	}
	if err := c.do(ctx, http.MethodGet, "/containers/json", url.Values{"all": {"true"}, "size": {"true"}, "filters": {string(filters)}}, nil, &list); err != nil {
		return nil, engineError(c, "list container sizes", err)
	}
	out := map[string]int64{}
	for _, l := range list {
		if l.Size != nil {
			out[l.ID] = l.Size.RwSize
		}
	}
	return out, nil
}

// Stop ends the session s: SIGTERM to the container's init, which passes
// it on to the agent, SIGKILL after the stop timeout; then it is removed.
func Stop(ctx context.Context, c *Conn, s sess.Info) error {
	if err := c.Stop(ctx, s.ID); err != nil && errorCode(err) != http.StatusNotFound {
		return engineError(c, "stop container "+s.Name, err)
	}
	return Remove(ctx, c, s)
}

// Remove removes the session's container, forcefully, and then its proxy
// sidecar and the sidecar's volume if it has them.
func Remove(ctx context.Context, c *Conn, s sess.Info) error {
	if err := c.Remove(ctx, s.ID); err != nil {
		return fmt.Errorf("%w; remove it with `podman rm -f %s`", engineError(c, "remove container "+s.Name, err), s.Name)
	}
	if s.Sidecar != "" || s.SidecarVolume != "" {
		return removeSidecar(ctx, c, s.Sidecar, s.SidecarVolume)
	}
	return nil
}

// state is what the session commands read of a container.
type state struct {
	Config struct{ Tty bool }
	State  struct {
		Running  bool
		ExitCode int
	}
}

func (c *Conn) state(ctx context.Context, id string) (state, error) {
	var st state
	err := c.do(ctx, http.MethodGet, "/containers/%s/json", url.Values{"size": {"false"}}, nil, &st, id)
	return st, err
}

// Logs writes the session's output so far to out and errw and, with
// follow, what follows until it ends or ctx is cancelled.
func Logs(ctx context.Context, c *Conn, s sess.Info, follow bool, out, errw io.Writer) error {
	st, err := c.state(ctx, s.ID)
	if err != nil {
		return engineError(c, "inspect container "+s.Name, err)
	}
	conn, err := c.client()
	if err != nil {
		return err
	}
	params := url.Values{"stdout": {"true"}, "stderr": {"true"}, "follow": {strconv.FormatBool(follow)}}
	resp, err := conn.DoRequest(ctx, nil, http.MethodGet, "/containers/%s/logs", params, nil, s.ID)
	if err != nil {
		return engineError(c, "read the logs of container "+s.Name, err)
	}
	defer resp.Body.Close()
	if !resp.IsSuccess() {
		return engineError(c, "read the logs of container "+s.Name, resp.Process(nil))
	}
	if st.Config.Tty {
		_, err = io.Copy(out, resp.Body)
	} else {
		err = demux(resp.Body, out, errw)
	}
	if err != nil && ctx.Err() == nil {
		return engineError(c, "read the logs of container "+s.Name, err)
	}
	return nil
}

// Attach connects the streams st to the running session s (launch attach).
// It returns when the service reads detachKeys (the session runs on), when
// the session ends, or when ctx is cancelled (a detach too); ended reports
// whether the session is over, with its exit code.
func Attach(ctx context.Context, c *Conn, s sess.Info, st iostreams.Streams, detachKeys string) (ended bool, code int, err error) {
	now, err := c.state(ctx, s.ID)
	if err != nil {
		return false, 0, engineError(c, "inspect container "+s.Name, err)
	}
	if !now.State.Running {
		return true, now.State.ExitCode, nil
	}
	a := &attached{c: c, id: s.ID, name: s.Name, keys: detachKeys}
	keys, err := sess.DetachKeyBytes(detachKeys)
	if err != nil {
		return false, 0, err
	}
	if err := runner.Reattach(ctx, a, st, now.Config.Tty, keys); err != nil {
		return false, 0, err
	}
	after, err := c.state(context.WithoutCancel(ctx), s.ID)
	switch {
	case err != nil && errorCode(err) == http.StatusNotFound:
		return true, -1, nil
	case err != nil:
		return false, 0, engineError(c, "inspect container "+s.Name, err)
	case after.State.Running:
		return false, 0, nil
	}
	return true, after.State.ExitCode, nil
}

// attached is a running session as runner.Reattach drives it.
type attached struct {
	c        *Conn
	id, name string
	keys     string
}

var _ runner.Running = (*attached)(nil)

func (a *attached) Name() string { return a.name }

func (a *attached) Attach(ctx context.Context, in io.Reader, out, errw io.Writer) (runner.Attachment, error) {
	actx, cancel := context.WithCancel(ctx)
	ready := make(chan bool, 1)
	done := make(chan error, 1)
	go func() { done <- a.c.attach(actx, a.id, a.keys, in, out, errw, ready) }()
	select {
	case <-ready:
		return runner.Attachment{Done: done, Close: cancel}, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = fmt.Errorf("the attach ended before it was connected")
		}
		return runner.Attachment{}, err
	}
}

func (a *attached) Resize(ctx context.Context, width, height uint) error {
	return a.c.Resize(ctx, a.id, width, height)
}

func (a *attached) EngineError(what string, err error) error {
	if strings.Contains(err.Error(), "detached") {
		return nil
	}
	return engineError(a.c, what, err)
}

// ImageOf returns the ID, size and names (tags) of the image ref names on
// the service c; an empty ID when ref names none.
func ImageOf(ctx context.Context, c *Conn, ref string) (id string, size int64, names []string, err error) {
	var img struct {
		ID       string   `json:"Id"`
		Size     int64    `json:"Size"`
		RepoTags []string `json:"RepoTags"`
	}
	err = c.do(ctx, http.MethodGet, "/images/%s/json", nil, nil, &img, ref)
	if errorCode(err) == http.StatusNotFound {
		return "", 0, nil, nil
	}
	if err != nil {
		return "", 0, nil, engineError(c, fmt.Sprintf("inspect image %q", ref), err)
	}
	return img.ID, img.Size, img.RepoTags, nil
}

// ImagesInUse returns the IDs of the images that containers on the
// service c use: every container, ended ones included.
func ImagesInUse(ctx context.Context, c *Conn) (map[string]bool, error) {
	var list []struct {
		ImageID string `json:"ImageID"`
	}
	if err := c.do(ctx, http.MethodGet, "/containers/json", url.Values{"all": {"true"}}, nil, &list); err != nil {
		return nil, engineError(c, "list containers", err)
	}
	out := map[string]bool{}
	for _, l := range list {
		out[l.ImageID] = true
	}
	return out, nil
}

// RemoveImage removes the reference ref from the service c, not
// forcefully: the image goes with it when ref was its last name, and stays
// under its other names (a tag of the user's) otherwise.
func RemoveImage(ctx context.Context, c *Conn, ref string) error {
	err := c.do(ctx, http.MethodDelete, "/images/%s", nil, nil, nil, ref)
	if err != nil && errorCode(err) != http.StatusNotFound {
		return engineError(c, fmt.Sprintf("remove image %q", ref), err)
	}
	return nil
}
