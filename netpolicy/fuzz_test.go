package netpolicy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/launchcli/launch/plan"
)

// FuzzRequest feeds raw requests to the proxy's handler: it must never
// panic, and must never let a request for a host outside the allowlist
// through (the test dialer fails the test if it is asked to).
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		"CONNECT good.test:443 HTTP/1.1\r\nHost: good.test:443\r\n\r\n",
		"GET http://bad.test/x HTTP/1.1\r\nHost: bad.test\r\n\r\n",
		"GET http://GOOD.test./ HTTP/1.1\r\n\r\n",
		"CONNECT [::1]:22 HTTP/1.1\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: good.test\r\n\r\n",
		"GET ftp://good.test/ HTTP/1.1\r\n\r\n",
		"CONNECT good.test.evil:443 HTTP/1.1\r\n\r\n",
	} {
		f.Add(s)
	}
	n, _ := plan.ParseNetwork("allow=good.test,*.wild.test:443")
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		p := &Proxy{Allow: NewMatcher(n.Allow), Policy: n.String()}
		p.Dial = func(_ context.Context, _, addr string) (net.Conn, error) {
			host, port, _ := splitHostPort(addr)
			if !p.Allow.Allows(host, port) {
				t.Fatalf("dialled %q, which the allowlist refuses", addr)
			}
			return nil, errNoNetwork
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code == http.StatusForbidden && !bytes.Contains(w.Body.Bytes(), []byte("is not in the network allowlist")) {
			t.Fatalf("403 without the reason: %q", w.Body.Bytes())
		}
	})
}

var errNoNetwork = errors.New("the fuzz test has no network")

func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	return h, n, err
}
