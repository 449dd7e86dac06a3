package naming

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/plan"
)

func TestJoinName(t *testing.T) {
	for _, c := range []struct {
		parts []string
		want  string
	}{
		{[]string{"launch", "codex", "proj"}, "launch-codex-proj"},
		{[]string{"launch", "codex", "my proj"}, "launch-codex-my-proj"},
		{[]string{"launch", "shell", "/"}, "launch-shell"},
		{[]string{"launch", "pi", "été..x"}, "launch-pi-t-..x"},
		{[]string{"", "-a-", "b  c"}, "a-b-c"},
	} {
		got := JoinName(c.parts...)
		if got != c.want {
			t.Errorf("JoinName(%q) = %q, want %q", c.parts, got, c.want)
		}
		if err := CheckName(got); err != nil {
			t.Errorf("JoinName(%q) = %q, which CheckName refuses: %v", c.parts, got, err)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, bad := range []string{"-x", ".x", "a b", "a/b", "ä"} {
		if err := CheckName(bad); !errors.Is(err, plan.ErrInvalid) || !strings.Contains(err.Error(), bad) {
			t.Errorf("CheckName(%q) = %v, want ErrInvalid naming it", bad, err)
		}
	}
	for _, good := range []string{"", "a", "launch-codex-x_1.2"} {
		if err := CheckName(good); err != nil {
			t.Errorf("CheckName(%q) = %v", good, err)
		}
	}
}

func TestNumbered(t *testing.T) {
	if got := Numbered("n", 1); got != "n" {
		t.Errorf("Numbered(n, 1) = %q", got)
	}
	if got := Numbered("n", 3); got != "n-3" {
		t.Errorf("Numbered(n, 3) = %q", got)
	}
}

func TestLabels(t *testing.T) {
	p := plan.Plan{Agent: "codex", Labels: map[string]string{LabelAgent: "codex"}}
	run := RunLabels(42, time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)))
	got, err := Labels(p, run)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{LabelAgent: "codex", LabelPlan: p.Hash(), LabelPID: "42", LabelStarted: "2026-01-02T02:04:05Z"}
	if len(got) != len(want) {
		t.Fatalf("Labels = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
	for name, extra := range map[string]map[string]string{
		"clash with the plan": {LabelAgent: "other"},
		"clash with launch's": {LabelPlan: "x"},
		"key with =":          {"a=b": "c"},
		"empty key":           {"": "c"},
	} {
		if _, err := Labels(p, extra); !errors.Is(err, plan.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}
