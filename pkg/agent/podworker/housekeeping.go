package podworker

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// The housekeeping (the kubelet's HandlePodCleanups) compares the pods
// the node is to run with what the node holds and removes what belongs
// to no such pod, however the pod ended: a force delete, a delete while
// the agent was down, a sandbox removed behind the agent's back. It runs
// once the informers are in sync, soon after a pod leaves the API, and
// every half minute.
const (
	housekeepAfterGone = 2 * time.Second
	housekeepEvery     = 30 * time.Second
)

// Housekeeping is what one round removed and how long it took.
type Housekeeping struct {
	Took time.Duration
	// Removed counts what went, by kind: "sandboxes", "pod_directories",
	// "finished_pod_volumes", "address_leases", and the pods dropped
	// from each in-memory state by its name.
	Removed map[string]int
}

// States are the per-pod in-memory states of the node, by name: the
// worker's own and those of the other parts.
func (w *Worker) States() map[string]PodState {
	out := map[string]PodState{"restart_backoff": &w.backoffs, "volumes": w.volumes}
	if ad := w.admission.Load(); ad != nil {
		out["admission"] = ad
	}
	for name, s := range w.states {
		out[name] = s
	}
	return out
}

// podGone has the housekeeping run soon.
func (w *Worker) podGone() {
	select {
	case w.gone <- struct{}{}:
	default:
	}
}

// runHousekeeping runs a round now, then housekeepAfterGone after a pod
// left the API and every housekeepEvery, until ctx ends.
func (w *Worker) runHousekeeping(ctx context.Context) {
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.gone:
			if soon := time.Now().Add(housekeepAfterGone); soon.Before(next) {
				next = soon
				timer.Reset(time.Until(next))
			}
		case <-timer.C:
			w.housekeep(ctx)
			next = time.Now().Add(housekeepEvery)
			timer.Reset(housekeepEvery)
		}
	}
}

// housekeep runs one round.
func (w *Worker) housekeep(ctx context.Context) {
	start := time.Now()
	removed := map[string]int{}
	// What the node holds is read before the pods are: a pod created
	// meanwhile is live, and what it made since was not listed.
	leases, err := readLeases(w.leases)
	if err != nil {
		w.log.Warn("housekeeping: address leases", "err", err)
	}
	sbs, err := w.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		w.log.Warn("housekeeping: list sandboxes", "err", err)
		return
	}
	onDisk, err := w.volumes.PodsOnDisk()
	if err != nil {
		w.log.Warn("housekeeping: pod directories", "err", err)
	}
	live := w.livePods()
	isLive := func(uid types.UID) bool { return live[uid] != nil }

	sandboxes := map[string]bool{}
	busy := map[types.UID]bool{} // pods whose sandbox is still there
	for _, sb := range sbs.Items {
		sandboxes[sb.Id] = true
		if sb.Labels[podrun.LabelPodName] == "" || sb.Metadata == nil {
			continue // not a pod of this agent
		}
		uid := types.UID(sb.Metadata.Uid)
		if isLive(uid) {
			busy[uid] = true
			continue
		}
		if err := w.teardown(ctx, sb, 0); err != nil {
			w.log.Warn("housekeeping: remove orphaned sandbox", "sandbox", sb.Id, "pod", sb.Metadata.Namespace+"/"+sb.Metadata.Name, "uid", uid, "err", err)
			busy[uid] = true
			continue
		}
		delete(sandboxes, sb.Id)
		removed["sandboxes"]++
		w.log.Info("housekeeping: removed orphaned sandbox", "sandbox", sb.Id, "pod", sb.Metadata.Namespace+"/"+sb.Metadata.Name, "uid", uid)
	}

	for name, st := range w.States() {
		if n := st.RetainPods(isLive); n > 0 {
			removed[name] += n
			w.log.Info("housekeeping: dropped state of pods that are gone", "state", name, "pods", n)
		}
	}

	for _, uid := range onDisk {
		if busy[uid] {
			continue // its containers may still use the files
		}
		pod := live[uid]
		switch {
		case pod == nil:
			if err := w.volumes.Cleanup(uid); err != nil {
				w.log.Warn("housekeeping: orphaned pod directory kept", "uid", uid, "err", err)
				continue
			}
			removed["pod_directories"]++
			w.log.Info("housekeeping: removed orphaned pod directory and logs", "uid", uid)
		case podutil.IsPodTerminal(pod):
			// As the kubelet, a finished pod's volumes go; its
			// directory and logs stay until it is deleted.
			found, err := w.volumes.TeardownVolumes(uid)
			if err != nil {
				w.log.Warn("housekeeping: volumes of finished pod kept", "pod", pod.Namespace+"/"+pod.Name, "err", err)
				continue
			}
			if found {
				removed["finished_pod_volumes"]++
				w.log.Info("housekeeping: removed volumes of finished pod", "pod", pod.Namespace+"/"+pod.Name, "uid", uid)
			}
		}
	}

	for _, l := range leases {
		if sandboxes[l.sandbox] || start.Sub(l.written) < leaseGrace {
			continue
		}
		if err := l.release(); err != nil {
			w.log.Warn("housekeeping: release address lease", "ip", l.ip, "err", err)
			continue
		}
		removed["address_leases"]++
		w.log.Info("housekeeping: released address of a sandbox that is gone", "ip", l.ip, "sandbox", l.sandbox)
	}

	if w.housekept != nil {
		w.housekept(Housekeeping{Took: time.Since(start), Removed: removed})
	}
}

// livePods are the pods the node is to run, by UID: the API's pods bound
// here (finished and terminating ones included) and the static pods.
func (w *Worker) livePods() map[types.UID]*corev1.Pod {
	live := map[types.UID]*corev1.Pod{}
	pods, _ := w.pods.List(labels.Everything())
	for _, p := range pods {
		live[p.UID] = p
	}
	for _, k := range w.static.Keys() {
		if p := w.static.Get(k); p != nil {
			live[p.UID] = p
		}
	}
	return live
}
