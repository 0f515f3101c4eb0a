package stats

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Runtime is the CRI calls a Collector makes.
type Runtime interface {
	ListPodSandbox(ctx context.Context, in *runtimeapi.ListPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error)
	ListContainers(ctx context.Context, in *runtimeapi.ListContainersRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error)
	ContainerStatus(ctx context.Context, in *runtimeapi.ContainerStatusRequest, opts ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error)
	ContainerStats(ctx context.Context, in *runtimeapi.ContainerStatsRequest, opts ...grpc.CallOption) (*runtimeapi.ContainerStatsResponse, error)
	ListPodSandboxStats(ctx context.Context, in *runtimeapi.ListPodSandboxStatsRequest, opts ...grpc.CallOption) (*runtimeapi.ListPodSandboxStatsResponse, error)
	PodSandboxStatus(ctx context.Context, in *runtimeapi.PodSandboxStatusRequest, opts ...grpc.CallOption) (*runtimeapi.PodSandboxStatusResponse, error)
}

// DefaultMaxAge is how long a Collector reuses a reading.
const DefaultMaxAge = time.Second

// sandboxStatsRetry is how long a Collector reads sandboxes' cgroups
// itself after the runtime failed to report pod usage, before it asks
// the runtime again.
const sandboxStatsRetry = 10 * time.Minute

// Config is what a Collector needs.
type Config struct {
	NodeName string
	// Runtime is the current runtime, nil while there is none.
	Runtime func() Runtime
	// CgroupRoot is where the cgroup file systems are mounted
	// ("" = /sys/fs/cgroup).
	CgroupRoot string
	// MaxAge bounds how old a reading may be served (0 = DefaultMaxAge).
	MaxAge time.Duration
	Log    *slog.Logger
}

// Collector measures a node's usage on demand. It is safe for concurrent
// use; concurrent callers share one measurement.
type Collector struct {
	node    string
	runtime func() Runtime
	fs      cgroupFS
	maxAge  time.Duration
	log     *slog.Logger
	boot    time.Time

	mu       sync.Mutex
	last     *statsapi.Summary
	lastErr  error
	lastAt   time.Time
	prev     map[string]cpuSample // the previous reading's CPU counters, for rates
	cgroups  map[string]string    // "s/"+sandbox ID or "c/"+container ID → its cgroup
	noPodAPI time.Time            // when the runtime last failed to report pod usage
}

type cpuSample struct {
	nanos uint64
	at    time.Time
}

// NewCollector is a Collector of cfg.
func NewCollector(cfg Config) *Collector {
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/sys/fs/cgroup"
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Collector{node: cfg.NodeName, runtime: cfg.Runtime, fs: newCgroupFS(cfg.CgroupRoot), maxAge: cfg.MaxAge, log: cfg.Log,
		boot: bootTime(), prev: map[string]cpuSample{}, cgroups: map[string]string{}}
}

// Summary is the node's usage, measured now or at most MaxAge ago. The
// caller must not modify it.
func (c *Collector) Summary(ctx context.Context) (*statsapi.Summary, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && time.Since(c.lastAt) < c.maxAge {
		return c.last, c.lastErr
	}
	s, err := c.collect(ctx)
	if err != nil && s == nil {
		return nil, err
	}
	c.last, c.lastErr, c.lastAt = s, err, time.Now()
	return s, err
}

// collect measures everything. A failure to measure pods still returns
// the node's usage, with the error.
func (c *Collector) collect(ctx context.Context) (*statsapi.Summary, error) {
	now := time.Now()
	next := map[string]cpuSample{}
	s := &statsapi.Summary{Node: statsapi.NodeStats{NodeName: c.node, StartTime: metav1.NewTime(c.boot)}}
	root, err := c.fs.read("/")
	if err != nil {
		return nil, fmt.Errorf("node usage: %w", err)
	}
	s.Node.CPU, s.Node.Memory = c.cpuStats("node", root.cpuNanos, now, next), memoryStats(root, now)
	rt := c.runtime()
	if rt == nil {
		c.prev = next
		return s, errors.New("the container runtime is not running")
	}
	pods, err := c.collectPods(ctx, rt, next)
	s.Pods = pods
	c.prev = next
	return s, err
}

// collectPods measures the ready sandboxes' pods and their running
// containers. A container is read from its cgroup, found once from its
// process; the runtime's container stats are the fallback, as they cost
// far more: containerd 1.6 measures each container's writable layer by
// walking it (about 5 ms a container here).
func (c *Collector) collectPods(ctx context.Context, rt Runtime, next map[string]cpuSample) ([]statsapi.PodStats, error) {
	sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	ctrs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	podAPI := c.podStatsFromRuntime(ctx, rt)

	pods := make([]statsapi.PodStats, 0, len(sbs.Items))
	index := make(map[string]int, len(sbs.Items))
	live := make(map[string]bool, len(sbs.Items)+len(ctrs.Containers))
	for _, sb := range sbs.Items {
		md := sb.GetMetadata()
		index[sb.Id] = len(pods)
		live["s/"+sb.Id] = true
		pods = append(pods, statsapi.PodStats{
			PodRef:    statsapi.PodReference{Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid()},
			StartTime: metav1.NewTime(time.Unix(0, sb.CreatedAt)),
		})
	}
	sum := make([]usage, len(pods))
	sumAt := make([]time.Time, len(pods))
	for _, ctr := range ctrs.Containers {
		i, ok := index[ctr.PodSandboxId]
		if !ok {
			continue
		}
		live["c/"+ctr.Id] = true
		u, at, err := c.containerUsage(ctx, rt, ctr.Id)
		if err != nil {
			// Most likely it stopped since the list: it is left out,
			// as a stopped container is.
			c.log.Debug("container usage", "container", ctr.Id, "err", err)
			continue
		}
		pods[i].Containers = append(pods[i].Containers, statsapi.ContainerStats{
			Name:      ctr.GetMetadata().GetName(),
			StartTime: metav1.NewTime(time.Unix(0, ctr.CreatedAt)),
			CPU:       c.cpuStats("c/"+ctr.Id, u.cpuNanos, at, next),
			Memory:    memoryStats(u, at),
		})
		sum[i] = addUsage(sum[i], u)
		sumAt[i] = later(sumAt[i], at)
	}
	for id, i := range index {
		if ps, ok := podAPI[id]; ok {
			u := usage{cpuNanos: ps.GetCpu().GetUsageCoreNanoSeconds().GetValue(), usageBytes: ps.GetMemory().GetUsageBytes().GetValue(), workingSet: ps.GetMemory().GetWorkingSetBytes().GetValue()}
			at := time.Unix(0, ps.GetCpu().GetTimestamp())
			pods[i].CPU, pods[i].Memory = c.cpuStats("p/"+id, u.cpuNanos, at, next), memoryStats(u, at)
			continue
		}
		// The pod's own cgroup is unknown to the runtime: its containers
		// plus the sandbox's pause process.
		if u, err := c.cgroupUsage(ctx, "s/"+id, func(ctx context.Context) (map[string]string, error) {
			st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
			return st.GetInfo(), err
		}); err == nil {
			sum[i] = addUsage(sum[i], u)
			sumAt[i] = later(sumAt[i], time.Now())
		} else {
			c.log.Debug("sandbox usage", "sandbox", id, "err", err)
		}
		if sumAt[i].IsZero() {
			continue
		}
		pods[i].CPU, pods[i].Memory = c.cpuStats("p/"+id, sum[i].cpuNanos, sumAt[i], next), memoryStats(sum[i], sumAt[i])
	}
	for key := range c.cgroups {
		if !live[key] {
			delete(c.cgroups, key)
		}
	}
	// In name order, as the kubelet lists them.
	slices.SortFunc(pods, func(a, b statsapi.PodStats) int {
		return cmp.Or(cmp.Compare(a.PodRef.Namespace, b.PodRef.Namespace), cmp.Compare(a.PodRef.Name, b.PodRef.Name))
	})
	for _, p := range pods {
		slices.SortFunc(p.Containers, func(a, b statsapi.ContainerStats) int { return cmp.Compare(a.Name, b.Name) })
	}
	return pods, nil
}

// containerUsage reads container id's cgroup, or asks the runtime when
// its cgroup cannot be read.
func (c *Collector) containerUsage(ctx context.Context, rt Runtime, id string) (usage, time.Time, error) {
	u, err := c.cgroupUsage(ctx, "c/"+id, func(ctx context.Context) (map[string]string, error) {
		st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
		return st.GetInfo(), err
	})
	if err == nil {
		return u, time.Now(), nil
	}
	c.log.Debug("container cgroup unreadable; asking the runtime", "container", id, "err", err)
	resp, rerr := rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
	st := resp.GetStats()
	if rerr != nil || st.GetCpu() == nil || st.GetMemory() == nil {
		return usage{}, time.Time{}, fmt.Errorf("container %s usage: %v (runtime: %v)", id, err, rerr)
	}
	u = usage{cpuNanos: st.Cpu.GetUsageCoreNanoSeconds().GetValue(), usageBytes: st.Memory.GetUsageBytes().GetValue(), workingSet: st.Memory.GetWorkingSetBytes().GetValue()}
	return u, time.Unix(0, st.Cpu.Timestamp), nil
}

// podStatsFromRuntime asks the runtime for pods' own usage (their pod
// cgroups), unless it failed to report it lately. containerd 1.6 knows
// none for sandboxes without a cgroup parent, which the agent's are.
func (c *Collector) podStatsFromRuntime(ctx context.Context, rt Runtime) map[string]*runtimeapi.LinuxPodSandboxStats {
	if !c.noPodAPI.IsZero() && time.Since(c.noPodAPI) < sandboxStatsRetry {
		return nil
	}
	resp, err := rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
	if err != nil {
		c.log.Debug("the runtime reports no pod usage; reading sandbox cgroups", "err", err)
		c.noPodAPI = time.Now()
		return nil
	}
	c.noPodAPI = time.Time{}
	out := make(map[string]*runtimeapi.LinuxPodSandboxStats, len(resp.Stats))
	for _, st := range resp.Stats {
		if l := st.GetLinux(); l.GetCpu() != nil && l.GetMemory() != nil {
			out[st.GetAttributes().GetId()] = l
		}
	}
	return out
}

// cgroupUsage reads the cgroup of the process behind key (a sandbox's
// pause process or a container's first process), looked up once through
// status, the runtime's verbose status info holding its pid.
func (c *Collector) cgroupUsage(ctx context.Context, key string, status func(context.Context) (map[string]string, error)) (usage, error) {
	cg, ok := c.cgroups[key]
	if !ok {
		info, err := status(ctx)
		if err != nil {
			return usage{}, err
		}
		var v struct {
			Pid uint32 `json:"pid"`
		}
		if err := json.Unmarshal([]byte(info["info"]), &v); err != nil || v.Pid == 0 {
			return usage{}, fmt.Errorf("%s: no pid in its status (%v)", key, err)
		}
		if cg, err = c.fs.procCgroup(v.Pid); err != nil {
			return usage{}, err
		}
		c.cgroups[key] = cg
	}
	u, err := c.fs.read(cg)
	if err != nil {
		delete(c.cgroups, key) // gone, or moved: look again next time
	}
	return u, err
}

// cpuStats is a CPU reading, with the rate since key's previous reading.
func (c *Collector) cpuStats(key string, nanos uint64, at time.Time, next map[string]cpuSample) *statsapi.CPUStats {
	st := &statsapi.CPUStats{Time: metav1.NewTime(at), UsageCoreNanoSeconds: &nanos}
	next[key] = cpuSample{nanos: nanos, at: at}
	if p, ok := c.prev[key]; ok && at.After(p.at) && nanos >= p.nanos {
		rate := uint64(float64(nanos-p.nanos) / at.Sub(p.at).Seconds())
		st.UsageNanoCores = &rate
	}
	return st
}

func memoryStats(u usage, at time.Time) *statsapi.MemoryStats {
	return &statsapi.MemoryStats{Time: metav1.NewTime(at), UsageBytes: &u.usageBytes, WorkingSetBytes: &u.workingSet}
}

func addUsage(a, b usage) usage {
	return usage{cpuNanos: a.cpuNanos + b.cpuNanos, usageBytes: a.usageBytes + b.usageBytes, workingSet: a.workingSet + b.workingSet}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
