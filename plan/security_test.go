package plan

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCapability(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"NET_BIND_SERVICE", "CAP_NET_BIND_SERVICE", ""},
		{"cap_chown", "CAP_CHOWN", ""},
		{" CAP_SYS_PTRACE ", "CAP_SYS_PTRACE", ""},
		{"ALL", "", "--privileges image"},
		{"FLY", "", `capability "FLY": not a Linux capability`},
		{"", "", "not a Linux capability"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCapability(tt.in)
			if tt.err != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseCapability(%q) = %v, want ErrInvalid with %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCapability(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	got, err := CanonicalCapabilities([]string{"net_raw", "CHOWN", "CAP_NET_RAW"})
	if err != nil || strings.Join(got, ",") != "CAP_CHOWN,CAP_NET_RAW" {
		t.Errorf("CanonicalCapabilities = %q, %v", got, err)
	}
	if n := len(CapabilityNames()); n != 41 {
		t.Errorf("%d capabilities, want the 41 of Linux 6.x", n)
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{"512m", 512 << 20, ""},
		{"512MiB", 512 << 20, ""},
		{"512mb", 512 << 20, ""},
		{"4g", 4 << 30, ""},
		{"1.5G", 3 << 29, ""},
		{"10485760", 10 << 20, ""},
		{"8192k", 8 << 20, ""},
		{"1m", 0, "below 6m"},
		{"100", 0, "below 6m"},
		{"lots", 0, "not a size"},
		{"-1g", 0, "not a size"},
		{"1e9", 0, "not a size"},
		{"", 0, "not a size"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMemory(tt.in)
			if tt.err != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "512m") {
					t.Fatalf("ParseMemory(%q) = %v, want ErrInvalid with %q and an example", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			if back, err := ParseMemory(FormatBytes(got)); err != nil || back != got {
				t.Errorf("FormatBytes(%d) = %q does not parse back", got, FormatBytes(got))
			}
		})
	}
}

func TestParseCPUsAndPIDs(t *testing.T) {
	for in, want := range map[string]int64{"2": 2000, "0.5": 500, "1.25": 1250, "0.01": 10} {
		got, err := ParseCPUs(in)
		if err != nil || got != want {
			t.Errorf("ParseCPUs(%q) = %d, %v; want %d", in, got, err, want)
		}
		if FormatCPUs(got) != in {
			t.Errorf("FormatCPUs(%d) = %q, want %q", got, FormatCPUs(got), in)
		}
	}
	for _, in := range []string{"0", "-1", "two", "0.001", "1e3", "NaN", "Inf"} {
		if _, err := ParseCPUs(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseCPUs(%q) = %v, want ErrInvalid naming the value", in, err)
		}
	}
	for in, want := range map[string]int64{"100": 100, "none": 0, "0": 0, "16": 16} {
		if got, err := ParsePIDs(in); err != nil || got != want {
			t.Errorf("ParsePIDs(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"8", "-5", "many", "1.5"} {
		if _, err := ParsePIDs(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), in) {
			t.Errorf("ParsePIDs(%q) = %v, want ErrInvalid naming the value", in, err)
		}
	}
}

func TestPrivilegesOf(t *testing.T) {
	if p := PrivilegesOf(PrivilegesLeast, nil); !p.NoNewPrivileges || p.Capabilities != CapabilitiesNone || !p.Least() {
		t.Errorf("least = %+v", p)
	}
	if p := PrivilegesOf(PrivilegesImage, []string{"CAP_NET_ADMIN"}); p.NoNewPrivileges || p.Capabilities != CapabilitiesImage || p.Least() {
		t.Errorf("image = %+v", p)
	}
	if _, err := ParsePrivilegeMode("root"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"root"`) {
		t.Errorf("ParsePrivilegeMode(root) = %v", err)
	}
}
