package job

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// manage creates and deletes pods so that the right number run; it
// updates s.active and s.terminating.
func (c *Controller) manage(ctx context.Context, s *jobState) error {
	job := s.job
	if suspended(job) {
		n, err := c.deletePods(ctx, s.key, job, s.active)
		s.terminating += int32(n)
		s.active = s.active[n:]
		return err
	}
	active := int32(len(s.active))
	parallelism := ptr.Deref(job.Spec.Parallelism, 1)
	var want int32
	switch {
	case job.Spec.Completions == nil && s.succeeded > 0:
		want = active // a work queue drains: replace nothing
	case job.Spec.Completions == nil:
		want = parallelism
	default:
		want = max(0, min(*job.Spec.Completions-s.succeeded, parallelism))
	}
	var surplus []*corev1.Pod
	keep := s.active
	if isIndexed(job) {
		surplus, keep = c.surplusIndexed(s)
	}
	if extra := int(int32(len(keep)) - want); extra > 0 {
		// Remove the newest pods first.
		surplus = append(surplus, keep[len(keep)-extra:]...)
		keep = keep[:len(keep)-extra]
	}
	if len(surplus) > 0 {
		n, err := c.deletePods(ctx, s.key, job, surplus)
		s.terminating += int32(n)
		s.active = keep
		if err != nil {
			return err
		}
	}
	diff := int(want) - len(keep)
	if onlyReplaceFailed(job) {
		diff -= int(s.terminating)
	}
	if diff <= 0 {
		return nil
	}
	if wait := c.backoff.get(s.key).remaining(s.now.Time, c.cfg.PodFailureBackoff, c.cfg.MaxPodFailureBackoff); wait > 0 {
		c.queue.AddAfter(s.key, wait)
		return nil
	}
	indexes := make([]int, diff)
	for i := range indexes {
		indexes[i] = noIndex
	}
	if isIndexed(job) {
		indexes = pendingIndexes(s, keep, diff)
	}
	_, err := c.createPods(ctx, s.key, job, indexes, s.indexFailures)
	return err
}

// surplusIndexed splits the active pods of an Indexed Job into those to
// delete — index invalid, out of range, succeeded, failed or taken by an
// older pod — and those to keep.
func (c *Controller) surplusIndexed(s *jobState) (surplus, keep []*corev1.Pod) {
	completions := int(ptr.Deref(s.job.Spec.Completions, 0))
	seen := sets.New[int]()
	for _, p := range s.active {
		ix := completionIndex(p)
		if ix == noIndex || ix >= completions || s.succeededIdx.has(ix) || s.failedIdx.has(ix) || seen.Has(ix) {
			surplus = append(surplus, p)
			continue
		}
		seen.Insert(ix)
		keep = append(keep, p)
	}
	return surplus, keep
}

// pendingIndexes are the n lowest indexes neither done, failed, nor
// running (nor terminating, when only failed pods are replaced).
func pendingIndexes(s *jobState, active []*corev1.Pod, n int) []int {
	completions := int(ptr.Deref(s.job.Spec.Completions, 0))
	busy := sets.New[int]()
	for _, p := range active {
		busy.Insert(completionIndex(p))
	}
	for _, p := range s.pods {
		if onlyReplaceFailed(s.job) && p.DeletionTimestamp != nil && !podutil.IsPodTerminal(p) {
			busy.Insert(completionIndex(p))
		}
	}
	var out []int
	for ix := 0; ix < completions && len(out) < n; ix++ {
		if !busy.Has(ix) && !s.succeededIdx.has(ix) && !s.failedIdx.has(ix) {
			out = append(out, ix)
		}
	}
	return slices.Clip(out)
}
