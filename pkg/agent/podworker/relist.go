package podworker

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// relist queues every pod the runtime knows of and every pod bound here,
// so exits, crashes and orphans are seen within a second.
func (w *Worker) relist(ctx context.Context) {
	rt := w.rt
	sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		w.log.Warn("list sandboxes", "err", err)
		return
	}
	ctrs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		w.log.Warn("list containers", "err", err)
		return
	}
	// Remembered termination messages of containers that went are
	// dropped.
	present := make(map[string]bool, len(ctrs.Containers))
	for _, c := range ctrs.Containers {
		present[c.Id] = true
	}
	w.status.ForgetRemoved(present)
	// A pod's runtime state in one string: its sandboxes' and containers'
	// ids and states. Only pods whose state changed are queued at once.
	state := map[string]string{}
	bySandbox := map[string]string{}
	for _, sb := range sbs.Items {
		if ns, name := sb.Labels[podrun.LabelPodNamespace], sb.Labels[podrun.LabelPodName]; name != "" {
			key := ns + "/" + name
			bySandbox[sb.Id] = key
			state[key] += sb.Id + "=" + sb.State.String() + ";"
		}
	}
	for _, c := range ctrs.Containers {
		if key, ok := bySandbox[c.PodSandboxId]; ok {
			state[key] += c.Id + "=" + c.State.String() + ";"
		}
	}
	resync := time.Since(w.lastResync) >= resyncEvery
	if resync {
		w.lastResync = time.Now()
	}
	for key, st := range state {
		if resync || w.lastState[key] != st {
			w.queue.Add(key)
		}
	}
	for key := range w.lastState {
		if _, ok := state[key]; !ok {
			w.queue.Add(key) // its sandbox went
		}
	}
	w.lastState = state
	for _, k := range w.static.Keys() {
		if resync || state[k] == "" {
			w.queue.Add(k)
		}
	}
	pods, _ := w.pods.List(labels.Everything())
	for _, p := range pods {
		if podutil.IsPodTerminal(p) {
			continue
		}
		// A pod whose last sync failed waits out its back-off: retrying
		// it every relist would repeat the failure (and its event) every
		// second.
		if w.queue.NumRequeues(p.Namespace+"/"+p.Name) > 0 {
			continue
		}
		// Pods still starting (or waiting for something to appear) are
		// retried every relist; running ones at the resync period.
		if resync || p.Status.Phase == corev1.PodPending || state[p.Namespace+"/"+p.Name] == "" || !allReady(p) {
			w.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
}

// allReady reports whether every container of a pod runs and is ready.
func allReady(p *corev1.Pod) bool {
	if len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready {
			return false
		}
	}
	return true
}
