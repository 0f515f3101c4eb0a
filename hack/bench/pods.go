package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
	"github.com/flotilla-io/flotilla/pkg/images"
)

const benchNode = "bench-node"

// benchPods measures pod start through the node agent beside the raw CRI
// calls on the same containerd, in the same run.

// testEvictionHard keeps upstream's memory.available threshold but no
// disk ones, as kind configures its nodes: test machines' disks are often
// fuller than upstream's 10%/15% defaults allow (statfs on this one says
// 3.5% available), and a node under DiskPressure refuses every pod.
const testEvictionHard = "memory.available<100Mi"

func benchPods(bin string) {
	dir, err := os.MkdirTemp("/tmp", "flb-") // short: containerd's socket path
	check(err)
	agentDir := filepath.Join(dir, "a")
	defer func() {
		_ = exec.Command("umount", "-R", filepath.Join(agentDir, "agent", "containerd")).Run()
		_ = os.RemoveAll(dir)
		_ = os.RemoveAll(filepath.Join(os.TempDir(), "flb-raw-logs"))
	}()
	// The agent runs as its own process, joined like a second machine's,
	// so its memory is measured apart from the control plane's.
	srv := start(bin, dir, "--disable-agent")
	defer srv.stop()
	agent := exec.Command(bin, "agent", "--eviction-hard", testEvictionHard, "--server", srv.url, "--token-file", filepath.Join(dir, "token"), "--data-dir", agentDir,
		"--node-name", benchNode, "--node-ip", "127.0.0.1", "--agent-port", strconv.Itoa(freePort()))
	agentLog, err := os.Create(filepath.Join(dir, "agent.log"))
	check(err)
	agent.Stdout, agent.Stderr = agentLog, agentLog
	check(agent.Start())
	defer func() {
		_ = agent.Process.Signal(os.Interrupt)
		_ = agent.Wait()
	}()
	cs := srv.client()
	ctx := context.Background()
	waitNodeReady(ctx, cs)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{})
	check(err)
	time.Sleep(3 * time.Second)
	idle, idleServer := rss(agent.Process.Pid), rss(srv.cmd.Process.Pid)

	rt, err := cri.Dial(containerd.Socket(filepath.Join(agentDir, "agent", "containerd")))
	check(err)
	defer rt.Close()
	raw30 := rawCRI(ctx, rt, 30, 1)
	record("raw CRI pod start, 30 one after another p50 / p99", ms(raw30.p(50))+" / "+ms(raw30.p(99)), "")
	raw100 := rawCRI(ctx, rt, 100, 3)
	record("raw CRI, 100 pods (3 at a time): wall", ms(raw100.wall), "")

	seq := agentPods(ctx, cs, "seq", 30, 1)
	record("agent pod start (create to Running watched), 30 one after another p50 / p99", ms(seq.p(50))+" / "+ms(seq.p(99)), fmt.Sprintf("p99 <= 1.3x raw (%s)", ms(time.Duration(float64(raw30.p(99))*1.3))))
	many := agentPods(ctx, cs, "many", 100, 100)
	record("agent, 100 pods created at once: all Running (wall)", ms(many.wall), fmt.Sprintf("<= 1.2x raw (%s)", ms(time.Duration(float64(raw100.wall)*1.2))))
	record("  per-pod p50 / p99", ms(many.p(50))+" / "+ms(many.p(99)), "")
	record("agent RSS idle / with 100 pods (containerd, shims excluded)", mib(idle)+" / "+mib(rss(agent.Process.Pid)), "< 40 / 80 MiB")
	record("  server (API, etcd, controllers) RSS idle / with 100 pods", mib(idleServer)+" / "+mib(rss(srv.cmd.Process.Pid)), "")
	del := deleteLatency(ctx, cs, 10)
	record("delete to gone, grace 0 (p50 / p99 of 10)", ms(del.p(50))+" / "+ms(del.p(99)), "")
	check(cs.CoreV1().Pods("bench").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}))
	for {
		l, err := cs.CoreV1().Pods("bench").List(ctx, metav1.ListOptions{})
		check(err)
		if len(l.Items) == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Pods deleted with no grace leave the API at once; wait for the agent
	// to tear their sandboxes down before the server (and containerd) stop.
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		sbs, err := rt.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err == nil && len(sbs.Items) == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "bench: sandboxes still present after 3 minutes")
}

type timed struct {
	latencies
	wall time.Duration
}

func waitNodeReady(ctx context.Context, cs kubernetes.Interface) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		n, err := cs.CoreV1().Nodes().Get(ctx, benchNode, metav1.GetOptions{})
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	panic("bench node not Ready")
}

// rawCRI starts n one-container pods by calling the runtime directly,
// workers at a time, then removes them.
func rawCRI(ctx context.Context, rt *cri.Client, n, workers int) *timed {
	var mu sync.Mutex
	var ids []string
	t0 := time.Now()
	l := parallel(n, workers, func(i int) time.Duration {
		start := time.Now()
		sbCfg := &runtimeapi.PodSandboxConfig{
			Metadata:     &runtimeapi.PodSandboxMetadata{Name: fmt.Sprintf("raw-%d-%d", n, i), Namespace: "bench-raw", Uid: fmt.Sprintf("raw-%d-%d-%d", n, i, start.UnixNano())},
			LogDirectory: filepath.Join(os.TempDir(), "flb-raw-logs"),
			Linux:        &runtimeapi.LinuxPodSandboxConfig{},
		}
		sb, err := rt.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
		check(err)
		c, err := rt.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: sbCfg, Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: images.BusyboxRef},
			Command: []string{"sleep", "3600"}, LogPath: fmt.Sprintf("raw-%d-%d.log", n, i), Linux: &runtimeapi.LinuxContainerConfig{},
		}})
		check(err)
		_, err = rt.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId})
		check(err)
		d := time.Since(start)
		mu.Lock()
		ids = append(ids, sb.PodSandboxId)
		mu.Unlock()
		return d
	})
	wall := time.Since(t0)
	parallel(len(ids), 3, func(i int) time.Duration {
		_ = cri.RemoveSandbox(ctx, rt.Runtime, ids[i])
		return 0
	})
	return &timed{latencies: *l, wall: wall}
}

func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:                      benchNode,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers:                    []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}},
		},
	}
}

// agentPods creates n pods (workers at a time) and times each from its
// create call to the watch event that shows it Running.
func agentPods(ctx context.Context, cs kubernetes.Interface, prefix string, n, workers int) *timed {
	w, err := cs.CoreV1().Pods("bench").Watch(ctx, metav1.ListOptions{})
	check(err)
	defer w.Stop()
	var mu sync.Mutex
	running := map[string]chan struct{}{}
	for i := range n {
		running[fmt.Sprintf("%s-%d", prefix, i)] = make(chan struct{})
	}
	go func() {
		seen := map[string]bool{}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				continue
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Status.Phase != corev1.PodRunning || seen[p.Name] {
				continue
			}
			mu.Lock()
			ch := running[p.Name]
			mu.Unlock()
			if ch != nil {
				seen[p.Name] = true
				close(ch)
			}
		}
	}()
	t0 := time.Now()
	l := parallel(n, workers, func(i int) time.Duration {
		name := fmt.Sprintf("%s-%d", prefix, i)
		start := time.Now()
		_, err := cs.CoreV1().Pods("bench").Create(ctx, benchPod(name), metav1.CreateOptions{})
		check(err)
		select {
		case <-running[name]:
		case <-time.After(5 * time.Minute):
			panic("pod " + name + " not Running within 5 minutes")
		}
		return time.Since(start)
	})
	return &timed{latencies: *l, wall: time.Since(t0)}
}

// deleteLatency deletes running pods with a 0 s grace period and times
// each until the watch reports it gone.
func deleteLatency(ctx context.Context, cs kubernetes.Interface, n int) *latencies {
	l := &latencies{}
	for i := range n {
		name := fmt.Sprintf("many-%d", i)
		w, err := cs.CoreV1().Pods("bench").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
		check(err)
		start := time.Now()
		check(cs.CoreV1().Pods("bench").Delete(ctx, name, metav1.DeleteOptions{}))
		for ev := range w.ResultChan() {
			if ev.Type == watch.Deleted {
				break
			}
		}
		l.d = append(l.d, time.Since(start))
		w.Stop()
	}
	return l
}
