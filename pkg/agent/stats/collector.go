package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	ListContainerStats(ctx context.Context, in *runtimeapi.ListContainerStatsRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainerStatsResponse, error)
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
	sandbox  map[string]string    // sandbox ID → its cgroup
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
		boot: bootTime(), prev: map[string]cpuSample{}, sandbox: map[string]string{}}
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
// containers.
func (c *Collector) collectPods(ctx context.Context, rt Runtime, next map[string]cpuSample) ([]statsapi.PodStats, error) {
	sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	ctrs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	cstats, err := rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
	if err != nil {
		return nil, fmt.Errorf("container stats: %w", err)
	}
	byID := make(map[string]*runtimeapi.ContainerStats, len(cstats.Stats))
	for _, st := range cstats.Stats {
		byID[st.GetAttributes().GetId()] = st
	}
	podAPI := c.podStatsFromRuntime(ctx, rt)

	pods := make([]statsapi.PodStats, 0, len(sbs.Items))
	index := make(map[string]int, len(sbs.Items))
	live := make(map[string]bool, len(sbs.Items))
	for _, sb := range sbs.Items {
		md := sb.GetMetadata()
		index[sb.Id] = len(pods)
		live[sb.Id] = true
		pods = append(pods, statsapi.PodStats{
			PodRef:    statsapi.PodReference{Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid()},
			StartTime: metav1.NewTime(time.Unix(0, sb.CreatedAt)),
		})
	}
	var sum = make([]usage, len(pods))
	var sumAt = make([]time.Time, len(pods))
	for _, ctr := range ctrs.Containers {
		i, ok := index[ctr.PodSandboxId]
		st := byID[ctr.Id]
		if !ok || st == nil || st.Cpu == nil || st.Memory == nil {
			continue
		}
		at := time.Unix(0, st.Cpu.Timestamp)
		u := usage{cpuNanos: st.Cpu.GetUsageCoreNanoSeconds().GetValue(), usageBytes: st.Memory.GetUsageBytes().GetValue(), workingSet: st.Memory.GetWorkingSetBytes().GetValue()}
		pods[i].Containers = append(pods[i].Containers, statsapi.ContainerStats{
			Name:      ctr.GetMetadata().GetName(),
			StartTime: metav1.NewTime(time.Unix(0, ctr.CreatedAt)),
			CPU:       c.cpuStats("c/"+ctr.Id, u.cpuNanos, at, next),
			Memory:    memoryStats(u, time.Unix(0, st.Memory.Timestamp)),
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
		now := time.Now()
		if u, err := c.sandboxUsage(ctx, rt, id); err == nil {
			sum[i] = addUsage(sum[i], u)
			sumAt[i] = later(sumAt[i], now)
		} else {
			c.log.Debug("sandbox usage", "sandbox", id, "err", err)
		}
		if sumAt[i].IsZero() {
			continue
		}
		pods[i].CPU, pods[i].Memory = c.cpuStats("p/"+id, sum[i].cpuNanos, sumAt[i], next), memoryStats(sum[i], sumAt[i])
	}
	for id := range c.sandbox {
		if !live[id] {
			delete(c.sandbox, id)
		}
	}
	return pods, nil
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

// sandboxUsage reads the cgroup of sandbox id's pause process, which is
// looked up once per sandbox.
func (c *Collector) sandboxUsage(ctx context.Context, rt Runtime, id string) (usage, error) {
	cg, ok := c.sandbox[id]
	if !ok {
		st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
		if err != nil {
			return usage{}, err
		}
		var info struct {
			Pid uint32 `json:"pid"`
		}
		if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.Pid == 0 {
			return usage{}, fmt.Errorf("sandbox %s: no pid in its status (%v)", id, err)
		}
		if cg, err = c.fs.procCgroup(info.Pid); err != nil {
			return usage{}, err
		}
		c.sandbox[id] = cg
	}
	return c.fs.read(cg)
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
