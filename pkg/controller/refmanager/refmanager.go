// Package refmanager decides, for every workload controller, which
// objects an owner controls: the one implementation of upstream's
// ControllerRefManager behaviour behind the ReplicaSet,
// ReplicationController, Deployment, DaemonSet, StatefulSet and Job
// controllers, for pods, ReplicaSets and ControllerRevisions alike.
//
// Claim takes the owner as the cache shows it, its selector and the
// candidate objects of its namespace, and returns those the owner
// controls once it has
//   - kept the objects it controls and still selects (even while it is
//     being deleted: that takes no write);
//   - adopted the orphans (no controller reference) it selects, unless
//     the owner or the orphan is being deleted or they are in different
//     namespaces. Before the first adoption of a Claim the owner is read
//     past the cache (Current): adopting for an owner that is gone,
//     replaced by a namesake or being deleted would hand the orphan to
//     the garbage collector, so then nothing is adopted and Claim's error
//     wraps ErrNotCurrent;
//   - released the objects it controls but no longer selects, unless it
//     is being deleted.
//
// Objects another controller controls are never touched. Adoption and
// release are strategic-merge patches of the object's metadata that carry
// the object's UID: a decision made on an object deleted and recreated
// under the same name fails instead of applying to the newcomer, and the
// API server refuses an adoption of an object someone else took control
// of meanwhile (an object has at most one controller reference). An
// adopted object gets the controller reference (controller and
// blockOwnerDeletion true) plus Dependents.Finalizers; a released one
// loses the reference and those finalizers.
package refmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// ErrNotCurrent is wrapped by the error of a Claim that did not adopt
// because the owner is gone, replaced or being deleted, and may serve
// callers that make the same check (Current) before creating dependents.
var ErrNotCurrent = errors.New("owner gone, replaced or being deleted")

// Getter reads the owner from the API server, past the cache.
type Getter func(ctx context.Context) (metav1.Object, error)

// Current reads the owner with get and reports whether it still exists as
// cached (the same UID) and is not being deleted. The cache can lag: the
// garbage collector deletes a deleted owner's dependents right after it,
// and their events may reach a controller before the owner's.
func Current(ctx context.Context, cached metav1.Object, get Getter) (bool, error) {
	live, err := get(ctx)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return live.GetUID() == cached.GetUID() && live.GetDeletionTimestamp() == nil, nil
}

// Owner is the controller claiming objects.
type Owner struct {
	// Object is the owner as the cache shows it.
	Object metav1.Object
	// Kind goes into the controller references Claim writes.
	Kind schema.GroupVersionKind
	// Selector selects the objects the owner should control. Claim
	// refuses a nil one rather than release everything.
	Selector labels.Selector
	// Get reads the owner past the cache; Claim calls it at most once,
	// before its first adoption.
	Get Getter
	// Log, if set, gets a line per adoption and release.
	Log *slog.Logger
}

// Dependents is how Claim writes objects of one kind, and what else an
// owner requires of them.
type Dependents[T metav1.Object] struct {
	// Kind names the objects in errors and logs ("pod").
	Kind string
	// Patch applies a strategic-merge patch to the named object and
	// returns the object patched.
	Patch func(ctx context.Context, namespace, name string, patch []byte) (T, error)
	// Filter, if set, must accept an object besides the selector for the
	// owner to keep or adopt it (a StatefulSet's pods are named after it).
	Filter func(T) bool
	// Finalizers are added to adopted objects and removed from released
	// ones (the Job controller's tracking finalizer).
	Finalizers []string
}

// patcher is what client-go's typed clients offer to patch one kind.
type patcher[T any] interface {
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

func dependents[T metav1.Object](kind, fieldManager string, in func(namespace string) patcher[T]) Dependents[T] {
	return Dependents[T]{Kind: kind, Patch: func(ctx context.Context, namespace, name string, patch []byte) (T, error) {
		return in(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	}}
}

// Pods writes pods through client as fieldManager.
func Pods(client kubernetes.Interface, fieldManager string) Dependents[*corev1.Pod] {
	return dependents("pod", fieldManager, func(ns string) patcher[*corev1.Pod] { return client.CoreV1().Pods(ns) })
}

// ReplicaSets writes ReplicaSets through client as fieldManager.
func ReplicaSets(client kubernetes.Interface, fieldManager string) Dependents[*appsv1.ReplicaSet] {
	return dependents("replica set", fieldManager, func(ns string) patcher[*appsv1.ReplicaSet] { return client.AppsV1().ReplicaSets(ns) })
}

// ControllerRevisions writes ControllerRevisions through client as
// fieldManager.
func ControllerRevisions(client kubernetes.Interface, fieldManager string) Dependents[*appsv1.ControllerRevision] {
	return dependents("controller revision", fieldManager, func(ns string) patcher[*appsv1.ControllerRevision] {
		return client.AppsV1().ControllerRevisions(ns)
	})
}

// Claim returns the objects among objs (the cached candidates of the
// owner's namespace, in that order) that the owner controls after
// adopting and releasing as the package documentation says. Adopted
// objects are returned as patched. Claim goes on past a failed write and
// returns what it could claim with the failures joined.
func Claim[T metav1.Object](ctx context.Context, owner Owner, deps Dependents[T], objs []T) ([]T, error) {
	var (
		owned    []T
		errs     []error
		checked  bool  // the owner was read past the cache
		adoptErr error // why nothing can be adopted, once checked
	)
	if owner.Selector == nil {
		return nil, fmt.Errorf("claim %ss for %s %s: no selector", deps.Kind, owner.Kind.Kind, keyOf(owner.Object))
	}
	deleting := owner.Object.GetDeletionTimestamp() != nil
	for _, obj := range objs {
		matches := owner.Selector.Matches(labels.Set(obj.GetLabels())) && (deps.Filter == nil || deps.Filter(obj))
		if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
			switch {
			case ref.UID != owner.Object.GetUID(): // another controller's
			case matches:
				owned = append(owned, obj)
			case !deleting:
				if err := release(ctx, owner, deps, obj); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		if deleting || !matches || obj.GetDeletionTimestamp() != nil || obj.GetNamespace() != owner.Object.GetNamespace() {
			continue
		}
		if !checked {
			checked = true
			adoptErr = canAdopt(ctx, owner)
			if adoptErr != nil {
				errs = append(errs, adoptErr)
			}
		}
		if adoptErr != nil {
			continue // owned objects may still need releasing
		}
		adopted, err := adopt(ctx, owner, deps, obj)
		switch {
		case apierrors.IsNotFound(err): // gone meanwhile
		case err != nil:
			errs = append(errs, err)
		default:
			owned = append(owned, adopted)
		}
	}
	return owned, errors.Join(errs...)
}

func canAdopt(ctx context.Context, owner Owner) error {
	current, err := Current(ctx, owner.Object, owner.Get)
	if err != nil {
		return fmt.Errorf("recheck %s %s before adopting: %w", owner.Kind.Kind, keyOf(owner.Object), err)
	}
	if !current {
		return fmt.Errorf("not adopting for %s %s: %w", owner.Kind.Kind, keyOf(owner.Object), ErrNotCurrent)
	}
	return nil
}

// metadataPatch is the strategic-merge patch Claim sends; UID makes it
// fail on an object recreated under the same name.
type metadataPatch struct {
	Metadata struct {
		UID              types.UID `json:"uid"`
		OwnerReferences  []any     `json:"ownerReferences"`
		Finalizers       []string  `json:"finalizers,omitempty"`
		DeleteFinalizers []string  `json:"$deleteFromPrimitiveList/finalizers,omitempty"`
	} `json:"metadata"`
}

// ControllerRef is the controller reference owner's dependents carry.
func ControllerRef(owner metav1.Object, kind schema.GroupVersionKind) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion: kind.GroupVersion().String(), Kind: kind.Kind, Name: owner.GetName(), UID: owner.GetUID(),
		Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

func adopt[T metav1.Object](ctx context.Context, owner Owner, deps Dependents[T], obj T) (T, error) {
	var p metadataPatch
	p.Metadata.UID = obj.GetUID()
	p.Metadata.OwnerReferences = []any{ControllerRef(owner.Object, owner.Kind)}
	p.Metadata.Finalizers = deps.Finalizers
	out, err := send(ctx, deps, obj, p)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			err = fmt.Errorf("adopt %s %s: %w", deps.Kind, obj.GetName(), err)
		}
		return out, err
	}
	if owner.Log != nil {
		owner.Log.Info("adopted "+deps.Kind, "owner", keyOf(owner.Object), "kind", owner.Kind.Kind, "name", obj.GetName())
	}
	return out, nil
}

func release[T metav1.Object](ctx context.Context, owner Owner, deps Dependents[T], obj T) error {
	var p metadataPatch
	p.Metadata.UID = obj.GetUID()
	p.Metadata.OwnerReferences = []any{map[string]any{"$patch": "delete", "uid": owner.Object.GetUID()}}
	p.Metadata.DeleteFinalizers = deps.Finalizers
	if _, err := send(ctx, deps, obj, p); err != nil {
		// Gone, or recreated under its name (a different UID): nothing
		// of the owner's left to release.
		if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
			return nil
		}
		return fmt.Errorf("release %s %s: %w", deps.Kind, obj.GetName(), err)
	}
	if owner.Log != nil {
		owner.Log.Info("released "+deps.Kind, "owner", keyOf(owner.Object), "kind", owner.Kind.Kind, "name", obj.GetName())
	}
	return nil
}

func send[T metav1.Object](ctx context.Context, deps Dependents[T], obj T, p metadataPatch) (T, error) {
	body, err := json.Marshal(p)
	if err != nil {
		var zero T
		return zero, err
	}
	return deps.Patch(ctx, obj.GetNamespace(), obj.GetName(), body)
}

func keyOf(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }
