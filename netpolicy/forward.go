package netpolicy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Forward is the container side of an allowlist: it accepts connections on
// l (the container's 127.0.0.1:PORT, named by HTTP_PROXY) and relays each,
// unchanged, to the proxy's Unix socket at socket. It returns when l is
// closed, after its relays have ended.
func Forward(l net.Listener, socket string) error {
	return serve(l, "unix", socket, func(c net.Conn, err error) {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nlaunch: the network proxy is gone ("+err.Error()+"); the session has no network\n")
	})
}

// Relay accepts connections on l and relays each, both ways, to addr on
// network (a login's callback on the container's loopback, published through
// l); a connection that addr refuses is closed. It returns when l is closed,
// after its relays have ended.
func Relay(l net.Listener, network, addr string) error {
	return serve(l, network, addr, func(net.Conn, error) {})
}

// serve relays each connection accepted on l to addr on network; refused
// tells a client whose upstream could not be dialled, before it is closed.
func serve(l net.Listener, network, addr string, refused func(net.Conn, error)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			up, err := net.Dial(network, addr)
			if err != nil {
				refused(c, err)
				return
			}
			defer up.Close()
			relay(c, up)
		}()
	}
}

// Probe connects to the proxy's Unix socket once and closes the
// connection: it reports whether this process may reach the socket at all.
func Probe(socket string) error {
	c, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return fmt.Errorf("the proxy's socket %s: %w", socket, err)
	}
	return c.Close()
}

// Connect opens one tunnel to host:port through the proxy's Unix socket and
// relays it to in and out: an SSH ProxyCommand (ssh -o ProxyCommand='launch
// _connect %h %p'). A refusal is an error quoting the proxy's answer.
func Connect(socket, host string, port int, in io.Reader, out io.Writer) error {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return fmt.Errorf("network proxy %q: %w", socket, err)
	}
	defer c.Close()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", addr, addr); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return fmt.Errorf("network proxy: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	go func() {
		io.Copy(c, in)
		closeWrite(c)
	}()
	_, err = io.Copy(out, br)
	return err
}
