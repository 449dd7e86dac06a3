package supervisor

import "io"

// plainWriter writes what passes through it without ANSI escape sequences
// (colours, cursor moves, window titles): the session's log is read with
// launch logs, less or grep, not drawn by a terminal. The live terminal of
// launch attach gets every byte. A sequence may span writes.
type plainWriter struct {
	w     io.Writer
	state escState
}

type escState int

const (
	text     escState = iota
	esc               // after ESC
	escInter          // ESC and intermediate bytes (ESC ( B): up to a final byte
	csi               // ESC [ ...: up to a final byte 0x40-0x7e
	str               // ESC ] (OSC), P, X, ^, _: up to BEL or ESC \
	strEsc            // ESC inside a string
)

func (p *plainWriter) Write(b []byte) (int, error) {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch p.state {
		case text:
			if c == 0x1b {
				p.state = esc
			} else {
				out = append(out, c)
			}
		case esc:
			switch {
			case c == '[':
				p.state = csi
			case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
				p.state = str
			case c >= 0x20 && c <= 0x2f:
				p.state = escInter
			default:
				p.state = text // a two-byte sequence (ESC 7, ESC =)
			}
		case escInter:
			if c < 0x20 || c > 0x2f {
				p.state = text
			}
		case csi:
			if c >= 0x40 && c <= 0x7e {
				p.state = text
			}
		case str:
			switch c {
			case 0x07:
				p.state = text
			case 0x1b:
				p.state = strEsc
			}
		case strEsc:
			p.state = str
			if c == '\\' {
				p.state = text
			}
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
