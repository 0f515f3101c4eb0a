package sim

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// writeStatus replaces pod's status with the one v renders: one write
// from the informer's copy, and on a conflict one more from a fresh read.
// It returns errPodGone when the pod was deleted or replaced meanwhile.
func (s *Sim) writeStatus(ctx context.Context, pod *corev1.Pod, v runView) error {
	pods := s.cs.CoreV1().Pods(pod.Namespace)
	cur := pod
	for attempt := 0; ; attempt++ {
		next := cur.DeepCopy()
		next.Status = podStatus(cur, v, time.Now())
		_, err := pods.UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
		switch {
		case err == nil:
			return nil
		case apierrors.IsNotFound(err):
			return errPodGone
		case !apierrors.IsConflict(err) || attempt >= 3:
			return fmt.Errorf("update status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		fresh, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && fresh.UID != pod.UID) {
			return errPodGone
		}
		if err != nil {
			return fmt.Errorf("get pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		cur = fresh
	}
}
