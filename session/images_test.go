package session

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestRecordPull(t *testing.T) {
	file := ImagesFile(t.TempDir())
	if list, err := ReadPulled(file); err != nil || len(list) != 0 {
		t.Fatalf("missing file: %v, %v", list, err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := Pulled{Backend: "docker", Endpoint: "unix:///var/run/docker.sock", Ref: "127.0.0.1:5000/x:1", ID: "sha256:aa", Time: at}
	b := a
	b.Backend, b.Endpoint = "podman", "unix:///run/podman/podman.sock"
	for _, p := range []Pulled{a, b} {
		if err := RecordPull(file, p); err != nil {
			t.Fatal(err)
		}
	}
	a2 := a
	a2.ID = "sha256:bb"
	if err := RecordPull(file, a2); err != nil {
		t.Fatal(err)
	}
	list, err := ReadPulled(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0] != b || list[1] != a2 {
		t.Errorf("record = %+v; want the podman pull and the newer docker pull", list)
	}
	if err := ForgetPulled(file, func(p Pulled) bool { return p.Backend == "podman" }); err != nil {
		t.Fatal(err)
	}
	if list, _ := ReadPulled(file); len(list) != 1 || list[0] != a2 {
		t.Errorf("after forget = %+v", list)
	}
}

// TestRecordPullConcurrent: launches pulling at once lose no record.
func TestRecordPullConcurrent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "images.json")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := RecordPull(file, Pulled{Backend: "docker", Ref: string(rune('a' + i))}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if list, _ := ReadPulled(file); len(list) != 20 {
		t.Errorf("%d records; want 20", len(list))
	}
}
