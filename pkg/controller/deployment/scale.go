package deployment

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// scale sizes the ReplicaSets for spec.replicas outside a rollout step:
// the only active one (or the newest) takes it all, a saturated new one
// drops the old ones, and otherwise the change is spread proportionally.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	if rs := activeOrLatest(newRS, oldRSs); rs != nil {
		if rsReplicas(rs) == replicas(d) {
			return nil
		}
		_, _, err := c.scaleAndRecord(ctx, d, rs, replicas(d))
		return err
	}
	if isSaturated(d, newRS) {
		for _, old := range activeReplicaSets(oldRSs) {
			if _, _, err := c.scaleAndRecord(ctx, d, old, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := activeReplicaSets(append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS))
	sizes, op := proportionalSizes(d, all)
	for _, rs := range all {
		if _, _, err := c.scaleTo(ctx, d, rs, sizes[rs.Name], op); err != nil {
			return err
		}
	}
	return nil
}

// proportionalSizes spreads the difference between spec.replicas+maxSurge
// and the active ReplicaSets' total over them by their share of the size
// they were last scaled for; the leftover goes to the first (largest). It
// orders all as it assigns.
func proportionalSizes(d *appsv1.Deployment, all []*appsv1.ReplicaSet) (map[string]int32, string) {
	allowed := int32(0)
	if replicas(d) > 0 {
		allowed = replicas(d) + maxSurge(d)
	}
	toAdd := allowed - specSum(all)
	op := ""
	switch {
	case toAdd > 0:
		sortLargestFirst(all, true)
		op = "up"
	case toAdd < 0:
		sortLargestFirst(all, false)
		op = "down"
	}
	sizes := make(map[string]int32, len(all))
	added := int32(0)
	for _, rs := range all {
		p := proportion(d, rs, toAdd, added)
		sizes[rs.Name] = rsReplicas(rs) + p
		added += p
	}
	if len(all) > 0 && toAdd != 0 {
		first := all[0].Name
		sizes[first] = max(sizes[first]+toAdd-added, 0)
	}
	return sizes, op
}

// proportion is how many replicas rs gains (or, negative, loses) of
// toAdd, given added already handed out.
func proportion(d *appsv1.Deployment, rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	if rs == nil || rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	share := fraction(d, rs)
	left := toAdd - added
	if toAdd > 0 {
		return min(share, left)
	}
	return max(share, left)
}

// fraction is rs's target change: its size scaled by the ratio of the
// Deployment's new maximum to the one it was sized for.
func fraction(d *appsv1.Deployment, rs *appsv1.ReplicaSet) int32 {
	if replicas(d) == 0 {
		return -rsReplicas(rs)
	}
	target := replicas(d) + maxSurge(d)
	was, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok {
		was = d.Status.Replicas
	}
	if was == 0 {
		return 0
	}
	return roundToInt32(float64(rsReplicas(rs))*float64(target)/float64(was)) - rsReplicas(rs)
}

// activeOrLatest is the only active ReplicaSet, or the newest when none is
// active; nil when several are.
func activeOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	old := append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sortOldestFirst(old)
	active := activeReplicaSets(append(append([]*appsv1.ReplicaSet(nil), old...), newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return old[len(old)-1]
	case 1:
		return active[0]
	}
	return nil
}

// isSaturated reports whether the new ReplicaSet runs all of spec.replicas,
// available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	return ok && rsReplicas(rs) == replicas(d) && desired == replicas(d) && rs.Status.AvailableReplicas == replicas(d)
}

// scaleAndRecord sets rs to size if it differs.
func (c *Controller) scaleAndRecord(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, size int32) (bool, *appsv1.ReplicaSet, error) {
	if rsReplicas(rs) == size {
		return false, rs, nil
	}
	op := "down"
	if rsReplicas(rs) < size {
		op = "up"
	}
	return c.scaleTo(ctx, d, rs, size, op)
}

// scaleTo writes rs's size and replica annotations if either is off, and
// records a ScalingReplicaSet event for a size change.
func (c *Controller) scaleTo(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, size int32, op string) (bool, *appsv1.ReplicaSet, error) {
	desired, maxReplicas := replicas(d), replicas(d)+maxSurge(d)
	resize := rsReplicas(rs) != size
	if !resize && !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false, rs, nil
	}
	from := rsReplicas(rs)
	cp := rs.DeepCopy()
	cp.Spec.Replicas = &size
	setReplicasAnnotations(cp, desired, maxReplicas)
	out, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return false, rs, fmt.Errorf("scale replica set %s to %d: %w", rs.Name, size, err)
	}
	if resize {
		c.event(ctx, d, corev1.EventTypeNormal, "ScalingReplicaSet", fmt.Sprintf("Scaled %s replica set %s to %d from %d", op, rs.Name, size, from))
	}
	return resize, out, nil
}
