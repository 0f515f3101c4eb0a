package deployment

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/controller/refmanager"
)

// claimReplicaSets returns the ReplicaSets d controls after adopting
// orphans its selector matches and releasing its own that it no longer
// matches (refmanager.Claim). An error wrapping errNotCurrent means d is
// no longer as the cache shows it.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid label selector: %w", d.Namespace, d.Name, err)
	}
	all, err := c.rss.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list replica sets: %w", err)
	}
	owner := refmanager.Owner{Object: d, Kind: controllerKind, Selector: sel, Get: c.live(d), Log: c.log}
	return refmanager.Claim(ctx, owner, refmanager.ReplicaSets(c.client, fieldManager), all)
}

// errNotCurrent stops a sync of a Deployment that the API no longer has as
// the cache shows it (see stillCurrent); the cache catches up.
var errNotCurrent = refmanager.ErrNotCurrent

// live reads d from the API server, past the cache.
func (c *Controller) live(d *appsv1.Deployment) refmanager.Getter {
	return func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	}
}

// stillCurrent rereads d from the API: a Deployment replaced by a namesake
// or being deleted must neither adopt nor create (the cache may lag).
func (c *Controller) stillCurrent(ctx context.Context, d *appsv1.Deployment) (bool, error) {
	current, err := refmanager.Current(ctx, d, c.live(d))
	if err != nil {
		return false, fmt.Errorf("recheck deployment: %w", err)
	}
	return current, nil
}

func controllerRef(d *appsv1.Deployment) metav1.OwnerReference {
	return refmanager.ControllerRef(d, controllerKind)
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
