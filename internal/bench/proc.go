package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// CPUTime returns the CPU time process pid has used so far, user and
// system: the sum of its threads' on-CPU nanoseconds from
// /proc/<pid>/task/<tid>/schedstat. It is the figure getrusage reports
// for the process (utime+stime), at nanosecond rather than clock-tick
// resolution, and it can be read while the process runs. A thread that
// has exited no longer counts; Go runtimes keep their threads.
func CPUTime(pid int) (time.Duration, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("cpu time of process %d: %w", pid, err)
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread has just exited
		}
		f := bytes.Fields(b)
		if len(f) == 0 {
			return 0, fmt.Errorf("cpu time of process %d: empty schedstat", pid)
		}
		ns, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time of process %d: %w", pid, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}
