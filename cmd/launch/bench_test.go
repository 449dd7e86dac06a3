package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkDryRunProcess times a whole `launch --dry-run codex` process, from
// exec to exit, the way a user runs it, and reports its peak resident memory.
// It uses bin/launch from make build (run make bench).
func BenchmarkDryRunProcess(b *testing.B) {
	bin, err := filepath.Abs("../../bin/launch")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		b.Fatalf("%v: run make build (or make bench) first", err)
	}
	ws := b.TempDir()
	var maxRSS int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "--dry-run", "--backend", "docker", "codex")
		cmd.Dir = ws
		cmd.Env = []string{"HOME=" + ws, "PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > maxRSS {
			maxRSS = ru.Maxrss // KiB on Linux
		}
	}
	b.ReportMetric(float64(maxRSS)/1024, "peak-MiB")
}
