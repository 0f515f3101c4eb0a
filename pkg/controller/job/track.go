package job

import (
	"context"
	"errors"
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// track records the pods that ended — uncounted first, then finalizers
// removed, then counted — and the Job's status and conditions. prior is
// an error of the sync so far, returned after the status is written.
func (c *Controller) track(ctx context.Context, s *jobState, shared *batchv1.Job, prior error) error {
	job := s.job
	job.Status.Active = int32(len(s.active))
	job.Status.Ready = ptr.To(countReady(s.active))
	job.Status.Terminating = ptr.To(s.terminating)
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	uc := job.Status.UncountedTerminatedPods
	counted := map[types.UID]bool{}
	for _, id := range uc.Succeeded {
		counted[id] = true
	}
	failedUIDs := map[types.UID]bool{}
	for _, id := range uc.Failed {
		counted[id], failedUIDs[id] = true, true
	}
	failing := s.finished != nil && s.finished.Type != batchv1.JobSuccessCriteriaMet && s.finished.Type != batchv1.JobComplete
	completions := int(ptr.Deref(job.Spec.Completions, 0))
	var release []*corev1.Pod
	var newIdx []int
	needsFlush := false
	for _, p := range s.pods {
		if !hasTrackingFinalizer(p) || c.exp.finalizerRemovalPending(s.key, p.UID) {
			continue
		}
		consideredFailed := isPodFailed(p, job)
		if !(job.DeletionTimestamp != nil || s.finished != nil || p.Status.Phase == corev1.PodSucceeded || consideredFailed) {
			continue // still running
		}
		release = append(release, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !failedUIDs[p.UID]:
			if isIndexed(job) {
				if ix := completionIndex(p); ix != noIndex && ix < completions && !s.prevSucceeded.has(ix) {
					newIdx = append(newIdx, ix)
					needsFlush = true
				}
			} else if !counted[p.UID] {
				uc.Succeeded = append(uc.Succeeded, p.UID)
				needsFlush = true
			}
		case consideredFailed || failing:
			ix := completionIndex(p)
			if counted[p.UID] || (isIndexed(job) && (ix == noIndex || ix >= completions)) {
				break
			}
			if _, counts, _ := matchFailurePolicy(job.Spec.PodFailurePolicy, p); counts {
				uc.Failed = append(uc.Failed, p.UID)
				needsFlush = true
			}
		}
	}
	if isIndexed(job) {
		s.succeededIdx = s.prevSucceeded.with(newIdx...)
		job.Status.CompletedIndexes = s.succeededIdx.String()
		job.Status.Succeeded = int32(s.succeededIdx.total())
	}
	if hasBackoffLimitPerIndex(job) {
		job.Status.FailedIndexes = ptr.To(s.failedIdx.String())
	}
	if f := s.finished; f != nil && f.Type != finalType(f.Type) {
		if findCondition(job, f.Type) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *f)
			needsFlush = true
		}
		s.finished = newCondition(finalType(f.Type), f.Reason, f.Message, s.now)
	}
	var err error
	if needsFlush {
		if job, err = c.writeStatus(ctx, job); err != nil {
			return errors.Join(prior, err)
		}
		s.job = job
		uc = job.Status.UncountedTerminatedPods
	}
	released, rmErr := c.removeFinalizers(ctx, s.key, release)
	holding := map[types.UID]bool{}
	for _, p := range s.pods {
		if hasTrackingFinalizer(p) && !released[p.UID] {
			holding[p.UID] = true
		}
	}
	var nSucceeded, nFailed int
	uc.Succeeded, nSucceeded = drop(uc.Succeeded, holding)
	uc.Failed, nFailed = drop(uc.Failed, holding)
	job.Status.Succeeded += int32(nSucceeded)
	job.Status.Failed += int32(nFailed)
	if nSucceeded > 0 || nFailed > 0 || len(newIdx) > 0 {
		c.backoff.record(s.key, nSucceeded > 0 || len(newIdx) > 0, nFailed, s.now.Time)
	}
	c.enactFinished(ctx, s)
	if !statusEqual(&job.Status, &shared.Status) {
		if _, err := c.writeStatus(ctx, job); err != nil {
			return errors.Join(prior, rmErr, err)
		}
	}
	return errors.Join(prior, rmErr)
}

// enactFinished adds the terminal condition once every pod is counted
// and none is terminating.
func (c *Controller) enactFinished(ctx context.Context, s *jobState) {
	job, f := s.job, s.finished
	if f == nil || !s.satisfied {
		return
	}
	uc := job.Status.UncountedTerminatedPods
	if len(uc.Succeeded)+len(uc.Failed) > 0 || s.terminating > 0 {
		return
	}
	setCondition(job, f.Type, corev1.ConditionTrue, f.Reason, f.Message, s.now)
	if f.Type == batchv1.JobComplete {
		job.Status.CompletionTime = ptr.To(s.now)
		c.event(ctx, job, corev1.EventTypeNormal, "Completed", "Job completed")
		return
	}
	c.event(ctx, job, corev1.EventTypeWarning, f.Reason, f.Message)
}

func (c *Controller) writeStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	out, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return nil, fmt.Errorf("update status: %w", err)
	}
	return out, nil
}

// drop removes the UIDs not in holding from ids, returning how many.
func drop(ids []types.UID, holding map[types.UID]bool) ([]types.UID, int) {
	kept := slices.DeleteFunc(slices.Clone(ids), func(id types.UID) bool { return !holding[id] })
	return kept, len(ids) - len(kept)
}

func countReady(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if podutil.IsPodReady(p) {
			n++
		}
	}
	return n
}
