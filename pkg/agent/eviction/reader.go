package eviction

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MachineReader reads this machine: /proc/meminfo for memory, statfs for
// the file systems, pid_max and the kernel's process count for pids.
type MachineReader struct {
	// NodeFsPath is a directory on the node file system (the agent's
	// data dir).
	NodeFsPath string
	// ImageFsPath is a directory on the runtime's image file system,
	// found when read (the runtime may only say once it runs).
	ImageFsPath func(ctx context.Context) string
	// ProcRoot is where proc is mounted ("" = /proc).
	ProcRoot string
}

// Read reads the machine.
func (m MachineReader) Read(ctx context.Context) (Readings, error) {
	proc := m.ProcRoot
	if proc == "" {
		proc = "/proc"
	}
	var r Readings
	var err error
	if r.MemoryCapacity, r.MemoryAvailable, err = readMemory(proc + "/meminfo"); err != nil {
		return r, err
	}
	if r.NodeFs, err = statFs(m.NodeFsPath); err != nil {
		return r, err
	}
	r.ImageFs = r.NodeFs
	if m.ImageFsPath != nil {
		if p := m.ImageFsPath(ctx); p != "" {
			if r.ImageFs, err = statFs(p); err != nil {
				return r, err
			}
		}
	}
	r.PIDMax, r.PIDRunning = readPIDs(proc)
	return r, nil
}

// readMemory is the machine's memory and what is available of it as the
// kubelet counts it: the capacity less the working set, the working set
// being what is in use (not free) less the inactive file cache.
func readMemory(path string) (capacity, available int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read memory: %w", err)
	}
	defer f.Close()
	vals := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		if v, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
			vals[strings.TrimSuffix(fields[0], ":")] = v * 1024
		}
	}
	total, okT := vals["MemTotal"]
	free, okF := vals["MemFree"]
	if !okT || !okF {
		return 0, 0, fmt.Errorf("read memory: no MemTotal or MemFree in %s", path)
	}
	workingSet := max(total-free-vals["Inactive(file)"], 0)
	return total, total - workingSet, nil
}

func statFs(path string) (FsReading, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FsReading{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	return FsReading{
		Capacity:   int64(st.Blocks) * st.Bsize,
		Available:  int64(st.Bavail) * st.Bsize,
		Inodes:     int64(st.Files),
		InodesFree: int64(st.Ffree),
	}, nil
}

// readPIDs is the most process ids the kernel hands out (pid_max, or
// threads-max when lower) and the processes running now, as upstream's
// pid limit stats; zero when unknown.
func readPIDs(proc string) (maxPID, running int64) {
	read := func(name string) int64 {
		b, err := os.ReadFile(proc + "/sys/kernel/" + name)
		if err != nil {
			return 0
		}
		v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return v
	}
	maxPID = read("pid_max")
	if t := read("threads-max"); t > 0 && (maxPID == 0 || t < maxPID) {
		maxPID = t
	}
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err == nil {
		running = int64(info.Procs)
	}
	return maxPID, running
}
