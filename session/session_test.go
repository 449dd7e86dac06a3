package session

import (
	"strings"
	"testing"
	"time"
)

func TestCheckDetachKeys(t *testing.T) {
	for _, c := range []struct {
		name, keys string
		ok         bool
	}{
		{"default", DefaultDetachKeys, true},
		{"empty", "", true},
		{"one-char", "a", true},
		{"ctrl-upper", "CTRL-A,ctrl-_", true},
		{"word", "ctrl-pq", false},
		{"not-ctrl", "alt-p", false},
		{"empty-key", "ctrl-p,", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckDetachKeys(c.keys)
			if (err == nil) != c.ok {
				t.Fatalf("CheckDetachKeys(%q) = %v", c.keys, err)
			}
			if err != nil && !strings.Contains(err.Error(), "ctrl-X") {
				t.Errorf("error does not say what to type: %v", err)
			}
		})
	}
}

func TestDetachKeyBytes(t *testing.T) {
	for keys, want := range map[string]string{"ctrl-p,ctrl-q": "\x10\x11", "ctrl-@,ctrl-_,x": "\x00\x1fx", "CTRL-A": "\x01", "": ""} {
		got, err := DetachKeyBytes(keys)
		if err != nil || string(got) != want {
			t.Errorf("DetachKeyBytes(%q) = %q, %v; want %q", keys, got, err, want)
		}
	}
}

func TestFind(t *testing.T) {
	list := []Info{{Name: "launch-codex-a", ID: "abcdef123"}, {Name: "abcd", ID: "0123"}, {Name: "x", ID: "abcd999"},
		{Name: "launch-shell-w", ID: "d1", Backend: "docker"}, {Name: "launch-shell-w", ID: "p1", Backend: "podman"}}
	for _, c := range []struct {
		name string
		want []string
	}{
		{"launch-codex-a", []string{"launch-codex-a"}},
		{"abcd", []string{"abcd"}}, // a name wins over an ID prefix
		{"abcde", []string{"launch-codex-a"}},
		{"abc", nil}, // too short for an ID
		{"nope", nil},
		{"launch-shell-w", []string{"launch-shell-w/docker", "launch-shell-w/podman"}}, // both, not the first
	} {
		var got []string
		for _, s := range Find(list, c.name) {
			if s.Backend != "" {
				s.Name += "/" + s.Backend
			}
			got = append(got, s.Name)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("Find(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSort(t *testing.T) {
	t0 := time.Unix(1000, 0)
	list := []Info{{Name: "b", Started: t0.Add(time.Second)}, {Name: "c", Started: t0}, {Name: "a", Started: t0}}
	Sort(list)
	if list[0].Name != "a" || list[1].Name != "c" || list[2].Name != "b" {
		t.Errorf("sorted %v", list)
	}
}
