package podworker

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/agent/status"
)

// evictionGrace is the grace period of a pod evicted for a hard
// threshold, upstream's immediate eviction.
const evictionGrace = 1

// evictions are the pods to fail for the node's sake, by UID.
type evictions struct {
	mu   sync.Mutex
	byID map[types.UID]*status.Failure
}

func (e *evictions) add(uid types.UID, f *status.Failure) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.byID == nil {
		e.byID = map[types.UID]*status.Failure{}
	}
	e.byID[uid] = f
}

func (e *evictions) get(uid types.UID) *status.Failure {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byID[uid]
}

func (e *evictions) done(uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byID, uid)
}

// Evict fails pod for good as the node's eviction manager decided, the
// way upstream's kubelet does: its containers are killed and its status
// becomes phase Failed with reason and message, with a DisruptionTarget
// condition (TerminationByKubelet). Its sandbox and volumes go with the
// next sync, as any finished pod's.
func (w *Worker) Evict(pod *corev1.Pod, reason, message string) {
	w.evictions.add(pod.UID, &status.Failure{Reason: reason, Message: message, Condition: &corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: corev1.PodReasonTerminationByKubelet,
		Message: message, LastTransitionTime: metav1.NewTime(time.Now()),
	}})
	w.Enqueue(pod.Namespace + "/" + pod.Name)
}

// evict carries out an eviction asked for the pod, if one was.
func (w *Worker) evict(ctx context.Context, pod *corev1.Pod, run *podrun.Run) (bool, error) {
	f := w.evictions.get(pod.UID)
	if f == nil {
		return false, nil
	}
	if _, err := w.killContainers(ctx, pod, run, evictionGrace); err != nil {
		return true, err
	}
	if err := w.status.Write(ctx, pod, run, f); err != nil {
		return true, err
	}
	w.evictions.done(pod.UID)
	return true, nil
}
