package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// peakRSS runs cmd to completion and returns its peak resident set size in
// KiB: the VmHWM of /proc/PID/status, read at the process's exit under ptrace
// (PTRACE_O_TRACEEXIT stops it while its memory is still mapped). The
// rusage that wait4 reports will not do: Linux starts a child's ru_maxrss at
// the peak of the address space its exec replaced, and os/exec's vfork
// shares the parent's, so every child of a test binary "peaks" at the test
// binary's own size. The process's exit status is returned as well.
func peakRSS(cmd *exec.Cmd) (kib int64, code int, err error) {
	// ptrace requests must come from the thread that is the tracer.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Ptrace = true
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer cmd.Process.Release()
	pid := cmd.Process.Pid
	var ws unix.WaitStatus
	// The first stop is the SIGTRAP that follows the exec.
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return 0, 0, err
	}
	if err := unix.PtraceSetOptions(pid, unix.PTRACE_O_TRACEEXIT|unix.PTRACE_O_EXITKILL); err != nil {
		cmd.Process.Kill()
		return 0, 0, fmt.Errorf("ptrace: %w", err)
	}
	sig := 0
	for {
		if err := unix.PtraceCont(pid, sig); err != nil {
			return 0, 0, fmt.Errorf("ptrace: %w", err)
		}
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			return 0, 0, err
		}
		switch {
		case ws.Exited():
			return kib, ws.ExitStatus(), nil
		case ws.Signaled():
			return kib, -1, fmt.Errorf("killed by %v", ws.Signal())
		case ws.Stopped() && ws.TrapCause() == unix.PTRACE_EVENT_EXIT:
			if kib, err = vmHWM(pid); err != nil {
				cmd.Process.Kill()
				return 0, 0, err
			}
			sig = 0
		case ws.Stopped():
			sig = int(ws.StopSignal()) // a signal for the program: deliver it
			if ws.StopSignal() == unix.SIGTRAP {
				sig = 0
			}
		}
	}
}

// vmHWM reads a process's peak RSS in KiB.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}
