package netpolicy

import (
	"io"
	"log"
)

// discardLogger silences net/http's own log of bad clients: the proxy logs
// its decisions itself, and a malformed request is the client's problem.
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
