package deployment

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Annotations the controller maintains.
const (
	// RevisionAnnotation numbers the rollouts, on ReplicaSets and the Deployment.
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists the earlier revisions of a reused ReplicaSet.
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation is the Deployment's spec.replicas a ReplicaSet was last sized for.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	// MaxReplicasAnnotation is spec.replicas+maxSurge at that time.
	MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
	// ChangeCauseAnnotation is shown by kubectl rollout history.
	ChangeCauseAnnotation = "kubernetes.io/change-cause"

	lastAppliedAnnotation    = "kubectl.kubernetes.io/last-applied-configuration"
	rollbackToAnnotation     = "deprecated.deployment.rollback.to"
	appsv1DefaultUniqueLabel = appsv1.DefaultDeploymentUniqueLabelKey
	// maxRevisionHistoryChars bounds the revision-history annotation.
	maxRevisionHistoryChars = 2000
)

// defaultFencepost is what a missing maxSurge or maxUnavailable means
// (the API server defaults both to it).
var defaultFencepost = intstr.FromString("25%")

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.Type == ""
}

// resolveFenceposts scales maxSurge (rounding up) and maxUnavailable
// (rounding down) against desired; both zero would stall, so
// maxUnavailable becomes 1 then.
func resolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (int32, int32, error) {
	if maxSurge == nil {
		maxSurge = &defaultFencepost
	}
	if maxUnavailable == nil {
		maxUnavailable = &defaultFencepost
	}
	surge, err := intstr.GetScaledValueFromIntOrPercent(maxSurge, int(desired), true)
	if err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(maxUnavailable, int(desired), false)
	if err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return int32(surge), int32(unavailable), nil
}

func fenceposts(d *appsv1.Deployment) (int32, int32) {
	var s, u *intstr.IntOrString
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		s, u = ru.MaxSurge, ru.MaxUnavailable
	}
	surge, unavail, err := resolveFenceposts(s, u, replicas(d))
	if err != nil {
		return 0, 1 // invalid values are refused by validation; be cautious
	}
	return surge, unavail
}

// maxSurge is how many pods above spec.replicas a rollout may run.
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

// maxUnavailable is how many of spec.replicas may be unavailable.
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || replicas(d) == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, replicas(d))
}

// newRSNewReplicas is the size the new ReplicaSet may grow to now.
func newRSNewReplicas(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRollingUpdate(d) {
		return replicas(d)
	}
	maxTotal := replicas(d) + maxSurge(d)
	current := specSum(allRSs)
	if current >= maxTotal {
		return rsReplicas(newRS)
	}
	up := min(maxTotal-current, replicas(d)-rsReplicas(newRS))
	return rsReplicas(newRS) + max(up, 0)
}

// Sums over ReplicaSets; nil entries count nothing.

func specSum(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += rsReplicas(rs)
	}
	return n
}

func statusSum(rss []*appsv1.ReplicaSet, field func(*appsv1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += field(&rs.Status)
		}
	}
	return n
}

func actual(s *appsv1.ReplicaSetStatus) int32    { return s.Replicas }
func ready(s *appsv1.ReplicaSetStatus) int32     { return s.ReadyReplicas }
func available(s *appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas }

// availableForScaleDown counts a ReplicaSet's available pods, at most its
// spec.replicas: a status not yet caught up with a scale-down must not let
// more old pods go than maxUnavailable allows.
func availableForScaleDown(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return min(rs.Status.AvailableReplicas, rsReplicas(rs))
}

// activeReplicaSets are the non-nil ReplicaSets with replicas wanted.
func activeReplicaSets(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

func revision(rs *appsv1.ReplicaSet) int64 {
	n, err := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		if rs != nil {
			m = max(m, revision(rs))
		}
	}
	return m
}

// Orderings.

func olderFirst(a, b *appsv1.ReplicaSet) bool {
	if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.Name < b.Name
	}
	return a.CreationTimestamp.Before(&b.CreationTimestamp)
}

func sortOldestFirst(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool { return olderFirst(rss[i], rss[j]) })
}

// sortLargestFirst orders by size, larger first; ties go to the newer
// ReplicaSet when newer is set, else to the older.
func sortLargestFirst(rss []*appsv1.ReplicaSet, newer bool) {
	sort.SliceStable(rss, func(i, j int) bool {
		if a, b := rsReplicas(rss[i]), rsReplicas(rss[j]); a != b {
			return a > b
		}
		if newer {
			return olderFirst(rss[j], rss[i])
		}
		return olderFirst(rss[i], rss[j])
	})
}

func sortByRevision(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		if a, b := revision(rss[i]), revision(rss[j]); a != b {
			return a < b
		}
		return olderFirst(rss[i], rss[j])
	})
}

// roundToInt32 rounds half away from zero.
func roundToInt32(f float64) int32 { return int32(math.Round(f)) }
