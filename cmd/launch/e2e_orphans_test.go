//go:build integration

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// processesRunning lists the pids whose command line is exactly argv.
func processesRunning(argv ...string) []int {
	want := []byte(strings.Join(argv, "\x00") + "\x00")
	return processesWhose(func(cmdline []byte) bool { return bytes.Equal(cmdline, want) })
}

// watchers lists the pids of the watchers (launch _watch) of the binary
// bin, which is the test's own copy.
func watchers(bin string) []int { return processesWith([]byte(bin + "\x00_watch\x00")) }

// processesOf lists the pids of every process of the binary bin.
func processesOf(bin string) []int { return processesWith([]byte(bin + "\x00")) }

// processesWith lists the pids whose command line starts with prefix.
func processesWith(prefix []byte) []int {
	return processesWhose(func(cmdline []byte) bool { return bytes.HasPrefix(cmdline, prefix) })
}

// processesWhose lists the pids whose command line (NUL-separated, as
// /proc/PID/cmdline has it) match accepts.
func processesWhose(match func(cmdline []byte) bool) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && match(b) {
			out = append(out, pid)
		}
	}
	return out
}

// TestE2EOrphans: launch killed with SIGKILL at a random point of an
// attached session; the agent is gone within 10 s on every backend.
func TestE2EOrphans(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		seed := uint64(time.Now().UnixNano())
		rng := rand.New(rand.NewPCG(seed, 2))
		t.Logf("random delays seeded with %d", seed)
		for i := 0; i < 20; i++ {
			// A sleep of its own length marks this run's agent.
			secs := strconv.Itoa(6000 + i)
			delay := time.Duration(300+rng.IntN(1700)) * time.Millisecond
			c := s.cmd("--yes", "shell", "exec sleep "+secs)
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			c.Process.Kill()
			c.Wait()
			killed := time.Now()
			for len(processesRunning("sleep", secs)) > 0 {
				if time.Since(killed) > 10*time.Second {
					t.Errorf("run %d: launch killed after %v: the agent still runs 10 s later", i, delay)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	})
}

// TestE2EGCAfterCrash: launch and its watcher (the machine going down), and
// the engine's process of the session (Docker's containerd-shim, Podman's
// conmon, Apptainer's starter or a detached session's supervisor), killed
// with SIGKILL at random points of 20 runs, some detached; launch gc then
// frees every leftover (containers, scratch directories, state files), no
// agent runs on, and nothing else goes: a container launch did not make and
// the user's own files in the cache and scratch directories survive.
func TestE2EGCAfterCrash(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *session) {
		tmp := filepath.Join(s.home, "tmp")
		cache := filepath.Join(s.home, ".cache", "launch", "sif")
		for _, d := range []string{tmp, cache} {
			s.write(filepath.Join(d, "mine.txt"), "the user's")
		}
		s.write(filepath.Join(tmp, "launch.notes"), "the user's file, not a directory")
		s.env = append(s.env, "TMPDIR="+tmp)
		s.write(filepath.Join(s.ws, "secret", "key"), "k")
		foreign := fmt.Sprintf("not-launch-%d", time.Now().UnixNano())
		switch s.backend.name {
		case backendDocker:
			if out, err := exec.Command("docker", "create", "--name", foreign, "--label", "dev.launch.plan=imitation", "launch-test/busybox:latest", "true").CombinedOutput(); err != nil {
				t.Fatalf("docker create: %v: %s", err, out)
			}
			t.Cleanup(func() { exec.Command("docker", "rm", "-f", foreign).Run() })
		case backendPodman:
			if out, err := s.command("podman", "--url", fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID), "create", "--name", foreign, "localhost/launch-test/busybox:latest", "true").CombinedOutput(); err != nil {
				t.Fatalf("podman create: %v: %s", err, out)
			}
			t.Cleanup(func() {
				s.command("podman", "--url", fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID), "rm", "-f", foreign).Run()
			})
		}
		seed := uint64(time.Now().UnixNano())
		rng := rand.New(rand.NewPCG(seed, 3))
		t.Logf("random delays seeded with %d", seed)
		kills, halfUnpacked := 0, false
		// On Podman, launch talks to a service of the test's own, which
		// is killed too (the shared ones never are).
		var svc *privateService
		if s.backend.name == backendPodman && s.cred != nil {
			svc = startPrivatePodman(t, s)
			s.extraArgs = []string{"--url", svc.url}
		}
		svcKills := 0
		killEngineOf := func(launchPid int) bool {
			if svc != nil && rng.IntN(2) == 0 && svc.kill() {
				svcKills++
				return true
			}
			return killEngine(s, launchPid, "", 0)
		}
		for i := 0; i < 20; i++ {
			if svc != nil {
				svc.ensure()
			}
			agent := "exec sleep " + strconv.Itoa(7000+i)
			if s.backend.name != backendPodman && rng.IntN(4) == 0 {
				// A detached session whose engine process dies: Docker's
				// shim (the container exits), Apptainer's supervisor. (A
				// Podman container runs on without its conmon: a session,
				// not a leftover.)
				out, errOut, code := s.run("", "--yes", "--detach", "--mask", "secret", "shell", agent)
				if code != 0 {
					t.Fatalf("launch --detach: exit %d: %s", code, errOut)
				}
				time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
				if killEngine(s, 0, strings.TrimSpace(out), 5*time.Second) {
					kills++
				} else {
					t.Errorf("run %d: no engine process of the detached session %s to kill", i, strings.TrimSpace(out))
				}
				continue
			}
			c := s.cmd("--yes", "--mask", "secret", "shell", agent)
			// Its own process group: the kill takes the runtime with it,
			// as a machine going down does.
			if c.SysProcAttr == nil {
				c.SysProcAttr = &syscall.SysProcAttr{}
			}
			c.SysProcAttr.Setpgid = true
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			// The engine's process of the session (shim, conmon, starter)
			// dies too: before launch, after it, or not at all.
			order := rng.IntN(3)
			unpacking := filepath.Join(s.home, ".cache", "launch", "sandbox", ".unpack.*")
			if i == 0 && s.backend.name == backendSingularity && s.cred != nil {
				// An ordinary user has no FUSE here: the first run unpacks
				// the SIF into the cache. Killed in the middle, it leaves
				// a half-done unpack, which gc must free.
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
					if m, _ := filepath.Glob(unpacking); len(m) > 0 {
						order = 0 // at once
						break
					}
				}
			} else {
				time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
			}
			if order == 1 && killEngineOf(c.Process.Pid) {
				kills++
				time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
			}
			for _, w := range watchers(s.bin) {
				syscall.Kill(w, syscall.SIGKILL)
			}
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			c.Wait()
			for _, w := range watchers(s.bin) {
				syscall.Kill(w, syscall.SIGKILL)
			}
			if order == 2 && killEngineOf(c.Process.Pid) {
				kills++
			}
			if m, _ := filepath.Glob(unpacking); len(m) > 0 {
				halfUnpacked = true
			}
		}
		s.extraArgs = nil
		t.Logf("%d engine processes killed (%d of them the private podman service); a half-done unpack left: %v", kills, svcKills, halfUnpacked)
		if kills < 2 {
			t.Errorf("only %d kills of an engine process hit one: the runs did not test them", kills)
		}
		// The engine may still finish a create that a killed launch asked
		// for: let it settle, as it has by the time anyone runs gc (the
		// sessions listed the same, with the same states, for 3 s).
		settled, last := 0, ""
		for deadline := time.Now().Add(30 * time.Second); settled < 3 && time.Now().Before(deadline); time.Sleep(time.Second) {
			var now []string
			for _, i := range sessionsOf(t, s, true) {
				now = append(now, i.Name+"="+string(i.Status))
			}
			sort.Strings(now)
			if cur := strings.Join(now, " "); cur == last {
				settled++
			} else {
				settled, last = 0, cur
			}
		}
		out, errOut, code := s.runPlain("gc", "--dry-run")
		t.Logf("launch gc --dry-run:\n%s%s", out, errOut)
		if code != 0 {
			t.Fatalf("gc --dry-run: exit %d", code)
		}
		if halfUnpacked && !strings.Contains(out, "an unpack that did not finish") {
			t.Errorf("launch was killed while it unpacked the SIF; gc --dry-run does not list the half-done unpack")
		}
		if out, errOut, code = s.runPlain("gc"); code != 0 {
			t.Fatalf("gc: exit %d:\n%s%s", code, out, errOut)
		}
		if out, _, _ := s.runPlain("gc", "--dry-run"); !strings.Contains(out, "nothing to remove") {
			t.Errorf("a second gc still finds:\n%s", out)
		}
		if list := sessionsOf(t, s, true); len(list) != 0 {
			t.Errorf("after gc, ps -a lists %+v", list)
		}
		for i := 0; i < 20; i++ {
			if p := processesRunning("sleep", strconv.Itoa(7000+i)); len(p) > 0 {
				t.Errorf("after gc, agent %d still runs: pids %v", i, p)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "launch.*")); len(left) != 1 {
			t.Errorf("scratch left in TMPDIR: %v (want only launch.notes)", left)
		}
		for _, f := range []string{filepath.Join(tmp, "mine.txt"), filepath.Join(cache, "mine.txt"), filepath.Join(tmp, "launch.notes")} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("gc removed the user's %s", f)
			}
		}
		switch s.backend.name {
		case backendDocker:
			if err := exec.Command("docker", "inspect", foreign).Run(); err != nil {
				t.Errorf("gc removed %s, a container launch did not make", foreign)
			}
		case backendPodman:
			if err := s.command("podman", "--url", fmt.Sprintf("unix:///run/user/%d/podman/podman.sock", testUID), "inspect", foreign).Run(); err != nil {
				t.Errorf("gc removed %s, a container launch did not make", foreign)
			}
		}
	})
}
