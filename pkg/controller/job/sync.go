package job

import (
	"context"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/refmanager"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// jobState is what one sync knows of a Job and its pods.
type jobState struct {
	key         string
	job         *batchv1.Job // the copy being updated
	pods        []*corev1.Pod
	active      []*corev1.Pod // neither terminal nor being deleted
	terminating int32
	succeeded   int32 // counted, uncounted and newly finished
	failed      int32
	// finished is the condition the Job is heading to, interim
	// (FailureTarget, SuccessCriteriaMet) or terminal, or nil.
	finished      *batchv1.JobCondition
	prevSucceeded intervals // Indexed: status.completedIndexes
	succeededIdx  intervals // Indexed: with the pods that just succeeded
	failedIdx     intervals // per-index limits: failed indexes
	indexFailures map[int]int
	satisfied     bool
	now           metav1.Time
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.forget(key)
		c.backoff.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	pods, err := c.podsOf(ctx, shared)
	if err != nil {
		return err
	}
	if IsFinished(shared) {
		// Counted already; free whatever still holds the finalizer.
		var held []*corev1.Pod
		for _, p := range pods {
			if hasTrackingFinalizer(p) && !c.exp.finalizerRemovalPending(key, p.UID) {
				held = append(held, p)
			}
		}
		_, err := c.removeFinalizers(ctx, key, held)
		return err
	}
	s := &jobState{key: key, job: shared.DeepCopy(), pods: pods, now: metav1.Now(), satisfied: c.exp.satisfied(key)}
	job := s.job
	for _, p := range pods {
		switch {
		case podutil.IsPodTerminal(p):
		case p.DeletionTimestamp != nil:
			s.terminating++
		default:
			s.active = append(s.active, p)
		}
	}
	if job.Status.StartTime == nil && !suspended(job) {
		job.Status.StartTime = ptr.To(s.now)
	}
	uncounted := uncountedSets(job)
	newSucceeded, newFailed := 0, 0
	for _, p := range pods {
		if !hasTrackingFinalizer(p) || c.exp.finalizerRemovalPending(key, p.UID) || uncounted[p.UID] {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded {
			newSucceeded++
		} else if isPodFailed(p, job) {
			if _, counts, _ := matchFailurePolicy(job.Spec.PodFailurePolicy, p); counts {
				newFailed++
			}
		}
	}
	var uc batchv1.UncountedTerminatedPods
	if job.Status.UncountedTerminatedPods != nil {
		uc = *job.Status.UncountedTerminatedPods
	}
	s.succeeded = job.Status.Succeeded + int32(newSucceeded+len(uc.Succeeded))
	s.failed = job.Status.Failed + int32(newFailed+len(uc.Failed))

	c.decideFailure(s)
	if isIndexed(job) {
		c.indexBookkeeping(s)
	}
	if s.finished != nil {
		n, err := c.deletePods(ctx, key, job, s.active)
		s.terminating += int32(n)
		s.active = s.active[n:]
		if err != nil {
			return c.track(ctx, s, shared, err)
		}
		s.active = nil
		return c.track(ctx, s, shared, nil)
	}
	var manageErr error
	managed := false
	if s.satisfied && job.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, s)
		managed = true
	}
	active := int32(len(s.active))
	var complete bool
	if job.Spec.Completions == nil {
		complete = s.succeeded > 0 && active == 0
	} else {
		complete = s.succeeded >= *job.Spec.Completions && active == 0
	}
	switch {
	case complete:
		s.finished = newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, msgCompletions, s.now)
	case managed && suspended(job):
		if setCondition(job, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", s.now) {
			c.event(ctx, job, corev1.EventTypeNormal, "Suspended", "Job suspended")
		}
	case managed:
		if setCondition(job, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", s.now) {
			c.event(ctx, job, corev1.EventTypeNormal, "Resumed", "Job resumed")
			// activeDeadlineSeconds counts continuous activity.
			job.Status.StartTime = ptr.To(s.now)
		}
	}
	return c.track(ctx, s, shared, manageErr)
}

// podsOf returns the pods job controls, oldest first. A Job not finished
// claims them (refmanager.Claim): it adopts the orphans its selector
// matches, adding the tracking finalizer, and releases its own that it
// no longer matches, removing the finalizer. A finished Job, or one whose
// selector is empty, only lists its own.
func (c *Controller) podsOf(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil || job.Spec.Selector == nil {
		return nil, nil // invalid selectors select nothing
	}
	var out []*corev1.Pod
	if IsFinished(job) || sel.Empty() {
		all, err := c.pods.Pods(job.Namespace).List(sel)
		if err != nil {
			return nil, fmt.Errorf("list pods: %w", err)
		}
		for _, p := range all {
			if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID {
				out = append(out, p)
			}
		}
	} else {
		all, err := c.pods.Pods(job.Namespace).List(everything)
		if err != nil {
			return nil, fmt.Errorf("list pods: %w", err)
		}
		pods := refmanager.Pods(c.client, fieldManager)
		pods.Finalizers = []string{batchv1.JobTrackingFinalizer}
		if out, err = refmanager.Claim(ctx, c.asOwner(job, sel), pods, all); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	return out, nil
}

// asOwner is job as the owner of the pods it claims.
func (c *Controller) asOwner(job *batchv1.Job, sel labels.Selector) refmanager.Owner {
	return refmanager.Owner{Object: job, Kind: controllerKind, Selector: sel, Get: c.live(job), Log: c.log}
}

// live reads job from the API server, past the cache.
func (c *Controller) live(job *batchv1.Job) refmanager.Getter {
	return func(ctx context.Context) (metav1.Object, error) {
		return c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	}
}

// decideFailure picks the condition a failing Job heads to, or schedules
// the check of activeDeadlineSeconds.
func (c *Controller) decideFailure(s *jobState) {
	job := s.job
	if cond := findCondition(job, batchv1.JobSuccessCriteriaMet); cond != nil {
		s.finished = newCondition(batchv1.JobComplete, cond.Reason, cond.Message, s.now)
		return
	}
	if cond := findCondition(job, batchv1.JobFailureTarget); cond != nil {
		s.finished = newCondition(batchv1.JobFailed, cond.Reason, cond.Message, s.now)
		return
	}
	if job.Spec.PodFailurePolicy != nil {
		for _, p := range s.pods {
			if !isPodFailed(p, job) {
				continue
			}
			if msg, _, _ := matchFailurePolicy(job.Spec.PodFailurePolicy, p); msg != nil {
				s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, *msg, s.now)
				return
			}
		}
	}
	switch {
	case s.failed > *job.Spec.BackoffLimit || pastBackoffLimitOnFailure(job, s.active):
		s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit, s.now)
	case pastActiveDeadline(job, s.now.Time):
		s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, msgDeadline, s.now)
	case job.Spec.ActiveDeadlineSeconds != nil && !suspended(job):
		left := job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second).Sub(s.now.Time)
		c.queue.AddAfter(s.key, left)
	}
}

// indexBookkeeping computes the succeeded and failed indexes and the
// conditions they lead to.
func (c *Controller) indexBookkeeping(s *jobState) {
	job := s.job
	completions := int(ptr.Deref(job.Spec.Completions, 0))
	s.prevSucceeded = parseIntervals(job.Status.CompletedIndexes, completions)
	var idx []int
	for _, p := range s.pods {
		if ix := completionIndex(p); p.Status.Phase == corev1.PodSucceeded && ix != noIndex && ix < completions && hasTrackingFinalizer(p) {
			idx = append(idx, ix)
		}
	}
	s.succeededIdx = s.prevSucceeded.with(idx...)
	s.succeeded = int32(s.succeededIdx.total())
	if !hasBackoffLimitPerIndex(job) {
		return
	}
	s.failedIdx = parseIntervals(ptr.Deref(job.Status.FailedIndexes, ""), completions)
	s.indexFailures = map[int]int{}
	var failed []int
	for _, p := range s.pods {
		ix := completionIndex(p)
		if ix == noIndex || ix >= completions || !isPodFailed(p, job) {
			continue
		}
		_, counts, action := matchFailurePolicy(job.Spec.PodFailurePolicy, p)
		n := indexFailureCount(p)
		if counts {
			n++
		}
		s.indexFailures[ix] = max(s.indexFailures[ix], n)
		if (action != nil && *action == batchv1.PodFailurePolicyActionFailIndex) || n > int(*job.Spec.BackoffLimitPerIndex) {
			if !s.succeededIdx.has(ix) {
				failed = append(failed, ix)
			}
		}
	}
	s.failedIdx = s.failedIdx.with(failed...)
	if s.finished != nil {
		return
	}
	nFailed := s.failedIdx.total()
	switch {
	case job.Spec.MaxFailedIndexes != nil && nFailed > int(*job.Spec.MaxFailedIndexes):
		s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonMaxFailedIndexesExceeded, msgMaxFailedIndexes, s.now)
	case nFailed > 0 && nFailed+s.succeededIdx.total() >= completions:
		s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonFailedIndexes, msgFailedIndexes, s.now)
	}
}

func pastActiveDeadline(job *batchv1.Job, now time.Time) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || suspended(job) {
		return false
	}
	return !now.Before(job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second))
}

// pastBackoffLimitOnFailure counts container restarts of running pods
// against backoffLimit when the kubelet restarts failed containers.
func pastBackoffLimitOnFailure(job *batchv1.Job, active []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range active {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, st := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			restarts += st.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

// onlyReplaceFailed: pods are replaced only once fully failed, not while
// terminating.
func onlyReplaceFailed(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.PodReplacementPolicy, "") == batchv1.Failed || job.Spec.PodFailurePolicy != nil
}

// isPodFailed: a failed pod, or (unless only failed pods are replaced) a
// pod being deleted before it succeeded.
func isPodFailed(p *corev1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailed(job) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

func uncountedSets(job *batchv1.Job) map[types.UID]bool {
	out := map[types.UID]bool{}
	if u := job.Status.UncountedTerminatedPods; u != nil {
		for _, id := range u.Succeeded {
			out[id] = true
		}
		for _, id := range u.Failed {
			out[id] = true
		}
	}
	return out
}

func statusEqual(a, b *batchv1.JobStatus) bool { return apiequality.Semantic.DeepEqual(a, b) }
