package plan

import "strings"

// Platform is the platform of an image: always linux here, an architecture
// (a GOARCH name) and an optional variant ("v8" for arm64).
type Platform struct {
	OS      string
	Arch    string
	Variant string
}

// architectures are the GOARCH names that Linux container images are built
// for.
var architectures = map[string]bool{
	"amd64": true, "arm64": true, "386": true, "arm": true,
	"ppc64le": true, "s390x": true, "riscv64": true, "mips64le": true, "loong64": true,
}

// ParsePlatform reads "linux/ARCH", "linux/ARCH/VARIANT", or a bare ARCH
// (as --arch takes it). The zero Platform comes from "".
func ParsePlatform(s string) (Platform, error) {
	if s == "" {
		return Platform{}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) == 1 {
		parts = []string{"linux", parts[0]}
	}
	if len(parts) > 3 || parts[0] != "linux" {
		return Platform{}, Errorf(ErrInvalid, "platform %q: want linux/ARCH or linux/ARCH/VARIANT (or ARCH alone)", s)
	}
	p := Platform{OS: parts[0], Arch: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
		if p.Variant == "" {
			return Platform{}, Errorf(ErrInvalid, "platform %q: empty variant", s)
		}
	}
	if !architectures[p.Arch] {
		return Platform{}, Errorf(ErrInvalid, "platform %q: architecture %q: want amd64 or arm64 (or another GOARCH name: 386, arm, ppc64le, s390x, riscv64)", s, p.Arch)
	}
	return p, nil
}

// IsZero reports whether no platform is set (the engine's default).
func (p Platform) IsZero() bool { return p == Platform{} }

// String is the form ParsePlatform reads: "linux/arm64/v8", or "" for the
// zero Platform.
func (p Platform) String() string {
	if p.IsZero() {
		return ""
	}
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// MarshalText writes the String form, so that a Plan's JSON shows
// "linux/amd64".
func (p Platform) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads what ParsePlatform reads.
func (p *Platform) UnmarshalText(b []byte) error {
	q, err := ParsePlatform(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}
