package stats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cgroupFS reads usage from the cgroup file systems mounted at root
// (/sys/fs/cgroup): the v1 cpuacct and memory hierarchies, or the unified
// v2 hierarchy when root is one.
type cgroupFS struct {
	root string
	proc string // where processes' cgroups are read: /proc
	v2   bool
}

func newCgroupFS(root string) cgroupFS {
	_, err := os.Stat(filepath.Join(root, "cgroup.controllers"))
	return cgroupFS{root: root, proc: "/proc", v2: err == nil}
}

// usage is one reading of a cgroup.
type usage struct {
	cpuNanos   uint64 // cumulative CPU time
	usageBytes uint64 // memory in use, page cache included
	workingSet uint64 // usageBytes less inactive file pages
}

// read measures the cgroup at path (as /proc/PID/cgroup names it; "/" is
// the root).
func (c cgroupFS) read(path string) (usage, error) {
	if c.v2 {
		return c.readV2(path)
	}
	return c.readV1(path)
}

func (c cgroupFS) readV1(path string) (usage, error) {
	var u usage
	var err error
	if u.cpuNanos, err = readUint(filepath.Join(c.root, "cpuacct", path, "cpuacct.usage")); err != nil {
		return u, err
	}
	mem := filepath.Join(c.root, "memory", path)
	if u.usageBytes, err = readUint(filepath.Join(mem, "memory.usage_in_bytes")); err != nil {
		return u, err
	}
	// total_ counts the cgroup's descendants too, which usage_in_bytes does.
	inactive, err := statField(filepath.Join(mem, "memory.stat"), "total_inactive_file")
	if err != nil {
		return u, err
	}
	u.workingSet = workingSet(u.usageBytes, inactive)
	return u, nil
}

func (c cgroupFS) readV2(path string) (usage, error) {
	var u usage
	dir := filepath.Join(c.root, path)
	usec, err := statField(filepath.Join(dir, "cpu.stat"), "usage_usec")
	if err != nil {
		return u, err
	}
	u.cpuNanos = usec * 1000
	if path == "/" || path == "" {
		// The root cgroup has no memory.current: the machine's memory
		// in use is what /proc/meminfo does not count as free.
		return c.rootMemoryV2(u)
	}
	if u.usageBytes, err = readUint(filepath.Join(dir, "memory.current")); err != nil {
		return u, err
	}
	inactive, err := statField(filepath.Join(dir, "memory.stat"), "inactive_file")
	if err != nil {
		return u, err
	}
	u.workingSet = workingSet(u.usageBytes, inactive)
	return u, nil
}

func (c cgroupFS) rootMemoryV2(u usage) (usage, error) {
	total, err := statField("/proc/meminfo", "MemTotal:")
	if err != nil {
		return u, err
	}
	free, err := statField("/proc/meminfo", "MemFree:")
	if err != nil {
		return u, err
	}
	inactive, err := statField("/proc/meminfo", "Inactive(file):")
	if err != nil {
		return u, err
	}
	u.usageBytes = (total - min(free, total)) * 1024
	u.workingSet = workingSet(u.usageBytes, inactive*1024)
	return u, nil
}

func workingSet(usage, inactive uint64) uint64 {
	if inactive > usage {
		return 0
	}
	return usage - inactive
}

// procCgroup is the cgroup of process pid that holds its CPU accounting
// (the cpuacct hierarchy on v1, the unified one on v2).
func (c cgroupFS) procCgroup(pid uint32) (string, error) {
	b, err := os.ReadFile(filepath.Join(c.proc, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if c.v2 && parts[0] == "0" {
			return parts[2], nil
		}
		if !c.v2 && slices.Contains(strings.Split(parts[1], ","), "cpuacct") {
			return parts[2], nil
		}
	}
	return "", fmt.Errorf("no cpu accounting cgroup for process %d", pid)
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// statField is the value of the "KEY VALUE" line of a stat file.
func statField(path, key string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == key {
			v, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %s: %w", path, key, err)
			}
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: %w", path, errNoField)
}

var errNoField = errors.New("field not found")

// bootTime is when the machine started (/proc/stat's btime), the node's
// start time; zero if unknown.
func bootTime() time.Time {
	secs, err := statField("/proc/stat", "btime")
	if err != nil {
		return time.Time{}
	}
	return time.Unix(int64(secs), 0)
}
