package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// controllerRef is the owner reference w's pods carry.
func (c *Controller) controllerRef(w *workload) metav1.OwnerReference {
	gvk, yes := c.kind.gvk(), true
	return metav1.OwnerReference{
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: w.meta.Name, UID: w.meta.UID,
		Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

// claim returns the pods among pods (the namespace's active pods) that
// belong to w: those it controls and still selects, and orphans it
// selects, which it adopts. Pods it controls but no longer selects are
// released. Pods controlled by others are never touched.
func (c *Controller) claim(ctx context.Context, w *workload, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var (
		owned    []*corev1.Pod
		errs     []error
		checked  bool
		adoptErr error
	)
	for _, p := range pods {
		matches := w.selector.Matches(labels.Set(p.Labels))
		if ref := metav1.GetControllerOf(p); ref != nil {
			if ref.UID != w.meta.UID {
				continue
			}
			if matches {
				owned = append(owned, p)
				continue
			}
			if err := c.release(ctx, w, p); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if !matches || p.DeletionTimestamp != nil {
			continue
		}
		// Before the first adoption make sure, past the cache, that w
		// exists and is not being deleted: adopting then would hand the
		// orphan to the garbage collector.
		if !checked {
			checked = true
			adoptErr = c.canAdopt(ctx, w)
		}
		if adoptErr != nil {
			errs = append(errs, adoptErr)
			break
		}
		adopted, err := c.adopt(ctx, w, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if adopted {
			owned = append(owned, p)
		}
	}
	return owned, errors.Join(errs...)
}

func (c *Controller) canAdopt(ctx context.Context, w *workload) error {
	current, err := c.current(ctx, w)
	if err != nil {
		return fmt.Errorf("recheck before adopting: %w", err)
	}
	if !current {
		return fmt.Errorf("%s %s is gone, replaced or being deleted; not adopting", c.kind.gvk().Kind, keyOf(w.meta))
	}
	return nil
}

// current reads w past the cache and reports whether it still exists as
// the same object (UID) and is not being deleted. The cache can lag
// behind: the garbage collector deletes the pods of a deleted owner right
// after it, and the controller may see its pods go before it sees the
// owner go.
func (c *Controller) current(ctx context.Context, w *workload) (bool, error) {
	fresh, err := c.kind.fresh(ctx, w.meta.Namespace, w.meta.Name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fresh.meta.UID == w.meta.UID && fresh.meta.DeletionTimestamp == nil, nil
}

// metaPatch is a strategic-merge patch of a pod's metadata; the pod's UID
// in it makes the patch fail on a pod recreated under the same name.
type metaPatch struct {
	Metadata struct {
		OwnerReferences []any     `json:"ownerReferences"`
		UID             types.UID `json:"uid"`
	} `json:"metadata"`
}

// adopt makes w the controller of the orphan p. It reports false when p
// is gone.
func (c *Controller) adopt(ctx context.Context, w *workload, p *corev1.Pod) (bool, error) {
	var patch metaPatch
	patch.Metadata.OwnerReferences = []any{c.controllerRef(w)}
	patch.Metadata.UID = p.UID
	if err := c.patchPod(ctx, p, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("adopt pod %s: %w", p.Name, err)
	}
	c.log.Info("adopted pod", "key", keyOf(w.meta), "pod", p.Name)
	return true, nil
}

// release drops w's controller reference from p.
func (c *Controller) release(ctx context.Context, w *workload, p *corev1.Pod) error {
	var patch metaPatch
	patch.Metadata.OwnerReferences = []any{map[string]any{"$patch": "delete", "uid": w.meta.UID}}
	patch.Metadata.UID = p.UID
	if err := c.patchPod(ctx, p, patch); err != nil {
		// Gone, or its UID differs (recreated): nothing of ours to release.
		if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
			return nil
		}
		return fmt.Errorf("release pod %s: %w", p.Name, err)
	}
	c.log.Info("released pod", "key", keyOf(w.meta), "pod", p.Name)
	return nil
}

func (c *Controller) patchPod(ctx context.Context, p *corev1.Pod, patch metaPatch) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{FieldManager: fieldManagerPrefix + c.kind.name()})
	return err
}
