package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The start-up benchmarks time whole launch processes, from exec to exit, the
// way a user runs them, against a hello-world Go program built by the
// benchmark on the same machine, and report ratios: absolute times vary
// between machines and with their load, the ratio much less. The two
// programs run interleaved, alternating which goes first, and every figure is
// a median. They use bin/launch from make build (run make bench).
//
// Goals (docs/design.md, Start-up): --version at most 1.5× hello-world,
// --dry-run codex at most 2×, a dry run's peak RSS within 1 MiB of
// hello-world's, and package initialisation at most 3 ms in all.

// helloSource is the program launch is compared with.
const helloSource = `package main

import "fmt"

func main() { fmt.Println("hello, world") }
`

// startEnv is what the start-up benchmarks run in: a home, a project
// directory to run in, an empty PATH directory (no engine CLI, no
// apptainer), engine sockets that do not exist, and a fake SIF.
type startEnv struct {
	launch, hello string
	// libs is hello-world linked with every package launch links but its
	// own: the part of launch's start-up that its dependencies cost.
	libs string
	dir  string // the project directory, the working directory
	env  []string
	sif  string
}

// newStartEnv builds hello-world and the libraries-only program into a temp
// dir and lays out the rest. LAUNCH_BENCH_BIN times another launch binary
// than bin/launch (an older build, to compare).
func newStartEnv(b *testing.B) startEnv {
	b.Helper()
	bin, err := filepath.Abs("../../bin/launch")
	if err != nil {
		b.Fatal(err)
	}
	if alt := os.Getenv("LAUNCH_BENCH_BIN"); alt != "" {
		bin = alt
	}
	if _, err := os.Stat(bin); err != nil {
		b.Fatalf("%v: run make build (or make bench) first", err)
	}
	tmp := b.TempDir()
	src := filepath.Join(tmp, "hello")
	for _, d := range []string{src, filepath.Join(tmp, "home"), filepath.Join(tmp, "proj"), filepath.Join(tmp, "path")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(src, "main.go"): helloSource,
		filepath.Join(src, "go.mod"):  "module hello\n",
		filepath.Join(tmp, "llm.sif"): "", // read by nothing in a dry run
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	hello := filepath.Join(tmp, "hello-world")
	// The same flags as the Makefile's build of launch.
	goBuild(b, goCmd, src, "-trimpath", "-ldflags", "-s -w", "-o", hello, ".")
	libs := filepath.Join(tmp, "libraries-only")
	goBuild(b, goCmd, ".", "-tags", benchTags, "-trimpath", "-ldflags", "-s -w", "-o", libs, librariesOnly(b, goCmd, tmp))
	return startEnv{
		launch: bin,
		hello:  hello,
		libs:   libs,
		dir:    filepath.Join(tmp, "proj"),
		sif:    filepath.Join(tmp, "llm.sif"),
		env: []string{
			"HOME=" + filepath.Join(tmp, "home"),
			"PATH=" + filepath.Join(tmp, "path"),
			"DOCKER_HOST=unix://" + filepath.Join(tmp, "no-docker.sock"),
			"CONTAINER_HOST=unix://" + filepath.Join(tmp, "no-podman.sock"),
		},
	}
}

// benchTags are the Makefile's TAGS.
const benchTags = "remote exclude_graphdriver_btrfs containers_image_openpgp"

func goBuild(b *testing.B, goCmd, dir string, args ...string) {
	b.Helper()
	build := exec.Command(goCmd, append([]string{"build"}, args...)...)
	build.Dir = dir
	build.Env = goEnv()
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// goEnv is the Makefile's environment for the go command.
func goEnv() []string { return append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=") }

// librariesOnly writes hello-world with a blank import of every package that
// launch links, this module's own left out (and the internal ones, which
// their importers bring), and returns the file, to build in this module.
func librariesOnly(b *testing.B, goCmd, dir string) string {
	b.Helper()
	list := exec.Command(goCmd, "list", "-tags", benchTags, "-deps", "-f",
		`{{if not (and .Module (eq .Module.Path "github.com/launchcli/launch"))}}{{.ImportPath}}{{end}}`, ".")
	list.Env = goEnv()
	out, err := list.Output()
	if err != nil {
		b.Fatalf("go list: %v", err)
	}
	var src strings.Builder
	src.WriteString("package main\n\nimport \"fmt\"\n\nimport (\n")
	for _, p := range strings.Fields(string(out)) {
		if p == "internal" || strings.HasPrefix(p, "internal/") || strings.Contains(p, "/internal/") || strings.HasSuffix(p, "/internal") || strings.HasPrefix(p, "vendor/") {
			continue
		}
		fmt.Fprintf(&src, "\t_ %q\n", p)
	}
	src.WriteString(")\n\nfunc main() { fmt.Println(\"hello, world\") }\n")
	file := filepath.Join(dir, "libraries-only.go")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return file
}

// startCase is one launch command line and the exit status it must end with
// (so that a benchmark never times an early usage error).
type startCase struct {
	name string
	argv []string
	code int
}

// cases are launch's command lines, and last the libraries-only program:
// the least that any launch process costs while it links them.
func (e startEnv) cases() []startCase {
	l := func(args ...string) []string { return append([]string{e.launch}, args...) }
	return []startCase{
		{"version", l("--version"), 0},
		{"dry-run-docker", l("--dry-run", "--backend", "docker", "codex"), 0},
		{"dry-run-podman", l("--dry-run", "--backend", "podman", "codex"), 0},
		{"dry-run-singularity", l("--dry-run", "--backend", "singularity", "--sif-path", e.sif, "codex"), 0},
		{"json", l("--json", "--backend", "docker", "codex"), 0},
		{"ps-no-engines", l("ps"), 0},
		{"doctor-no-engines", l("doctor"), 1},
		{"libraries-only", []string{e.libs}, 0},
	}
}

// procStat is what one process cost.
type procStat struct{ wall, cpu time.Duration }

// runProc runs argv to completion in e's environment and checks its exit
// status.
func (e startEnv) runProc(b *testing.B, extraEnv []string, code int, argv ...string) (procStat, []byte) {
	cmd := e.command(extraEnv, argv)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if got := cmd.ProcessState.ExitCode(); got != code {
		b.Fatalf("%s: exit %d (%v), want %d\n%s%s", strings.Join(argv, " "), got, err, code, stdout.Bytes(), stderr.Bytes())
	}
	st := procStat{wall: wall}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		st.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return st, stderr.Bytes()
}

func (e startEnv) command(extraEnv, argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = e.dir
	cmd.Env = append(slices.Clip(e.env), extraEnv...)
	return cmd
}

// rssRuns is how many times each program runs for its peak RSS (which
// varies little between runs).
const rssRuns = 7

// medianRSS is the median peak RSS of argv in KiB, or 0 where peakRSS cannot
// measure it (not Linux, ptrace not allowed), said once in the log.
func (e startEnv) medianRSS(b *testing.B, code int, argv ...string) int64 {
	var kib []int64
	for range rssRuns {
		k, got, err := peakRSS(e.command(nil, argv))
		if err != nil {
			b.Logf("peak RSS not measured: %v", err)
			return 0
		}
		if got != code {
			b.Fatalf("%s: exit %d, want %d", strings.Join(argv, " "), got, code)
		}
		kib = append(kib, k)
	}
	return median(kib)
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkProcess times whole launch processes against hello-world and
// reports, per command line: x-hello (median wall time over hello-world's),
// cpu-x-hello (the same for user+system CPU time, which a loaded machine
// disturbs less), launch-ms and hello-ms (the medians), peak-MiB,
// hello-peak-MiB and rss-over-hello-MiB (median peak RSS of each, from
// separate runs under peakRSS, and launch's excess).
func BenchmarkProcess(b *testing.B) {
	e := newStartEnv(b)
	for _, c := range e.cases() {
		b.Run(c.name, func(b *testing.B) {
			launch := c.argv
			var l, h []procStat
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					st, _ := e.runProc(b, nil, 0, e.hello)
					h = append(h, st)
				}
				st, _ := e.runProc(b, nil, c.code, launch...)
				l = append(l, st)
				if i%2 == 1 {
					st, _ := e.runProc(b, nil, 0, e.hello)
					h = append(h, st)
				}
			}
			b.StopTimer()
			reportRatios(b, l, h)
			lr, hr := e.medianRSS(b, c.code, launch...), e.medianRSS(b, 0, e.hello)
			if lr > 0 && hr > 0 {
				b.ReportMetric(float64(lr)/1024, "peak-MiB")
				b.ReportMetric(float64(hr)/1024, "hello-peak-MiB")
				b.ReportMetric(float64(lr-hr)/1024, "rss-over-hello-MiB")
			}
		})
	}
}

func reportRatios(b *testing.B, l, h []procStat) {
	field := func(s []procStat, f func(procStat) time.Duration) time.Duration {
		var out []time.Duration
		for _, x := range s {
			out = append(out, f(x))
		}
		return median(out)
	}
	wall := func(p procStat) time.Duration { return p.wall }
	cpu := func(p procStat) time.Duration { return p.cpu }
	lw, hw := field(l, wall), field(h, wall)
	lc, hc := field(l, cpu), field(h, cpu)
	b.ReportMetric(0, "ns/op") // the loop times both programs: meaningless
	b.ReportMetric(float64(lw)/float64(hw), "x-hello")
	if hc > 0 {
		b.ReportMetric(float64(lc)/float64(hc), "cpu-x-hello")
	}
	b.ReportMetric(ms(lw), "launch-ms")
	b.ReportMetric(ms(hw), "hello-ms")
}

// initTrace is one process's GODEBUG=inittrace=1 report: clock time per
// package, and the bytes allocated.
type initTrace struct {
	clock map[string]float64 // ms
	bytes int64
}

// parseInitTrace reads lines like
// "init net/http @1.2 ms, 0.071 ms clock, 4712 bytes, 49 allocs".
func parseInitTrace(stderr []byte) (initTrace, error) {
	t := initTrace{clock: map[string]float64{}}
	for line := range strings.Lines(string(stderr)) {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "init" || f[6] != "clock," {
			continue
		}
		c, err := strconv.ParseFloat(f[4], 64)
		if err != nil {
			return t, fmt.Errorf("inittrace line %q: %v", line, err)
		}
		n, err := strconv.ParseInt(f[7], 10, 64)
		if err != nil {
			return t, fmt.Errorf("inittrace line %q: %v", line, err)
		}
		t.clock[f[1]] += c
		t.bytes += n
	}
	if len(t.clock) == 0 {
		return t, fmt.Errorf("no inittrace lines in %q", stderr)
	}
	return t, nil
}

func (t initTrace) sum() float64 {
	var s float64
	for _, c := range t.clock {
		s += c
	}
	return s
}

// BenchmarkInit runs launch --version (and hello-world and the
// libraries-only program, interleaved) with GODEBUG=inittrace=1 and reports
// the sum of the package initialisation times: init-ms (median of the sums),
// init-min-ms (the least sum), init-floor-ms (the sum of each package's
// least time, the closest this gets to an idle machine), own-init-ms (this
// module's packages alone), hello-init-ms and libs-init-ms (the other two
// programs'), init-KiB (bytes allocated by init, which load does not
// change) and the number of packages; it logs the packages that cost most.
func BenchmarkInit(b *testing.B) {
	e := newStartEnv(b)
	debug := []string{"GODEBUG=inittrace=1"}
	var sums, own, helloSums, libSums []float64
	per := map[string][]float64{}
	var kib int64
	b.ResetTimer()
	for range b.N {
		_, stderr := e.runProc(b, debug, 0, e.launch, "--version")
		t, err := parseInitTrace(stderr)
		if err != nil {
			b.Fatal(err)
		}
		sums = append(sums, t.sum())
		var o float64
		for p, c := range t.clock {
			per[p] = append(per[p], c)
			if p == "main" || strings.HasPrefix(p, "github.com/launchcli/launch/") {
				o += c
			}
		}
		own = append(own, o)
		kib = t.bytes / 1024
		_, stderr = e.runProc(b, debug, 0, e.hello)
		if t, err = parseInitTrace(stderr); err != nil {
			b.Fatal(err)
		}
		helloSums = append(helloSums, t.sum())
		_, stderr = e.runProc(b, debug, 0, e.libs)
		if t, err = parseInitTrace(stderr); err != nil {
			b.Fatal(err)
		}
		libSums = append(libSums, t.sum())
	}
	b.StopTimer()
	type pkg struct {
		name     string
		med, min float64
	}
	var pkgs []pkg
	var floor float64
	for p, cs := range per {
		pkgs = append(pkgs, pkg{p, median(cs), slices.Min(cs)})
		floor += slices.Min(cs)
	}
	slices.SortFunc(pkgs, func(a, b pkg) int {
		if a.med != b.med {
			if a.med > b.med {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	var top strings.Builder
	// The testing package shows a benchmark's first 10 lines of log, over
	// all its runs: this report, once, from the run that counts (not the
	// N=1 trial).
	for _, p := range pkgs[:min(8, len(pkgs))] {
		fmt.Fprintf(&top, "\n  %6.3f ms median  %6.3f ms least  %s", p.med, p.min, p.name)
	}
	if b.N > 1 {
		b.Logf("launch --version, %d runs: package initialisation %.3f ms (median of the sums), %.3f ms least, %.3f ms floor, over %d packages, %.3f ms of it this module's; hello-world %.3f ms; the libraries-only program %.3f ms; costliest:%s",
			len(sums), median(sums), slices.Min(sums), floor, len(per), median(own), median(helloSums), median(libSums), top.String())
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(sums), "init-ms")
	b.ReportMetric(slices.Min(sums), "init-min-ms")
	b.ReportMetric(floor, "init-floor-ms")
	b.ReportMetric(median(own), "own-init-ms")
	b.ReportMetric(median(helloSums), "hello-init-ms")
	b.ReportMetric(median(libSums), "libs-init-ms")
	b.ReportMetric(float64(kib), "init-KiB")
	b.ReportMetric(float64(len(per)), "packages")
}
