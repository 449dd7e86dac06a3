package session

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sessions")
	if got, err := ReadStates(dir); err != nil || len(got) != 0 {
		t.Fatalf("no directory: %v %v", got, err)
	}
	code := 7
	st := State{Info: Info{Name: "launch-shell-w", Agent: "shell", Status: Exited, ExitCode: &code}, Supervisor: 42, Socket: "/run/x.sock", Log: filepath.Join(dir, "launch-shell-w.log")}
	if err := WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	write(t, st.Log, "output")
	write(t, filepath.Join(dir, "notes.txt"), "the user's")
	got, err := ReadStates(dir)
	if err != nil || len(got) != 1 || got[0].Name != st.Name || *got[0].ExitCode != 7 || got[0].Supervisor != 42 {
		t.Fatalf("ReadStates = %+v, %v", got, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "launch-shell-w.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode())
	}
	if err := RemoveState(dir, st.Name); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 || left[0].Name() != "notes.txt" {
		t.Errorf("after RemoveState: %v", left)
	}
}
