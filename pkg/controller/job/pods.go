package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/controller/refmanager"
)

// completionIndexEnv is the variable Indexed Jobs' containers read their
// index from.
const completionIndexEnv = "JOB_COMPLETION_INDEX"

// maxConcurrentWrites bounds the parallel pod writes of one sync.
const maxConcurrentWrites = 16

var everything = labels.Everything()

// podFromTemplate builds a pod of job; index is noIndex for NonIndexed
// Jobs. failures is the index's earlier failure count (per-index limits).
func podFromTemplate(job *batchv1.Job, index, failures int) *corev1.Pod {
	t := job.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       job.Namespace,
			GenerateName:    job.Name + "-",
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      append(t.Finalizers, batchv1.JobTrackingFinalizer),
			OwnerReferences: []metav1.OwnerReference{refmanager.ControllerRef(job, controllerKind)},
		},
		Spec: t.Spec,
	}
	if index == noIndex {
		return pod
	}
	ix := strconv.Itoa(index)
	pod.GenerateName = fmt.Sprintf("%s-%d-", job.Name, index)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = ix
	if hasBackoffLimitPerIndex(job) {
		pod.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(failures)
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = ix
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, index)
	}
	for i := range pod.Spec.InitContainers {
		addIndexEnv(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		addIndexEnv(&pod.Spec.Containers[i])
	}
	return pod
}

func addIndexEnv(c *corev1.Container) {
	if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == completionIndexEnv }) {
		return
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: completionIndexEnv, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)},
	}})
}

// createPods creates pods for the given indexes (noIndex entries for
// NonIndexed Jobs); it returns how many were created.
func (c *Controller) createPods(ctx context.Context, key string, job *batchv1.Job, indexes []int, failures map[int]int) (int, error) {
	// The cache can lag behind the Job's deletion while the garbage
	// collector already deletes its pods: never replace them then.
	if current, err := refmanager.Current(ctx, job, c.live(job)); err != nil {
		return 0, fmt.Errorf("recheck job before creating pods: %w", err)
	} else if !current {
		return 0, nil
	}
	c.exp.expectCreations(key, len(indexes))
	var (
		mu      sync.Mutex
		created int
		errs    []error
	)
	forEach(len(indexes), func(i int) {
		pod := podFromTemplate(job, indexes[i], failures[indexes[i]])
		_, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			c.exp.creationObserved(key) // nothing will show up
			if !apierrors.IsAlreadyExists(err) {
				errs = append(errs, err)
			}
			return
		}
		created++
	})
	if created > 0 {
		c.event(ctx, job, corev1.EventTypeNormal, "SuccessfulCreate", fmt.Sprintf("Created %d pod(s)", created))
	}
	if len(errs) > 0 {
		c.event(ctx, job, corev1.EventTypeWarning, "FailedCreate", fmt.Sprintf("Error creating: %v", errs[0]))
		return created, fmt.Errorf("create pods: %w", errs[0])
	}
	return created, nil
}

// deletePods deletes pods (keeping their finalizers: the sync counts
// them) and returns how many deletions were issued.
func (c *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) (int, error) {
	var (
		mu      sync.Mutex
		deleted int
		errs    []error
	)
	forEach(len(pods), func(i int) {
		p := pods[i]
		c.exp.expectDeletion(key, p.UID)
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(p.UID))})
		mu.Lock()
		defer mu.Unlock()
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			c.exp.deletionObserved(key, p.UID)
			errs = append(errs, err)
			return
		}
		if err != nil {
			c.exp.deletionObserved(key, p.UID)
		}
		deleted++
	})
	if deleted > 0 {
		c.event(ctx, job, corev1.EventTypeNormal, "SuccessfulDelete", fmt.Sprintf("Deleted %d pod(s)", deleted))
	}
	if len(errs) > 0 {
		return deleted, fmt.Errorf("delete pods: %w", errs[0])
	}
	return deleted, nil
}

// removeFinalizers drops the tracking finalizer from pods; it returns the
// UIDs of the pods that no longer hold it.
func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) (map[types.UID]bool, error) {
	var (
		mu   sync.Mutex
		done = map[types.UID]bool{}
		errs []error
	)
	forEach(len(pods), func(i int) {
		p := pods[i]
		c.exp.expectFinalizerRemoval(key, p.UID)
		err := c.removeFinalizer(ctx, p)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			c.exp.finalizerRemovalObserved(key, p.UID)
			errs = append(errs, err)
			return
		}
		done[p.UID] = true
	})
	if len(errs) > 0 {
		return done, fmt.Errorf("remove tracking finalizers: %w", errs[0])
	}
	return done, nil
}

// removeFinalizer drops the tracking finalizer from one pod with a JSON
// patch guarded by the pod's UID and finalizer list; a gone pod is fine.
func (c *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	pods := c.client.CoreV1().Pods(pod.Namespace)
	for attempt := 0; ; attempt++ {
		i := slices.Index(pod.Finalizers, batchv1.JobTrackingFinalizer)
		if i < 0 {
			return nil
		}
		path := fmt.Sprintf("/metadata/finalizers/%d", i)
		patch, _ := json.Marshal([]map[string]any{
			{"op": "test", "path": "/metadata/uid", "value": pod.UID},
			{"op": "test", "path": path, "value": batchv1.JobTrackingFinalizer},
			{"op": "remove", "path": path},
		})
		_, err := pods.Patch(ctx, pod.Name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if attempt >= 3 || !(apierrors.IsInvalid(err) || apierrors.IsConflict(err) || apierrors.IsBadRequest(err) || isUnprocessable(err)) {
			return fmt.Errorf("pod %s: %w", pod.Name, err)
		}
		// The cached finalizer list was stale: read the pod and retry.
		fresh, gerr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) {
			return nil
		}
		if gerr != nil {
			return fmt.Errorf("pod %s: %w", pod.Name, gerr)
		}
		if fresh.UID != pod.UID {
			return nil
		}
		pod = fresh
	}
}

// forEach runs fn(0…n-1) with bounded parallelism and waits.
func forEach(n int, fn func(int)) {
	sem := make(chan struct{}, maxConcurrentWrites)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

func isUnprocessable(err error) bool {
	var st apierrors.APIStatus
	return errors.As(err, &st) && st.Status().Code == 422
}
