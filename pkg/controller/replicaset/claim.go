package replicaset

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/controller/refmanager"
)

// controllerRef is the owner reference w's pods carry.
func (c *Controller) controllerRef(w *workload) metav1.OwnerReference {
	return refmanager.ControllerRef(w.meta, c.kind.gvk())
}

// claim returns the pods among pods (the namespace's active pods) that
// belong to w, adopting the orphans it selects and releasing its own that
// it no longer selects (refmanager.Claim).
func (c *Controller) claim(ctx context.Context, w *workload, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	owner := refmanager.Owner{Object: w.meta, Kind: c.kind.gvk(), Selector: w.selector, Get: c.live(w), Log: c.log}
	return refmanager.Claim(ctx, owner, refmanager.Pods(c.client, fieldManagerPrefix+c.kind.name()), pods)
}

// live reads w from the API server, past the cache.
func (c *Controller) live(w *workload) refmanager.Getter {
	return func(ctx context.Context) (metav1.Object, error) {
		fresh, err := c.kind.fresh(ctx, w.meta.Namespace, w.meta.Name)
		if err != nil {
			return nil, err
		}
		return fresh.meta, nil
	}
}

// current reports whether w, read past the cache, still exists as the
// same object (UID) and is not being deleted (refmanager.Current).
func (c *Controller) current(ctx context.Context, w *workload) (bool, error) {
	return refmanager.Current(ctx, w.meta, c.live(w))
}
