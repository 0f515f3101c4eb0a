package sim

import (
	"context"
	"errors"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// podNodeIndex indexes the sim's pod cache by node name.
const podNodeIndex = "node"

func podNode(obj any) ([]string, error) {
	if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
		return []string{p.Spec.NodeName}, nil
	}
	return nil, nil
}

// usageMeter integrates a simulated node's CPU rate into the cumulative
// counter a real node reports; its pods come and go, so the node's
// counter cannot be the sum of theirs.
type usageMeter struct {
	at    time.Time
	rate  float64 // cores at at
	total float64 // core-seconds until at
}

// nodeUsage is the usage of one simulated node, a stats.Source: its
// running pods' annotated usage, split evenly between their containers,
// and the node's base usage plus its pods'.
type nodeUsage struct {
	s *Sim
	n *simNode
}

func (u nodeUsage) Summary(context.Context) (*statsapi.Summary, error) {
	if u.s.podIndex == nil {
		return nil, errors.New("the simulated node's pods are not known yet")
	}
	objs, err := u.s.podIndex.ByIndex(podNodeIndex, u.n.name)
	if err != nil {
		return nil, err
	}
	// The exposition carries millisecond timestamps: counters are taken
	// at that very instant, so rates computed from them are exact.
	now := time.Now().Truncate(time.Millisecond)
	ts := metav1.NewTime(now)
	sum := &statsapi.Summary{Node: statsapi.NodeStats{NodeName: u.n.name, StartTime: metav1.NewTime(u.s.started)}}
	cpuRate := NodeBaseCPU.AsApproximateFloat64()
	memory := NodeBaseMemory.AsApproximateFloat64()
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		ps, rate, ok := u.s.podUsage(pod, now, ts)
		if !ok {
			continue
		}
		sum.Pods = append(sum.Pods, ps)
		cpuRate += rate
		memory += float64(*ps.Memory.WorkingSetBytes)
	}
	u.n.usageMu.Lock()
	m := &u.n.meter
	if m.at.IsZero() {
		// Until the first reading the node used its base.
		m.at, m.rate = u.s.started, NodeBaseCPU.AsApproximateFloat64()
	}
	if now.After(m.at) {
		m.total += (m.rate + cpuRate) / 2 * now.Sub(m.at).Seconds()
	}
	m.at, m.rate = now, cpuRate
	total := m.total
	u.n.usageMu.Unlock()
	sum.Node.CPU = cpuStats(total, ts)
	sum.Node.Memory = memoryStats(memory, ts)
	return sum, nil
}

// podUsage is a running pod's usage at now per its annotations, and its
// CPU rate in cores; ok is false for a pod that is not running here.
func (s *Sim) podUsage(pod *corev1.Pod, now time.Time, ts metav1.Time) (ps statsapi.PodStats, cpuRate float64, ok bool) {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.StartTime == nil || len(pod.Spec.Containers) == 0 {
		return ps, 0, false
	}
	cpu := s.annotatedUsage(pod, AnnotationCPU)
	mem := s.annotatedUsage(pod, AnnotationMemory)
	// The ramps run from the pod's start; each container's counter from
	// its own (a restarted container starts again from 0).
	podStart := pod.Status.StartTime.Time
	share := 1 / float64(len(pod.Spec.Containers))
	ps = statsapi.PodStats{
		PodRef:    statsapi.PodReference{Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID)},
		StartTime: *pod.Status.StartTime,
	}
	since := now.Sub(podStart)
	var podCPU, podMem float64
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Running == nil {
			continue
		}
		started := c.State.Running.StartedAt.Time
		cores := (cpu.total(since) - cpu.total(started.Sub(podStart))) * share
		bytes := mem.at(since) * share
		ps.Containers = append(ps.Containers, statsapi.ContainerStats{
			Name: c.Name, StartTime: c.State.Running.StartedAt,
			CPU: cpuStats(cores, ts), Memory: memoryStats(bytes, ts),
		})
		podCPU += cores
		podMem += bytes
		cpuRate += cpu.at(since) * share
	}
	if len(ps.Containers) == 0 {
		return ps, 0, false
	}
	ps.CPU, ps.Memory = cpuStats(podCPU, ts), memoryStats(podMem, ts)
	return ps, cpuRate, true
}

// annotatedUsage is the pod's usage annotation key; none, or one that
// does not parse, is no usage (the latter logged).
func (s *Sim) annotatedUsage(pod *corev1.Pod, key string) usageSpec {
	v, ok := pod.Annotations[key]
	if !ok {
		return usageSpec{}
	}
	u, err := parseUsage(v)
	if err != nil {
		s.log.Debug("pod usage annotation ignored", "pod", pod.Namespace+"/"+pod.Name, "annotation", key, "err", err)
		return usageSpec{}
	}
	return u
}

func cpuStats(coreSeconds float64, ts metav1.Time) *statsapi.CPUStats {
	// Rounded, not truncated: a float just below a whole nanosecond
	// would put the rate between two samples 1n above what was asked
	// (301m for 300m once kubectl rounds up).
	nanos := uint64(math.Round(max(coreSeconds, 0) * 1e9))
	return &statsapi.CPUStats{Time: ts, UsageCoreNanoSeconds: &nanos}
}

func memoryStats(bytes float64, ts metav1.Time) *statsapi.MemoryStats {
	b := uint64(max(bytes, 0))
	return &statsapi.MemoryStats{Time: ts, UsageBytes: &b, WorkingSetBytes: &b}
}
