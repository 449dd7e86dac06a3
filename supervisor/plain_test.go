package supervisor

import (
	"bytes"
	"testing"
)

// TestPlainWriter: colours, cursor moves, titles and charset switches are
// left out of the log, whichever write boundary splits them.
func TestPlainWriter(t *testing.T) {
	in := "\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok \x1b(Bplain\x1b[2K\x1b[?25l done \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x1b7\n"
	const want = "red ok plain done link\n"
	for cut := 0; cut <= len(in); cut++ {
		var b bytes.Buffer
		p := &plainWriter{w: &b}
		p.Write([]byte(in[:cut]))
		p.Write([]byte(in[cut:]))
		if b.String() != want {
			t.Fatalf("split at %d: %q, want %q", cut, b.String(), want)
		}
	}
}
