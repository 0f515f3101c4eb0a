package statefulset

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// cacheLag is how soon a set is looked at again after a write the
// informer has not shown yet.
const cacheLag = 200 * time.Millisecond

// reconcilePods creates, recreates, deletes and updates the set's pods,
// one step at a time where the policy asks for order.
func (c *Controller) reconcilePods(ctx context.Context, set *appsv1.StatefulSet, current, update *appsv1.ControllerRevision, pods []*corev1.Pod) (time.Duration, error) {
	currentSet, err := setAtRevision(set, current)
	if err != nil {
		return 0, err
	}
	updateSet, err := setAtRevision(set, update)
	if err != nil {
		return 0, err
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	start, n := startOrdinal(set), replicaCount(set)
	replicas := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, p := range pods {
		if ord := ordinalOf(p); ord >= start && ord < start+n {
			replicas[ord-start] = p
		} else if ord >= 0 {
			condemned = append(condemned, p)
		}
	}
	slices.SortFunc(condemned, func(a, b *corev1.Pod) int { return ordinalOf(a) - ordinalOf(b) })

	setKey := set.Namespace + "/" + set.Name
	var retry time.Duration // the nearest back-off of a finished pod, Parallel
	// The lowest-ordinal unhealthy pod, which OrderedReady lets be deleted
	// while unhealthy.
	var firstUnhealthy *corev1.Pod
	for _, p := range append(slices.Clone(replicas), condemned...) {
		if p != nil && !isHealthy(p) {
			firstUnhealthy = p
			break
		}
	}

	// Pods within the replica count, lowest ordinal first.
	rechecked := false
	for i, pod := range replicas {
		ord := start + i
		switch {
		case pod == nil:
			// Once per pass, past the cache: a set gone, replaced or being
			// deleted (the garbage collector deleting its pods) creates none.
			if !rechecked {
				rechecked = true
				if current, err := c.stillCurrent(ctx, set); err != nil || !current {
					return 0, err
				}
			}
			fresh := newVersionedPod(currentSet, updateSet, current.Name, update.Name, ord, start)
			created, err := c.createPod(ctx, set, fresh)
			if err != nil {
				return 0, err
			}
			if !created {
				return cacheLag, nil // already there: wait for the cache
			}
			if monotonic {
				return 0, nil
			}
			continue
		case podutil.IsPodTerminal(pod) && !isTerminating(pod):
			if wait := c.recreated.delay(setKey, ord, pod, time.Now()); wait > 0 {
				// Failing again: the next replacement waits its back-off.
				if monotonic {
					return wait, nil
				}
				if retry == 0 || wait < retry {
					retry = wait
				}
				continue
			}
			c.log.Info("pod finished; recreating it", "statefulset", set.Namespace+"/"+set.Name, "pod", pod.Name, "phase", pod.Status.Phase, "reason", pod.Status.Reason)
			if err := c.deletePod(ctx, set, pod); err != nil {
				return 0, err
			}
			if monotonic {
				return 0, nil
			}
			continue
		case isTerminating(pod):
			if monotonic {
				return 0, nil // wait for it to go, then recreate it
			}
			continue
		case pod.Status.Phase == corev1.PodRunning:
			c.recreated.running(setKey, ord)
		}
		if !identityMatches(set, pod) {
			if err := c.fixIdentity(ctx, pod); err != nil {
				return 0, err
			}
		}
		if err := c.ensureClaims(ctx, set, pod, false); err != nil {
			return 0, err
		}
		if monotonic {
			// OrderedReady waits for each pod to be available.
			switch wait := availableIn(pod, set.Spec.MinReadySeconds, time.Now()); {
			case wait < 0:
				return 0, nil
			case wait > 0:
				return wait + 100*time.Millisecond, nil
			}
		}
	}

	// Pods beyond the replica count, highest ordinal first.
	for j := len(condemned) - 1; j >= 0; j-- {
		pod := condemned[j]
		if isTerminating(pod) {
			if monotonic {
				return 0, nil
			}
			continue
		}
		if monotonic && !isRunningAndReady(pod) && pod != firstUnhealthy {
			return 0, nil
		}
		if err := c.ensureClaims(ctx, set, pod, true); err != nil {
			return 0, err
		}
		if err := c.deletePod(ctx, set, pod); err != nil {
			return 0, err
		}
		if monotonic {
			return 0, nil
		}
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return retry, nil
	}
	// Rolling update, highest ordinal first, down to the partition.
	partition, maxUnavailable := 0, 1
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		if ru.MaxUnavailable != nil {
			v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, n, false)
			if err == nil && v > 1 {
				maxUnavailable = v
			}
		}
	}
	unavailable := 0
	for _, p := range replicas {
		if p == nil || !isHealthy(p) {
			unavailable++
		}
	}
	for target := n - 1; target >= partition && unavailable < maxUnavailable; target-- {
		pod := replicas[target]
		if pod == nil || isTerminating(pod) || revisionOf(pod) == update.Name {
			continue
		}
		c.log.Info("updating pod", "statefulset", set.Namespace+"/"+set.Name, "pod", pod.Name, "from", revisionOf(pod), "to", update.Name)
		if err := c.deletePod(ctx, set, pod); err != nil {
			return 0, err
		}
		if isHealthy(pod) {
			unavailable++
		}
	}
	return retry, nil
}

// newVersionedPod builds the pod of ordinal at the current revision when
// the rolling update is not to reach it, else at the update revision.
func newVersionedPod(currentSet, updateSet *appsv1.StatefulSet, currentRev, updateRev string, ordinal, start int) *corev1.Pod {
	if currentSet.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		ru := currentSet.Spec.UpdateStrategy.RollingUpdate
		if (ru == nil || ru.Partition == nil) && ordinal < start+int(currentSet.Status.CurrentReplicas) ||
			ru != nil && ru.Partition != nil && ordinal < start+int(*ru.Partition) {
			return newPod(currentSet, ordinal, currentRev)
		}
	}
	return newPod(updateSet, ordinal, updateRev)
}

// createPod creates the pod's claims, then the pod; false when the pod
// exists already.
func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	if err := c.ensureClaims(ctx, set, pod, false); err != nil {
		return false, err
	}
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return false, fmt.Errorf("create pod %s: %w", pod.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return true, nil
}

func (c *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(set.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced meanwhile
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

// fixIdentity restores the labels a pod gets from its name.
func (c *Controller) fixIdentity(ctx context.Context, pod *corev1.Pod) error {
	fresh := pod.DeepCopy()
	if fresh.Labels == nil {
		fresh.Labels = map[string]string{}
	}
	fresh.Labels[PodNameLabel] = pod.Name
	fresh.Labels[PodIndexLabel] = strconv.Itoa(ordinalOf(pod))
	if _, err := c.client.CoreV1().Pods(pod.Namespace).Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update identity of pod %s: %w", pod.Name, err)
	}
	return nil
}

// ensureClaims creates the pod's missing claims and keeps their owner
// references as the retention policy asks: the set when whenDeleted is
// Delete, the pod when it is condemned and whenScaled is Delete.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, condemned bool) error {
	ord := ordinalOf(pod)
	policy := set.Spec.PersistentVolumeClaimRetentionPolicy
	deleteWithSet := policy != nil && policy.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	deleteWhenScaled := policy != nil && policy.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	for i := range set.Spec.VolumeClaimTemplates {
		want := newClaim(set, &set.Spec.VolumeClaimTemplates[i], ord)
		claim, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			if condemned {
				continue
			}
			if deleteWithSet {
				want.OwnerReferences = []metav1.OwnerReference{ownerRef(set.Name, controllerKind.Kind, "apps/v1", set.UID)}
			}
			_, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %v", want.Name, pod.Name, set.Name, err)
				return fmt.Errorf("create claim %s: %w", want.Name, err)
			}
			if err == nil {
				c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", want.Name, pod.Name, set.Name)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("get claim %s: %w", want.Name, err)
		}
		if claim.DeletionTimestamp != nil && !condemned {
			return fmt.Errorf("claim %s of pod %s is being deleted", claim.Name, pod.Name)
		}
		if policy == nil {
			continue
		}
		refs := fixClaimOwners(claim.OwnerReferences, set, pod, deleteWithSet, condemned && deleteWhenScaled && pod.UID != "")
		if !apiequality.Semantic.DeepEqual(refs, claim.OwnerReferences) {
			fresh := claim.DeepCopy()
			fresh.OwnerReferences = refs
			if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("update owners of claim %s: %w", claim.Name, err)
			}
		}
	}
	return nil
}

func ownerRef(name, kind, apiVersion string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid}
}

// fixClaimOwners adds or drops the set's and the pod's references,
// keeping every other.
func fixClaimOwners(refs []metav1.OwnerReference, set *appsv1.StatefulSet, pod *corev1.Pod, toSet, toPod bool) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	hasSet, hasPod := false, false
	for _, r := range refs {
		switch {
		case r.UID == set.UID:
			if !toSet {
				continue
			}
			hasSet = true
		case r.Kind == "Pod" && r.Name == pod.Name:
			if !toPod || r.UID != pod.UID {
				continue
			}
			hasPod = true
		}
		out = append(out, r)
	}
	if toSet && !hasSet {
		out = append(out, ownerRef(set.Name, controllerKind.Kind, "apps/v1", set.UID))
	}
	if toPod && !hasPod {
		out = append(out, ownerRef(pod.Name, "Pod", "v1", pod.UID))
	}
	return out
}

// computeStatus counts the set's pods as upstream does.
func computeStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision, collisions int32, now time.Time) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    current.Name,
		UpdateRevision:     update.Name,
		CollisionCount:     &collisions,
	}
	for _, p := range pods {
		if isCreated(p) {
			st.Replicas++
		}
		if isRunningAndReady(p) {
			st.ReadyReplicas++
			if availableIn(p, set.Spec.MinReadySeconds, now) == 0 {
				st.AvailableReplicas++
			}
		}
		if isCreated(p) && !isTerminating(p) {
			if revisionOf(p) == current.Name {
				st.CurrentReplicas++
			}
			if revisionOf(p) == update.Name {
				st.UpdatedReplicas++
			}
		}
	}
	// A finished rolling update makes the update revision current.
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas && int(st.Replicas) == replicaCount(set) {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st
}

// availableAfter is when the next ready pod becomes available, 0 if none
// is waiting.
func availableAfter(set *appsv1.StatefulSet, pods []*corev1.Pod, now time.Time) time.Duration {
	var next time.Duration
	for _, p := range pods {
		if d := availableIn(p, set.Spec.MinReadySeconds, now); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	if next > 0 {
		next += 100 * time.Millisecond
	}
	return next
}

func statusEqual(a, b appsv1.StatefulSetStatus) bool {
	return apiequality.Semantic.DeepEqual(a, b)
}
