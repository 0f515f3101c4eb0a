package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

// fieldManager names the collector's writes.
const fieldManager = "flotilla-garbage-collector"

// ownerState is what a live lookup says about one ownerReference.
type ownerState int

const (
	ownerSolid      ownerState = iota // exists
	ownerDangling                     // gone, or never existed
	ownerWaiting                      // exists, waiting for its dependents (Foreground)
	ownerUnresolved                   // cannot tell: its kind is not served, or the reference is invalid
)

func (c *Controller) resource(info resourceInfo, ns string) metadata.ResourceInterface {
	if info.namespaced {
		return c.md.Resource(info.gvr).Namespace(ns)
	}
	return c.md.Resource(info.gvr)
}

// attemptToDelete looks at one object: an owner waiting for its
// dependents loses its foregroundDeletion finalizer once none blocks it;
// a dependent whose owners are gone is deleted, or loses its references to
// them if another owner remains.
func (c *Controller) attemptToDelete(ctx context.Context, uid types.UID) error {
	v, ok := c.view(uid)
	if !ok {
		return nil
	}
	log := c.log.With("resource", v.info.gvr.String(), "ns", v.namespace, "name", v.name)
	latest, err := c.resource(v.info, v.namespace).Get(ctx, v.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err), err == nil && latest.UID != uid:
		// Gone, or replaced by a namesake.
		log.Debug("object gone; forgetting it")
		c.forgetGone(uid)
		return nil
	case err != nil:
		return fmt.Errorf("get %s %s/%s: %w", v.info.gvr.Resource, v.namespace, v.name, err)
	}
	if latest.DeletionTimestamp != nil {
		if slices.Contains(latest.Finalizers, metav1.FinalizerDeleteDependents) {
			return c.processDeletingDependents(ctx, v, latest)
		}
		return nil // already going
	}
	if len(latest.OwnerReferences) == 0 {
		return nil
	}

	var solid, unresolved int
	var gone []types.UID // dangling, or waiting for their dependents
	waiting := false
	for _, ref := range latest.OwnerReferences {
		st, err := c.ownerStateOf(ctx, ref, latest)
		if err != nil {
			return err
		}
		switch st {
		case ownerSolid:
			solid++
		case ownerUnresolved:
			unresolved++
		case ownerDangling:
			gone = append(gone, ref.UID)
		case ownerWaiting:
			gone = append(gone, ref.UID)
			waiting = true
		}
	}
	if unresolved > 0 {
		c.markUnresolved(uid)
	}
	switch {
	case solid+unresolved > 0:
		// Someone may still own it: only drop the references to owners
		// that are gone or waiting on it, so those are not held up.
		if len(gone) == 0 {
			return nil
		}
		log.Debug("removing references to owners that are gone", "owners", gone)
		return c.removeOwnerRefs(ctx, v.info, latest, gone)
	case waiting && len(c.dependentsOf(uid, false)) > 0:
		// An owner waits for it and it owns objects in turn: those go
		// first. If one of those waits too, the references may form a
		// cycle in which every owner waits for the next; as upstream does,
		// this one stops blocking its owners so the cycle can unwind.
		for _, d := range c.dependentsOf(uid, false) {
			if d.deletingDependents {
				log.Debug("a dependent waits for its own dependents too; unblocking owners to break a possible cycle", "dependent", d.name)
				if err := c.unblockOwners(ctx, v.info, latest); err != nil {
					return err
				}
				break
			}
		}
		log.Debug("deleting a dependent of a Foreground deletion that owns objects itself", "propagation", metav1.DeletePropagationForeground)
		return c.deleteObject(ctx, v.info, latest, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case slices.Contains(latest.Finalizers, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case slices.Contains(latest.Finalizers, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		log.Debug("deleting object whose owners are gone", "propagation", policy)
		return c.deleteObject(ctx, v.info, latest, policy)
	}
}

// ownerStateOf looks up the owner ref of dep. A live owner known to the
// graph needs no request; absence is always checked against the server.
func (c *Controller) ownerStateOf(ctx context.Context, ref metav1.OwnerReference, dep *metav1.PartialObjectMetadata) (ownerState, error) {
	mapper := c.mapper.Load()
	info, ok := mapper.resolve(ref.APIVersion, ref.Kind)
	if !ok {
		c.log.Info("owner reference to a kind no served resource has; skipping it",
			"apiVersion", ref.APIVersion, "kind", ref.Kind, "owner", ref.Name, "dependentNs", dep.Namespace, "dependent", dep.Name)
		return ownerUnresolved, nil
	}
	ns := ""
	if info.namespaced {
		if dep.Namespace == "" {
			c.log.Info("cluster-scoped object refers to a namespaced owner; skipping the reference",
				"kind", ref.Kind, "owner", ref.Name, "dependent", dep.Name)
			return ownerUnresolved, nil
		}
		ns = dep.Namespace
	}
	if known, waiting := c.cachedOwner(ref, dep.Namespace); known {
		if waiting {
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	}
	key := absentKey{uid: ref.UID, group: info.gvr.Group, kind: ref.Kind, namespace: ns, name: ref.Name}
	if c.absent.has(key) {
		return ownerDangling, nil
	}
	owner, err := c.resource(info, ns).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.absent.add(key)
		return ownerDangling, nil
	case err != nil:
		return 0, fmt.Errorf("get owner %s %s/%s: %w", info.gvr.Resource, ns, ref.Name, err)
	case owner.UID != ref.UID:
		c.absent.add(key)
		return ownerDangling, nil
	case owner.DeletionTimestamp != nil && slices.Contains(owner.Finalizers, metav1.FinalizerDeleteDependents):
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

// processDeletingDependents handles an owner deleted with Foreground: it
// is released once no dependent blocks it.
func (c *Controller) processDeletingDependents(ctx context.Context, v nodeView, latest *metav1.PartialObjectMetadata) error {
	blocking := c.dependentsOf(v.uid, true)
	if len(blocking) == 0 {
		c.log.Debug("no dependent blocks the owner any more; removing "+metav1.FinalizerDeleteDependents,
			"resource", v.info.gvr.String(), "ns", v.namespace, "name", v.name)
		return c.removeFinalizer(ctx, v.info, latest, metav1.FinalizerDeleteDependents)
	}
	for _, d := range blocking {
		if !d.deletingDependents {
			c.deleteQueue.Add(d.uid)
		}
	}
	// The dependents' deletion events bring the owner back; nothing to
	// poll.
	return nil
}

// attemptToOrphan handles an owner deleted with Orphan: its dependents
// lose their references to it, then it loses the orphan finalizer.
func (c *Controller) attemptToOrphan(ctx context.Context, uid types.UID) error {
	v, ok := c.view(uid)
	if !ok {
		return nil
	}
	owner, err := c.resource(v.info, v.namespace).Get(ctx, v.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get %s %s/%s: %w", v.info.gvr.Resource, v.namespace, v.name, err)
	case owner.UID != uid, owner.DeletionTimestamp == nil, !slices.Contains(owner.Finalizers, metav1.FinalizerOrphanDependents):
		return nil
	}
	var errs []error
	for _, d := range c.dependentsOf(uid, false) {
		dep, err := c.resource(d.info, d.namespace).Get(ctx, d.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("get dependent %s %s/%s: %w", d.info.gvr.Resource, d.namespace, d.name, err))
			continue
		case dep.UID != d.uid:
			continue
		}
		if err := c.removeOwnerRefs(ctx, d.info, dep, []types.UID{uid}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("orphan dependents of %s %s/%s: %w", v.info.gvr.Resource, v.namespace, v.name, err)
	}
	c.log.Debug("dependents orphaned; removing "+metav1.FinalizerOrphanDependents,
		"resource", v.info.gvr.String(), "ns", v.namespace, "name", v.name)
	return c.removeFinalizer(ctx, v.info, owner, metav1.FinalizerOrphanDependents)
}

// metaPatch is a JSON merge patch of metadata. resourceVersion makes it
// conditional: a concurrent writer makes it fail with a conflict, and the
// object is looked at again.
type metaPatch struct {
	Metadata struct {
		ResourceVersion string                   `json:"resourceVersion"`
		OwnerReferences *[]metav1.OwnerReference `json:"ownerReferences,omitempty"`
		Finalizers      *[]string                `json:"finalizers,omitempty"`
	} `json:"metadata"`
}

func (c *Controller) patchMeta(ctx context.Context, info resourceInfo, obj *metav1.PartialObjectMetadata, p *metaPatch) error {
	p.Metadata.ResourceVersion = obj.ResourceVersion
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = c.resource(info, obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch %s %s/%s: %w", info.gvr.Resource, obj.Namespace, obj.Name, err)
	}
	return nil
}

// removeOwnerRefs drops obj's references to owners.
func (c *Controller) removeOwnerRefs(ctx context.Context, info resourceInfo, obj *metav1.PartialObjectMetadata, owners []types.UID) error {
	keep := slices.DeleteFunc(slices.Clone(obj.OwnerReferences), func(r metav1.OwnerReference) bool { return slices.Contains(owners, r.UID) })
	if len(keep) == len(obj.OwnerReferences) {
		return nil
	}
	if keep == nil {
		keep = []metav1.OwnerReference{}
	}
	p := &metaPatch{}
	p.Metadata.OwnerReferences = &keep
	return c.patchMeta(ctx, info, obj, p)
}

// unblockOwners clears blockOwnerDeletion in all of obj's references.
func (c *Controller) unblockOwners(ctx context.Context, info resourceInfo, obj *metav1.PartialObjectMetadata) error {
	refs := slices.Clone(obj.OwnerReferences)
	changed := false
	for i := range refs {
		if blocks(refs[i]) {
			refs[i].BlockOwnerDeletion = new(false)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	p := &metaPatch{}
	p.Metadata.OwnerReferences = &refs
	if err := c.patchMeta(ctx, info, obj, p); err != nil {
		return err
	}
	// The patch moved the resourceVersion on; the delete that follows
	// checks the UID only.
	return nil
}

// removeFinalizer drops finalizer f from obj; the API server removes an
// object under deletion once its last finalizer is gone.
func (c *Controller) removeFinalizer(ctx context.Context, info resourceInfo, obj *metav1.PartialObjectMetadata, f string) error {
	if !slices.Contains(obj.Finalizers, f) {
		return nil
	}
	keep := slices.DeleteFunc(slices.Clone(obj.Finalizers), func(s string) bool { return s == f })
	if keep == nil {
		keep = []string{}
	}
	p := &metaPatch{}
	p.Metadata.Finalizers = &keep
	return c.patchMeta(ctx, info, obj, p)
}

// deleteObject deletes obj, provided it is still the same object.
func (c *Controller) deleteObject(ctx context.Context, info resourceInfo, obj *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	uid := obj.UID
	err := c.resource(info, obj.Namespace).Delete(ctx, obj.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid},
		PropagationPolicy: &policy,
	})
	switch {
	case err == nil, apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Conflict: the UID precondition failed, the object was replaced.
		return nil
	}
	return fmt.Errorf("delete %s %s/%s: %w", info.gvr.Resource, obj.Namespace, obj.Name, err)
}
