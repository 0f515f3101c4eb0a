package deployment

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// claimReplicaSets returns the ReplicaSets d controls after adopting
// orphans its selector matches and releasing its own that it no longer
// matches, as upstream's ControllerRefManager.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid label selector: %w", d.Namespace, d.Name, err)
	}
	all, err := c.rss.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list replica sets: %w", err)
	}
	var owned []*appsv1.ReplicaSet
	var canAdopt *bool // checked against the API once, when first needed
	for _, rs := range all {
		match := sel.Matches(labels.Set(rs.Labels))
		ref := metav1.GetControllerOf(rs)
		switch {
		case ref != nil && ref.UID != d.UID:
			continue // someone else's
		case ref != nil && match:
			owned = append(owned, rs)
		case ref != nil:
			if d.DeletionTimestamp != nil {
				continue
			}
			if err := c.release(ctx, d, rs); err != nil {
				return nil, err
			}
		case match && d.DeletionTimestamp == nil && rs.DeletionTimestamp == nil:
			if canAdopt == nil {
				ok, err := c.stillCurrent(ctx, d)
				if err != nil {
					return nil, err
				}
				canAdopt = &ok
			}
			if !*canAdopt {
				continue
			}
			adopted, err := c.adopt(ctx, d, rs)
			if err != nil {
				return nil, err
			}
			if adopted != nil {
				owned = append(owned, adopted)
			}
		}
	}
	return owned, nil
}

// errNotCurrent stops a sync of a Deployment that the API no longer has as
// the cache shows it (see stillCurrent); the cache catches up.
var errNotCurrent = errors.New("deployment gone, replaced or being deleted")

// stillCurrent rereads d from the API: a Deployment replaced by a namesake
// or being deleted must neither adopt nor create (the cache may lag).
func (c *Controller) stillCurrent(ctx context.Context, d *appsv1.Deployment) (bool, error) {
	fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recheck deployment: %w", err)
	}
	return fresh.UID == d.UID && fresh.DeletionTimestamp == nil, nil
}

func controllerRef(d *appsv1.Deployment) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion: controllerKind.GroupVersion().String(), Kind: controllerKind.Kind,
		Name: d.Name, UID: d.UID, Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

// adopt makes d the controller of an orphan ReplicaSet; nil if it went
// away meanwhile.
func (c *Controller) adopt(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	cp := rs.DeepCopy()
	cp.OwnerReferences = append(cp.OwnerReferences, controllerRef(d))
	out, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, cp, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("adopt replica set %s: %w", rs.Name, err)
	}
	c.log.Info("adopted replica set", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name)
	return out, nil
}

// release drops d's controller reference from a ReplicaSet it no longer
// selects.
func (c *Controller) release(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) error {
	cp := rs.DeepCopy()
	refs := cp.OwnerReferences[:0]
	for _, r := range cp.OwnerReferences {
		if r.UID != d.UID {
			refs = append(refs, r)
		}
	}
	cp.OwnerReferences = refs
	_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, cp, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release replica set %s: %w", rs.Name, err)
	}
	c.log.Info("released replica set", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name)
	return nil
}

// podsByReplicaSet groups the pods d selects by the ReplicaSet (of
// rsList) controlling them.
func (c *Controller) podsByReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := c.pods.Pods(d.Namespace).List(sel)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	out := make(map[types.UID][]*corev1.Pod, len(rsList))
	for _, rs := range rsList {
		out[rs.UID] = nil
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil {
			if list, ok := out[ref.UID]; ok {
				out[ref.UID] = append(list, p)
			}
		}
	}
	return out, nil
}
