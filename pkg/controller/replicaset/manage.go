package replicaset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// manage creates or deletes pods so that w has its replicas; owned are
// its active pods, all the namespace's pods.
func (c *Controller) manage(ctx context.Context, key string, w *workload, owned, all []*corev1.Pod) error {
	diff := len(owned) - int(w.replicas)
	switch {
	case diff < 0:
		// Pods going away may be the garbage collector's work after w was
		// deleted: never create pods for a w the cache still shows but
		// that is gone or going.
		if current, err := c.current(ctx, w); err != nil || !current {
			if err != nil {
				return fmt.Errorf("recheck before creating pods: %w", err)
			}
			c.log.Debug("not creating pods: gone, replaced or being deleted", "key", key)
			return nil
		}
		n := min(-diff, burstReplicas)
		c.exp.expectCreations(key, n)
		c.log.Debug("creating pods", "key", key, "need", -diff, "creating", n)
		created, err := slowStart(n, 1, func() error { return c.createPod(ctx, w) })
		// Creations that failed or were never tried will not be observed.
		for range n - created {
			c.exp.creationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, burstReplicas)
		victims := podsToDelete(owned, c.related(w, owned, all), n, c.now())
		podKeys := make([]string, len(victims))
		for i, p := range victims {
			podKeys[i] = p.Namespace + "/" + p.Name
		}
		c.exp.expectDeletions(key, podKeys)
		c.log.Debug("deleting pods", "key", key, "excess", diff, "deleting", n)
		return c.deletePods(ctx, key, w, victims)
	}
	return nil
}

// slowStart calls fn count times, in parallel batches of initial,
// 2·initial, 4·initial … so that a call failing for every pod (quota,
// validation) fails a few times, not count times. It stops after a batch
// with a failure and returns how many calls succeeded and the first error.
func slowStart(count, initial int, fn func() error) (int, error) {
	done := 0
	for _, size := range batchSizes(count, initial) {
		errs := make(chan error, size)
		var wg sync.WaitGroup
		for range size {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		done += size - len(errs)
		if err, failed := <-errs; failed {
			return done, err
		}
	}
	return done, nil
}

// batchSizes splits count into batches doubling from initial.
func batchSizes(count, initial int) []int {
	var out []int
	for size := min(count, max(initial, 1)); count > 0; size = min(2*size, count) {
		out = append(out, size)
		count -= size
	}
	return out
}

// podFromTemplate is a new pod of w.
func (c *Controller) podFromTemplate(w *workload) (*corev1.Pod, error) {
	t := w.template
	if t == nil {
		return nil, errors.New("no pod template")
	}
	if len(t.Labels) == 0 {
		return nil, errors.New("the pod template has no labels")
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: w.meta.Namespace, GenerateName: w.meta.Name + "-",
			Labels: maps.Clone(t.Labels), Annotations: maps.Clone(t.Annotations), Finalizers: slices.Clone(t.Finalizers),
			OwnerReferences: []metav1.OwnerReference{c.controllerRef(w)},
		},
		Spec: *t.Spec.DeepCopy(),
	}, nil
}

func (c *Controller) createPod(ctx context.Context, w *workload) error {
	pod, err := c.podFromTemplate(w)
	if err != nil {
		c.event(ctx, w, corev1.EventTypeWarning, "FailedCreate", fmt.Sprintf("Error creating: %v", err))
		return err
	}
	out, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManagerPrefix + c.kind.name()})
	if err != nil {
		if apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
			// It may have happened: expect it; expectations expire if not.
			return nil
		}
		if ctx.Err() != nil || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return fmt.Errorf("create pod: %w", err)
		}
		c.event(ctx, w, corev1.EventTypeWarning, "FailedCreate", fmt.Sprintf("Error creating: %v", err))
		return fmt.Errorf("create pod: %w", err)
	}
	c.event(ctx, w, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: "+out.Name)
	return nil
}

// deletePods deletes victims in parallel with their normal grace period.
func (c *Controller) deletePods(ctx context.Context, key string, w *workload, victims []*corev1.Pod) error {
	errs := make([]error, len(victims))
	var wg sync.WaitGroup
	for i, p := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := p.UID
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err == nil {
				c.event(ctx, w, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: "+p.Name)
				return
			}
			// No informer event will come for a deletion that did not
			// happen (or happened to another pod of that name).
			c.exp.deletionObserved(key, p.Namespace+"/"+p.Name)
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || ctx.Err() != nil {
				return
			}
			c.event(ctx, w, corev1.EventTypeWarning, "FailedDelete", fmt.Sprintf("Error deleting: %v", err))
			errs[i] = fmt.Errorf("delete pod %s: %w", p.Name, err)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// related are the pods counted when ranking w's pods by co-location: its
// own, and those of the workloads sharing its controller (the
// ReplicaSets of one Deployment).
func (c *Controller) related(w *workload, owned, all []*corev1.Pod) []*corev1.Pod {
	family := map[types.UID]bool{w.meta.UID: true}
	if ref := metav1.GetControllerOf(w.meta); ref != nil {
		if siblings, err := c.kind.list(w.meta.Namespace); err == nil {
			for _, s := range siblings {
				if sref := metav1.GetControllerOf(s.meta); sref != nil && sref.UID == ref.UID {
					family[s.meta.UID] = true
				}
			}
		}
	}
	out := slices.Clone(owned)
	for _, p := range all {
		// Owned pods are in already, including just-adopted ones.
		if ref := metav1.GetControllerOf(p); ref != nil && family[ref.UID] && ref.UID != w.meta.UID {
			out = append(out, p)
		}
	}
	return out
}

// event records an Event on w; a failure only costs the Event.
func (c *Controller) event(_ context.Context, w *workload, typ, reason, message string) {
	if obj, ok := w.raw.(runtime.Object); ok {
		c.recorder.Event(obj, typ, reason, message)
	}
}

// component names the controller in Events as upstream does.
func (c *Controller) component() string {
	if c.kind.name() == "replicaset" {
		return "replicaset-controller"
	}
	return "replication-controller"
}
