package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"

	"github.com/flotilla-io/flotilla/pkg/defaults"
	"github.com/flotilla-io/flotilla/pkg/storage"
	"github.com/flotilla-io/flotilla/pkg/validation"
)

// errDryRun aborts a storage update after admission, so nothing is written.
var errDryRun = errors.New("dry run")

func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	validationMode, err := fieldValidation(r)
	if err != nil {
		return err
	}
	isDry, err := dryRun(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, warnings, err := s.decodeObject(r, req.res, body, validationMode)
	if err != nil {
		return err
	}
	updated, err := s.update(r, req, isDry, false, func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if storage.IsNotFound(err) && req.res.CreateOnUpdate && req.subresource == "" {
		// Kinds whose upstream strategy allows it are created by a PUT.
		created, err := s.create(r, req, obj, isDry, false)
		if err != nil {
			return err
		}
		addWarnings(w, warnings)
		s.writeResult(w, r, req, http.StatusCreated, created, out)
		return nil
	}
	if err != nil {
		return err
	}
	addWarnings(w, warnings)
	s.writeResult(w, r, req, http.StatusOK, updated, out)
	return nil
}

// update changes an existing object: compute derives the requested state
// from the current one (it runs again if another writer wins the race),
// then the update is admitted and written. tracked says compute already
// recorded managedFields (server-side apply).
func (s *Server) update(r *http.Request, req *request, isDry, tracked bool, compute func(cur runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	res := req.res
	var result runtime.Object
	written, deleted, err := res.Store.Update(r.Context(), res.Store.Key(req.namespace, req.name), func(stored runtime.Object) (runtime.Object, error) {
		cur, err := res.Decode(stored)
		if err != nil {
			return nil, err
		}
		obj, err := compute(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		next, err := s.admitUpdate(r, req, obj, cur, tracked, isDry)
		if err != nil {
			return nil, err
		}
		result = next
		if isDry {
			return nil, errDryRun
		}
		if finalized(next) && !pendingFinalizers(res, next) {
			return nil, nil
		}
		if res.Allocate != nil {
			// Reservations are idempotent per object, so a retried
			// update reserves nothing twice.
			if _, err := res.Allocate(r.Context(), next, cur); err != nil {
				return nil, err
			}
		}
		return res.Encode(next)
	})
	switch {
	case errors.Is(err, errDryRun):
		return result, nil
	case err != nil:
		return nil, err
	case deleted:
		if res.Release != nil {
			res.Release(r.Context(), result)
		}
		return result, nil
	}
	return res.Decode(written)
}

// admitUpdate applies the system rules to an update of cur into obj and
// validates the result.
func (s *Server) admitUpdate(r *http.Request, req *request, obj, cur runtime.Object, tracked, isDry bool) (runtime.Object, error) {
	res := req.res
	acc, old := accessor(obj), accessor(cur)
	if acc.GetName() != req.name {
		return nil, badRequest("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), req.name)
	}
	if res.Namespaced {
		if acc.GetNamespace() == "" {
			acc.SetNamespace(req.namespace)
		} else if acc.GetNamespace() != req.namespace {
			return nil, badRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	}
	switch rv := acc.GetResourceVersion(); {
	case rv != "" && rv != old.GetResourceVersion():
		return nil, errConflict(res.GVR().GroupResource(), req.name)
	case rv == "" && res.RequireResourceVersion:
		// Upstream names the resource, not the kind, in this error.
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: res.Group, Kind: res.Plural}, req.name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "resourceVersion"), uint64(0), "must be specified for an update")})
	}
	acc.SetResourceVersion(old.GetResourceVersion())
	if acc.GetUID() == "" {
		acc.SetUID(old.GetUID())
	}
	acc.SetCreationTimestamp(old.GetCreationTimestamp())
	acc.SetDeletionTimestamp(old.GetDeletionTimestamp())
	acc.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	acc.SetGeneration(old.GetGeneration())
	defaults.Apply(obj)

	status := req.subresource == "status"
	// A subresource serving the object itself (status, a CSR's approval)
	// changes only what its kind lets it change.
	objectSub := req.subresource != "" && res.ServesObject(req.subresource)
	switch {
	case objectSub && res.Subresource(req.subresource).Prepare != nil:
		base := cur.DeepCopyObject()
		res.Subresource(req.subresource).Prepare(obj, base)
		bacc := accessor(base)
		bacc.SetManagedFields(acc.GetManagedFields())
		obj, acc = base, bacc
	case status:
		// Only status (and labels/annotations) may change through /status.
		base := cur.DeepCopyObject()
		copyField(base, obj, "Status")
		bacc := accessor(base)
		bacc.SetLabels(acc.GetLabels())
		bacc.SetAnnotations(acc.GetAnnotations())
		bacc.SetManagedFields(acc.GetManagedFields())
		obj, acc = base, bacc
	case res.HasSubresource("status"):
		copyField(obj, cur, "Status")
	}
	if res.Generation && !objectSub && specChanged(obj, cur) {
		acc.SetGeneration(old.GetGeneration() + 1)
	}
	if res.PrepareForUpdate != nil && req.subresource == "" {
		res.PrepareForUpdate(obj, cur)
	}
	call := callFor(req, admission.Update, obj, cur, updateOptions(isDry), isDry)
	if err := s.admit(r, call); err != nil {
		return nil, err
	}
	if old.GetDeletionTimestamp() != nil {
		for _, f := range acc.GetFinalizers() {
			if !slices.Contains(old.GetFinalizers(), f) {
				return nil, invalid(res, req.name, field.ErrorList{field.Forbidden(field.NewPath("metadata", "finalizers"), fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers %q", f))})
			}
		}
	}
	var errs field.ErrorList
	if objectSub {
		errs = validation.ValidateSubresourceUpdate(req.subresource, obj, cur)
	} else {
		errs = validation.ValidateUpdate(obj, cur)
	}
	if len(errs) > 0 {
		return nil, invalid(res, req.name, errs)
	}
	if res.AuthorizeWrite != nil && req.subresource == "" {
		if err := res.AuthorizeWrite(r.Context(), obj, cur); err != nil {
			return nil, err
		}
	}
	if err := s.validateAdmission(r, call); err != nil {
		return nil, err
	}
	if !tracked {
		var err error
		if obj, err = s.trackUpdate(r, res.GVK(), req.subresource, cur, obj); err != nil {
			return nil, err
		}
	}
	return obj, nil
}

// finalized reports whether an object under deletion has lost its last
// finalizer and its grace period is over, so it can go.
func finalized(obj runtime.Object) bool {
	acc := accessor(obj)
	if acc.GetDeletionTimestamp() == nil || len(acc.GetFinalizers()) > 0 {
		return false
	}
	g := acc.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}
