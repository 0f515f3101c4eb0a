package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// boundPods selects the pods bound to some node, when the server can
// filter on it; each Sim keeps those on its own nodes.
const boundPods = "spec.nodeName!="

// podFieldSelector is boundPods if the server accepts it, else "" (all pods).
func (s *Sim) podFieldSelector(ctx context.Context) string {
	_, err := s.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: boundPods, Limit: 1})
	if err != nil {
		s.log.Warn("server cannot select bound pods; watching all pods", "err", err)
		return ""
	}
	return boundPods
}

// onPod queues the pods of the sim's nodes.
func (s *Sim) onPod(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || s.byName[pod.Spec.NodeName] == nil {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		s.queue.Add(key)
	}
}

func (s *Sim) podEvents() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPod,
		UpdateFunc: func(_, obj any) { s.onPod(obj) },
		DeleteFunc: s.onPod,
	}
}

// podWorker syncs queued pods until the queue shuts down.
func (s *Sim) podWorker(ctx context.Context) {
	for {
		key, quit := s.queue.Get()
		if quit {
			return
		}
		err := s.syncPod(ctx, key)
		switch {
		case err == nil || errors.Is(err, errPodGone):
			s.queue.Forget(key)
		case ctx.Err() != nil:
		default:
			s.log.Warn("pod sync failed; retrying", "pod", key, "err", err)
			s.queue.AddRateLimited(key)
		}
		s.queue.Done(key)
	}
}

// errPodGone says the pod a write was for was deleted or replaced.
var errPodGone = errors.New("pod is gone")

// syncPod moves one pod of the sim's nodes a step along its lifecycle:
// start, exit, restart or the end of a graceful deletion. Steps that are
// not due yet are queued for when they are.
func (s *Sim) syncPod(ctx context.Context, key string) error {
	obj, exists, err := s.podStore.GetByKey(key)
	if err != nil {
		return err
	}
	st := s.states.get(key)
	if !exists {
		s.forget(key, st)
		return nil
	}
	pod := obj.(*corev1.Pod)
	if st != nil && st.uid != pod.UID {
		s.forget(key, st)
		st = nil
	}
	n := s.byName[pod.Spec.NodeName]
	if n == nil {
		return nil
	}
	terminal := podutil.IsPodTerminal(pod)
	switch {
	case st != nil && st.done:
		if terminal && pod.DeletionTimestamp == nil {
			s.forget(key, st) // the informer caught up; nothing more to do
		}
		return nil
	case st == nil && terminal:
		if pod.DeletionTimestamp != nil {
			return s.deletePod(ctx, pod)
		}
		return nil
	case st == nil:
		if st, err = s.newPodState(pod, n); err != nil {
			return err
		}
		s.states.set(key, st)
	}

	now := time.Now()
	if pod.DeletionTimestamp != nil {
		return s.finishDeletion(ctx, key, pod, st, now)
	}
	switch {
	case !st.written:
		if err := s.writeStatus(ctx, pod, st.view(corev1.PodRunning)); err != nil {
			return err
		}
		st.written = true
		s.log.Debug("pod running", "pod", key, "node", n.name, "ip", st.ip)
	case st.exited != nil:
		if wait := st.exited.finished.Add(s.cfg.RestartDelay).Sub(now); wait > 0 {
			s.queue.AddAfter(key, wait)
			return nil
		}
		next := *st
		next.last, next.exited, next.restarts, next.started = st.exited, nil, st.restarts+1, now
		if err := s.writeStatus(ctx, pod, next.view(corev1.PodRunning)); err != nil {
			return err
		}
		*st = next
		s.log.Debug("pod restarted", "pod", key, "restarts", st.restarts)
	case st.exits:
		if wait := st.started.Add(st.plan.after).Sub(now); wait > 0 {
			s.queue.AddAfter(key, wait)
			return nil
		}
		return s.exit(ctx, key, pod, st, now)
	}
	if st.exits {
		s.queue.AddAfter(key, st.started.Add(st.plan.after).Sub(now))
	}
	return nil
}

// newPodState starts tracking pod: it takes over a status an earlier
// sim wrote, or gives the pod an address to start with.
func (s *Sim) newPodState(pod *corev1.Pod, n *simNode) (*podState, error) {
	st := &podState{uid: pod.UID, node: n}
	plan, ok, err := exitPlanOf(pod)
	if err != nil {
		s.log.Warn("ignoring exit annotations", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	st.plan, st.exits = plan, ok
	if st.adoptStatus(pod) {
		return st, nil
	}
	if st.ip, err = n.pods.allocate(pod.UID); err != nil {
		return nil, fmt.Errorf("node %s: %w", n.name, err)
	}
	st.firstStart = time.Now()
	st.started = st.firstStart
	return st, nil
}

// exit terminates the pod's containers with its planned exit code; the
// restart policy decides between a restart later and a terminal phase.
func (s *Sim) exit(ctx context.Context, key string, pod *corev1.Pod, st *podState, now time.Time) error {
	next := *st
	next.exited = &termination{code: st.plan.code, started: st.started, finished: now}
	phase := corev1.PodRunning
	switch outcome(pod.Spec.RestartPolicy, st.plan.code) {
	case podSucceeds:
		phase = corev1.PodSucceeded
	case podFails:
		phase = corev1.PodFailed
	}
	if err := s.writeStatus(ctx, pod, next.view(phase)); err != nil {
		return err
	}
	*st = next
	s.log.Debug("pod containers exited", "pod", key, "code", st.plan.code, "phase", phase)
	if phase == corev1.PodRunning {
		s.queue.AddAfter(key, s.cfg.RestartDelay)
		return nil
	}
	st.done = true
	st.node.pods.release(st.uid)
	return nil
}

// finishDeletion ends a graceful deletion once its grace period, counted
// from when the sim saw it, is over: the containers stop, the final
// status is written and the pod is deleted for good.
func (s *Sim) finishDeletion(ctx context.Context, key string, pod *corev1.Pod, st *podState, now time.Time) error {
	var grace time.Duration
	if g := pod.DeletionGracePeriodSeconds; g != nil && *g > 0 {
		grace = time.Duration(*g) * time.Second
	}
	if end := now.Add(grace); st.deleteAt.IsZero() || end.Before(st.deleteAt) {
		st.deleteAt = end
	}
	if wait := st.deleteAt.Sub(now); wait > 0 {
		s.queue.AddAfter(key, wait)
		return nil
	}
	if st.written {
		next := *st
		if next.exited == nil {
			next.exited = &termination{started: st.started, finished: now}
		}
		phase := corev1.PodSucceeded
		if next.exited.code != 0 {
			phase = corev1.PodFailed
		}
		if err := s.writeStatus(ctx, pod, next.view(phase)); err != nil && !errors.Is(err, errPodGone) {
			return err
		}
		*st = next
	}
	st.done = true
	st.node.pods.release(st.uid)
	return s.deletePod(ctx, pod)
}

// deletePod removes a pod whose containers have stopped, as the kubelet
// does at the end of a graceful deletion.
func (s *Sim) deletePod(ctx context.Context, pod *corev1.Pod) error {
	err := s.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// forget drops a pod's state and frees its address.
func (s *Sim) forget(key string, st *podState) {
	if st == nil {
		return
	}
	st.node.pods.release(st.uid)
	s.states.remove(key)
}
