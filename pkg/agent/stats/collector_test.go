package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// writeV1 lays out a v1 cgroup at root/{cpuacct,memory}/path.
func writeV1(t *testing.T, root, path string, cpu, usage, inactive uint64) {
	t.Helper()
	write(t, filepath.Join(root, "cpuacct", path, "cpuacct.usage"), fmt.Sprintf("%d\n", cpu))
	write(t, filepath.Join(root, "memory", path, "memory.usage_in_bytes"), fmt.Sprintf("%d\n", usage))
	write(t, filepath.Join(root, "memory", path, "memory.stat"), fmt.Sprintf("cache 1\ninactive_file 99999\ntotal_cache 5\ntotal_inactive_file %d\n", inactive))
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupV1(t *testing.T) {
	root := t.TempDir()
	writeV1(t, root, "/", 5_000_000_000, 1000, 300)
	u, err := newCgroupFS(root).read("/")
	if err != nil {
		t.Fatal(err)
	}
	if u != (usage{cpuNanos: 5_000_000_000, usageBytes: 1000, workingSet: 700}) {
		t.Fatalf("v1 root: %+v", u)
	}
	// More inactive file pages than usage (a race between the two files)
	// is a working set of 0, not a wrap-around.
	writeV1(t, root, "/k8s.io/x", 1, 100, 200)
	if u, err := newCgroupFS(root).read("/k8s.io/x"); err != nil || u.workingSet != 0 {
		t.Fatalf("v1 inactive > usage: %+v %v", u, err)
	}
	if _, err := newCgroupFS(root).read("/missing"); err == nil {
		t.Fatal("a missing cgroup read without error")
	}
}

func TestCgroupV2(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "cgroup.controllers"), "cpu memory\n")
	write(t, filepath.Join(root, "k8s.io/x/cpu.stat"), "usage_usec 2500\nuser_usec 2000\n")
	write(t, filepath.Join(root, "k8s.io/x/memory.current"), "4096\n")
	write(t, filepath.Join(root, "k8s.io/x/memory.stat"), "anon 10\ninactive_file 1024\n")
	fs := newCgroupFS(root)
	if !fs.v2 {
		t.Fatal("unified hierarchy not detected")
	}
	u, err := fs.read("/k8s.io/x")
	if err != nil || u != (usage{cpuNanos: 2_500_000, usageBytes: 4096, workingSet: 3072}) {
		t.Fatalf("v2: %+v %v", u, err)
	}
}

// fakeRuntime answers the collector's CRI calls from fixed data.
type fakeRuntime struct {
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container
	stats      []*runtimeapi.ContainerStats
	podStats   []*runtimeapi.PodSandboxStats // nil: the call fails, as containerd 1.6's does here
	pids       map[string]uint32             // sandbox or container ID → its process
	calls      map[string]int
}

func (f *fakeRuntime) count(name string) {
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[name]++
}

func (f *fakeRuntime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest, ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error) {
	f.count("ListPodSandbox")
	return &runtimeapi.ListPodSandboxResponse{Items: f.sandboxes}, nil
}

func (f *fakeRuntime) ListContainers(context.Context, *runtimeapi.ListContainersRequest, ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error) {
	return &runtimeapi.ListContainersResponse{Containers: f.containers}, nil
}

func (f *fakeRuntime) ContainerStats(_ context.Context, in *runtimeapi.ContainerStatsRequest, _ ...grpc.CallOption) (*runtimeapi.ContainerStatsResponse, error) {
	f.count("ContainerStats")
	for _, st := range f.stats {
		if st.Attributes.Id == in.ContainerId {
			return &runtimeapi.ContainerStatsResponse{Stats: st}, nil
		}
	}
	return nil, errors.New("no such container")
}

func (f *fakeRuntime) ContainerStatus(_ context.Context, in *runtimeapi.ContainerStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error) {
	f.count("ContainerStatus")
	return &runtimeapi.ContainerStatusResponse{Info: f.info(in.ContainerId)}, nil
}

func (f *fakeRuntime) info(id string) map[string]string {
	info, _ := json.Marshal(map[string]any{"pid": f.pids[id]})
	return map[string]string{"info": string(info)}
}

func (f *fakeRuntime) ListPodSandboxStats(context.Context, *runtimeapi.ListPodSandboxStatsRequest, ...grpc.CallOption) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	f.count("ListPodSandboxStats")
	if f.podStats == nil {
		return nil, errors.New("failed to get cgroup metrics for sandbox because cgroupPath is empty")
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: f.podStats}, nil
}

func (f *fakeRuntime) PodSandboxStatus(_ context.Context, in *runtimeapi.PodSandboxStatusRequest, _ ...grpc.CallOption) (*runtimeapi.PodSandboxStatusResponse, error) {
	f.count("PodSandboxStatus")
	return &runtimeapi.PodSandboxStatusResponse{Info: f.info(in.PodSandboxId)}, nil
}

func TestCollectorSumsContainersAndSandbox(t *testing.T) {
	root := t.TempDir()
	writeV1(t, root, "/", 100_000_000_000, 8<<30, 1<<30)
	// The sandbox's pause process, 4242, lives in /k8s.io/sb1, container
	// c1's process 4343 in /k8s.io/c1; c2's cgroup is not found (no pid),
	// so the runtime's stats stand in.
	fs := newCgroupFS(root)
	fs.v2, fs.proc = false, filepath.Join(root, "proc")
	write(t, filepath.Join(root, "proc", "4242", "cgroup"), "9:name=systemd:/k8s.io/sb1\n3:cpu,cpuacct:/k8s.io/sb1\n2:memory:/k8s.io/sb1\n0::/k8s.io/sb1\n")
	writeV1(t, root, "/k8s.io/sb1", 2_000_000, 50_000, 10_000)
	write(t, filepath.Join(root, "proc", "4343", "cgroup"), "3:cpuacct,cpu:/k8s.io/c1\n2:memory:/k8s.io/c1\n")
	writeV1(t, root, "/k8s.io/c1", 1_000_000_000, 1<<20+4096, 4096)
	now := time.Now()
	rt := &fakeRuntime{
		pids:      map[string]uint32{"sb1": 4242, "c1": 4343},
		sandboxes: []*runtimeapi.PodSandbox{{Id: "sb1", CreatedAt: now.Add(-time.Minute).UnixNano(), Metadata: &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "prod", Uid: "u1"}}},
		containers: []*runtimeapi.Container{
			{Id: "c1", PodSandboxId: "sb1", CreatedAt: now.Add(-50 * time.Second).UnixNano(), Metadata: &runtimeapi.ContainerMetadata{Name: "app"}},
			{Id: "c2", PodSandboxId: "sb1", CreatedAt: now.Add(-40 * time.Second).UnixNano(), Metadata: &runtimeapi.ContainerMetadata{Name: "side"}},
			{Id: "c3", PodSandboxId: "gone", Metadata: &runtimeapi.ContainerMetadata{Name: "orphan"}},
		},
		stats: []*runtimeapi.ContainerStats{
			containerStats("c1", now, 999, 999), // not asked: its cgroup is read
			containerStats("c2", now, 500_000_000, 2<<20),
			containerStats("c3", now, 7, 7),
		},
	}
	c := NewCollector(Config{NodeName: "n1", Runtime: func() Runtime { return rt }, CgroupRoot: root, MaxAge: time.Hour})
	c.fs = fs
	s, err := c.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if *s.Node.CPU.UsageCoreNanoSeconds != 100_000_000_000 || *s.Node.Memory.WorkingSetBytes != 7<<30 || s.Node.NodeName != "n1" {
		t.Fatalf("node: %+v %+v", s.Node.CPU, s.Node.Memory)
	}
	if len(s.Pods) != 1 || len(s.Pods[0].Containers) != 2 {
		t.Fatalf("pods: %+v", s.Pods)
	}
	p := s.Pods[0]
	if p.PodRef.Name != "web" || p.PodRef.Namespace != "prod" || p.PodRef.UID != "u1" {
		t.Fatalf("pod ref: %+v", p.PodRef)
	}
	if got := *p.CPU.UsageCoreNanoSeconds; got != 1_502_000_000 {
		t.Fatalf("pod CPU = %d, want containers + sandbox = 1502000000", got)
	}
	if got := *p.Memory.WorkingSetBytes; got != 1<<20+2<<20+40_000 {
		t.Fatalf("pod working set = %d", got)
	}
	// A second call within MaxAge reuses the reading; the sandbox's
	// cgroup was looked up once and the runtime's pod stats asked once.
	if s2, _ := c.Summary(context.Background()); s2 != s || rt.calls["ListPodSandbox"] != 1 {
		t.Fatalf("reading not reused: %d sandbox lists", rt.calls["ListPodSandbox"])
	}
	c.maxAge = time.Nanosecond
	if _, err := c.Summary(context.Background()); err != nil {
		t.Fatal(err)
	}
	// c2's lookup is tried again each time, its stats asked each time.
	if rt.calls["PodSandboxStatus"] != 1 || rt.calls["ListPodSandboxStats"] != 1 || rt.calls["ContainerStatus"] != 3 || rt.calls["ContainerStats"] != 2 {
		t.Fatalf("calls: %v", rt.calls)
	}
}

func TestCollectorPrefersRuntimePodStats(t *testing.T) {
	root := t.TempDir()
	writeV1(t, root, "/", 1, 1, 0)
	now := time.Now()
	rt := &fakeRuntime{
		pids:       map[string]uint32{},
		sandboxes:  []*runtimeapi.PodSandbox{{Id: "sb1", CreatedAt: now.UnixNano(), Metadata: &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "prod", Uid: "u1"}}},
		containers: []*runtimeapi.Container{{Id: "c1", PodSandboxId: "sb1", CreatedAt: now.UnixNano(), Metadata: &runtimeapi.ContainerMetadata{Name: "app"}}},
		stats:      []*runtimeapi.ContainerStats{containerStats("c1", now, 10, 10)},
		podStats: []*runtimeapi.PodSandboxStats{{Attributes: &runtimeapi.PodSandboxAttributes{Id: "sb1"}, Linux: &runtimeapi.LinuxPodSandboxStats{
			Cpu:    &runtimeapi.CpuUsage{Timestamp: now.UnixNano(), UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: 777}},
			Memory: &runtimeapi.MemoryUsage{Timestamp: now.UnixNano(), WorkingSetBytes: &runtimeapi.UInt64Value{Value: 888}},
		}}},
	}
	c := NewCollector(Config{NodeName: "n1", Runtime: func() Runtime { return rt }, CgroupRoot: root})
	c.fs.v2 = false
	s, err := c.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if *s.Pods[0].CPU.UsageCoreNanoSeconds != 777 || *s.Pods[0].Memory.WorkingSetBytes != 888 || rt.calls["PodSandboxStatus"] != 0 {
		t.Fatalf("pod: %+v %+v calls %v", s.Pods[0].CPU, s.Pods[0].Memory, rt.calls)
	}
}

func TestCollectorWithoutRuntime(t *testing.T) {
	root := t.TempDir()
	writeV1(t, root, "/", 1, 1, 0)
	c := NewCollector(Config{NodeName: "n1", Runtime: func() Runtime { return nil }, CgroupRoot: root})
	c.fs.v2 = false
	s, err := c.Summary(context.Background())
	if err == nil || s == nil || s.Node.CPU == nil || len(s.Pods) != 0 {
		t.Fatalf("want the node's usage and an error: %v %v", s, err)
	}
}

func containerStats(id string, at time.Time, cpu, ws uint64) *runtimeapi.ContainerStats {
	return &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: id},
		Cpu:        &runtimeapi.CpuUsage{Timestamp: at.UnixNano(), UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: cpu}},
		Memory:     &runtimeapi.MemoryUsage{Timestamp: at.UnixNano(), WorkingSetBytes: &runtimeapi.UInt64Value{Value: ws}, UsageBytes: &runtimeapi.UInt64Value{Value: ws}},
	}
}
