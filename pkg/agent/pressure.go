package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/eviction"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// healthEvery is how often the runtime's health is checked; a change is
// reported on the Node at once.
const healthEvery = 2 * time.Second

// runtimeHealth is what the Ready condition says of the runtime.
type runtimeHealth struct {
	ready   bool
	message string // why not, in the kubelet's words
}

// checkRuntime asks the runtime for its status, as the kubelet's runtime
// health check: no answer is "container runtime is down", a condition
// that is false says which.
func (a *Agent) checkRuntime(ctx context.Context) runtimeHealth {
	rt := a.runtimeClient()
	if rt == nil {
		return runtimeHealth{message: "container runtime is down"}
	}
	cctx, cancel := context.WithTimeout(ctx, healthEvery)
	defer cancel()
	st, err := rt.Runtime.Status(cctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return runtimeHealth{message: "container runtime is down"}
	}
	var errs []string
	for _, c := range st.GetStatus().GetConditions() {
		if c.Status {
			continue
		}
		switch c.Type {
		case runtimeapi.RuntimeReady:
			errs = append(errs, fmt.Sprintf("container runtime not ready: %s=false reason:%s message:%s", c.Type, c.Reason, c.Message))
		case runtimeapi.NetworkReady:
			errs = append(errs, fmt.Sprintf("container runtime network not ready: %s=false reason:%s message:%s", c.Type, c.Reason, c.Message))
		}
	}
	if len(errs) > 0 {
		return runtimeHealth{message: strings.Join(errs, ", ")}
	}
	return runtimeHealth{ready: true}
}

// watchRuntime checks the runtime every healthEvery until ctx ends and
// has the Node's status written when its health changed.
func (a *Agent) watchRuntime(ctx context.Context) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := a.checkRuntime(ctx)
		if old := a.health.Swap(&h); old == nil || *old != h {
			if !h.ready {
				a.log.Warn("node not ready", "reason", h.message)
			} else {
				a.log.Info("container runtime healthy again")
			}
			a.requestStatus()
		}
	}
}

// readyCondition is the Ready condition from the runtime's health.
func (a *Agent) readyCondition() corev1.NodeCondition {
	h := a.health.Load()
	if h != nil && !h.ready {
		return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: h.message}
	}
	return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
}

// requestStatus asks the heartbeat for a node status update now.
func (a *Agent) requestStatus() {
	select {
	case a.statusNow <- struct{}{}:
	default:
	}
}

func (a *Agent) newPressureManager() *eviction.Manager {
	return eviction.New(eviction.Config{
		Hard:             a.cfg.Pressure.EvictionHard,
		TransitionPeriod: a.cfg.Pressure.TransitionPeriod,
		Reader:           eviction.MachineReader{NodeFsPath: a.cfg.DataDir, ImageFsPath: a.imageFsPath},
		Pods:             a.activePods,
		Usage:            a.podUsage,
		Evict:            a.evictPod,
		Reclaimed:        a.podReclaimed,
		Images:           currentImageGC{a},
		NodeEvent: func(reason, msg string) {
			a.events.NodeEvent(a.cfg.NodeName, corev1.EventTypeWarning, reason, msg)
		},
		Changed: a.requestStatus,
		Log:     a.log,
	})
}

// imageFsPath is where the runtime keeps images: the mount point CRI's
// ImageFsInfo names, else the agent's own containerd's directory, else
// "" (the data dir's file system).
func (a *Agent) imageFsPath(ctx context.Context) string {
	if rt := a.runtimeClient(); rt != nil {
		cctx, cancel := context.WithTimeout(ctx, healthEvery)
		info, err := rt.Images.ImageFsInfo(cctx, &runtimeapi.ImageFsInfoRequest{})
		cancel()
		if err == nil {
			for _, f := range info.GetImageFilesystems() {
				if p := f.GetFsId().GetMountpoint(); p != "" {
					return p
				}
			}
		}
	}
	if a.cfg.RuntimeEndpoint == "" {
		return filepath.Join(a.cfg.DataDir, "containerd")
	}
	return ""
}

// activePods are the API's pods bound to this node.
func (a *Agent) activePods(ctx context.Context) ([]*corev1.Pod, error) {
	list, err := a.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()})
	if err != nil {
		return nil, fmt.Errorf("list node's pods: %w", err)
	}
	out := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// evictPod has the run's pod worker fail the pod and records the
// Evicted Event.
func (a *Agent) evictPod(ctx context.Context, pod *corev1.Pod, msg string) error {
	w := a.metrics.worker.Load()
	if w == nil {
		return errors.New("no pod worker runs")
	}
	w.Evict(pod, eviction.Reason, msg)
	a.events.Event(ctx, pod, corev1.EventTypeWarning, eviction.Reason, msg)
	return nil
}

// podReclaimed says whether an evicted pod has given back what it held:
// no container of it runs and its volumes (emptyDirs among them) are
// removed.
func (a *Agent) podReclaimed(ctx context.Context, pod *corev1.Pod) bool {
	rt := a.runtimeClient()
	if rt == nil {
		return false
	}
	running, err := runningContainers(ctx, rt, pod)
	if err != nil || len(running) > 0 {
		return false
	}
	return a.volumes.VolumesRemoved(pod.UID)
}

// runningContainers are the pod's containers the runtime runs.
func runningContainers(ctx context.Context, rt *cri.Client, pod *corev1.Pod) ([]*runtimeapi.Container, error) {
	list, err := rt.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{podrun.LabelPodUID: string(pod.UID)},
	}})
	if err != nil {
		return nil, err
	}
	return list.GetContainers(), nil
}

// currentImageGC frees image space through the current run's collector.
type currentImageGC struct{ a *Agent }

func (c currentImageGC) FreeSpace(ctx context.Context, want int64) error {
	gc := c.a.imageGC.Load()
	if gc == nil {
		return errors.New("no image collector runs")
	}
	return gc.FreeSpace(ctx, want)
}

// podUsage measures the pods' use of res: the memory working set from
// the usage collector, or the ephemeral storage each uses (its
// containers' writable layers and logs, and its volumes on the node's
// disk).
func (a *Agent) podUsage(ctx context.Context, pods []*corev1.Pod, res corev1.ResourceName) ([]eviction.Candidate, error) {
	out := make([]eviction.Candidate, 0, len(pods))
	if res == corev1.ResourceMemory {
		sum, err := a.usage.Summary(ctx)
		if sum == nil {
			return nil, err
		}
		byUID := map[types.UID]int{}
		for i, p := range sum.Pods {
			byUID[types.UID(p.PodRef.UID)] = i
		}
		for _, p := range pods {
			c := eviction.Candidate{Pod: p, Containers: map[string]int64{}}
			if i, ok := byUID[p.UID]; ok {
				ps := sum.Pods[i]
				if ps.Memory != nil && ps.Memory.WorkingSetBytes != nil {
					c.Usage = int64(*ps.Memory.WorkingSetBytes)
				}
				for _, cs := range ps.Containers {
					if cs.Memory != nil && cs.Memory.WorkingSetBytes != nil {
						c.Containers[cs.Name] = int64(*cs.Memory.WorkingSetBytes)
					}
				}
			}
			out = append(out, c)
		}
		return out, nil
	}
	for _, p := range pods {
		c := eviction.Candidate{Pod: p, Containers: a.containerDiskUsage(ctx, p)}
		for _, v := range c.Containers {
			c.Usage += v
		}
		c.Usage += diskUsage(filepath.Join(podrun.PodDir(a.cfg.DataDir, p.UID), "volumes"))
		out = append(out, c)
	}
	return out, nil
}

// containerDiskUsage is each container's writable layer (as the runtime
// reports it) and logs.
func (a *Agent) containerDiskUsage(ctx context.Context, pod *corev1.Pod) map[string]int64 {
	out := map[string]int64{}
	logs := podrun.LogDir(a.cfg.DataDir, pod)
	for _, c := range pod.Spec.Containers {
		out[c.Name] = diskUsage(filepath.Join(logs, c.Name))
	}
	rt := a.runtimeClient()
	if rt == nil {
		return out
	}
	running, err := runningContainers(ctx, rt, pod)
	if err != nil {
		return out
	}
	for _, ctr := range running {
		st, err := rt.Runtime.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: ctr.Id})
		if err != nil {
			continue
		}
		out[ctr.GetMetadata().GetName()] += int64(st.GetStats().GetWritableLayer().GetUsedBytes().GetValue())
	}
	return out
}

// diskUsage is the space the files under dir take on dir's own file
// system (mounts inside, memory-backed volumes among them, not counted).
func diskUsage(dir string) int64 {
	var root syscall.Stat_t
	if err := syscall.Lstat(dir, &root); err != nil {
		return 0
	}
	var total int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Lstat(path, &st) != nil {
			return nil
		}
		if st.Dev != root.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		total += st.Blocks * 512
		return nil
	})
	return total
}

// imageFsUsage is the image file system's capacity and available bytes.
func (a *Agent) imageFsUsage(ctx context.Context) (capacity, available int64, err error) {
	r, err := eviction.MachineReader{NodeFsPath: a.cfg.DataDir, ImageFsPath: a.imageFsPath}.Read(ctx)
	if err != nil {
		return 0, 0, err
	}
	return r.ImageFs.Capacity, r.ImageFs.Available, nil
}
