package deployment

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// rolloutRolling takes one RollingUpdate step: grow the new ReplicaSet
// within maxSurge, else shrink old ones within maxUnavailable.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.replicaSetsAndRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)

	scaledUp, err := c.reconcileNew(ctx, d, all, newRS)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	scaledDown, err := c.reconcileOld(ctx, d, all, activeReplicaSets(oldRSs), newRS)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanupHistory(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// reconcileNew grows (or trims) the new ReplicaSet toward spec.replicas.
func (c *Controller) reconcileNew(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	switch {
	case rsReplicas(newRS) == replicas(d):
		return false, nil
	case rsReplicas(newRS) > replicas(d):
		scaled, _, err := c.scaleAndRecord(ctx, d, newRS, replicas(d))
		return scaled, err
	}
	scaled, _, err := c.scaleAndRecord(ctx, d, newRS, newRSNewReplicas(d, all, newRS))
	return scaled, err
}

// reconcileOld shrinks old ReplicaSets: first their unavailable pods, then
// as far as availability allows.
func (c *Controller) reconcileOld(ctx context.Context, d *appsv1.Deployment, all, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if specSum(oldRSs) == 0 {
		return false, nil
	}
	minAvailable := replicas(d) - maxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - newRS.Status.AvailableReplicas
	maxScaledDown := specSum(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	oldRSs, cleaned, err := c.cleanupUnhealthy(ctx, d, oldRSs, maxScaledDown)
	if err != nil {
		return false, err
	}
	all = append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	scaled, err := c.scaleDownOld(ctx, d, all, oldRSs)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

// cleanupUnhealthy removes up to limit unavailable replicas from old
// ReplicaSets, oldest first: they cost no availability.
func (c *Controller) cleanupUnhealthy(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, limit int32) ([]*appsv1.ReplicaSet, int32, error) {
	sortOldestFirst(oldRSs)
	var done int32
	for i, rs := range oldRSs {
		if done >= limit {
			break
		}
		avail := availableForScaleDown(rs)
		if rsReplicas(rs) == 0 || rsReplicas(rs) == avail {
			continue
		}
		n := min(limit-done, rsReplicas(rs)-avail)
		_, out, err := c.scaleAndRecord(ctx, d, rs, rsReplicas(rs)-n)
		if err != nil {
			return nil, 0, err
		}
		done += n
		oldRSs[i] = out
	}
	return oldRSs, done, nil
}

// scaleDownOld removes available old replicas, oldest ReplicaSet first,
// while more than spec.replicas-maxUnavailable stay available.
func (c *Controller) scaleDownOld(ctx context.Context, d *appsv1.Deployment, all, oldRSs []*appsv1.ReplicaSet) (int32, error) {
	minAvailable := replicas(d) - maxUnavailable(d)
	var avail int32
	for _, rs := range all {
		avail += availableForScaleDown(rs)
	}
	if avail <= minAvailable {
		return 0, nil
	}
	sortOldestFirst(oldRSs)
	budget := avail - minAvailable
	var done int32
	for _, rs := range oldRSs {
		if done >= budget {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		n := min(rsReplicas(rs), budget-done)
		if n < 0 {
			return done, fmt.Errorf("invalid scale-down of replica set %s by %d", rs.Name, n)
		}
		if _, _, err := c.scaleAndRecord(ctx, d, rs, rsReplicas(rs)-n); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}
