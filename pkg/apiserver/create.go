package apiserver

import (
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"

	"github.com/flotilla-io/flotilla/pkg/defaults"
	"github.com/flotilla-io/flotilla/pkg/registry"
	"github.com/flotilla-io/flotilla/pkg/storage"
	"github.com/flotilla-io/flotilla/pkg/validation"
)

// dryRun reports whether the request asks not to persist anything.
func dryRun(r *http.Request) (bool, error) {
	vals := r.URL.Query()["dryRun"]
	for _, v := range vals {
		if v != "All" {
			return false, badRequest("Invalid dry run value: supported values are [All], got %q", v)
		}
	}
	return len(vals) > 0, nil
}

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, req *request, out output) error {
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
	created, err := s.create(r, req, obj, isDry, false)
	if err != nil {
		return err
	}
	addWarnings(w, warnings)
	s.writeResult(w, r, req, http.StatusCreated, created, out)
	return nil
}

// create admits and stores a new object given in the served version.
// tracked says managedFields were already recorded (server-side apply).
func (s *Server) create(r *http.Request, req *request, obj runtime.Object, isDry, tracked bool) (runtime.Object, error) {
	res := req.res
	acc := accessor(obj)
	if err := s.prepareNew(r, req, acc); err != nil {
		return nil, err
	}
	// What a client sends as status is ignored: controllers own it.
	if res.HasSubresource("status") && !res.KeepStatusOnCreate {
		if st, ok := structField(obj, "Status"); ok {
			st.SetZero()
		}
	}
	defaults.Apply(obj)
	if res.PrepareForCreate != nil {
		res.PrepareForCreate(obj)
	}
	if res.PrepareFromRequest != nil {
		if err := res.PrepareFromRequest(r.Context(), obj); err != nil {
			return nil, err
		}
	}
	call := callFor(req, admission.Create, obj, nil, createOptions(isDry), isDry)
	call.name = acc.GetName()
	if err := s.admit(r, call); err != nil {
		return nil, err
	}
	if res.Generation {
		acc.SetGeneration(1)
	}
	if errs := validation.ValidateCreate(obj); len(errs) > 0 {
		return nil, invalid(res, acc.GetName(), errs)
	}
	if res.AuthorizeWrite != nil {
		if err := res.AuthorizeWrite(r.Context(), obj, nil); err != nil {
			return nil, err
		}
	}
	if err := s.validateAdmission(r, call); err != nil {
		return nil, err
	}
	if !tracked {
		var err error
		if obj, err = s.trackUpdate(r, res.GVK(), "", res.New(), obj); err != nil {
			return nil, err
		}
	}
	if isDry {
		obj.GetObjectKind().SetGroupVersionKind(res.GVK())
		return obj, nil
	}
	undo := func() {}
	if res.Allocate != nil {
		var err error
		if undo, err = res.Allocate(r.Context(), obj, nil); err != nil {
			return nil, err
		}
	}
	stored, err := res.Encode(obj)
	if err != nil {
		undo()
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		name := accessor(stored).GetName()
		result, err := res.Store.Create(r.Context(), res.Store.Key(req.namespace, name), stored)
		if err == nil {
			return res.Decode(result)
		}
		if attempt == 0 {
			undo()
		}
		// A clash of a generated name is retried with a new suffix.
		if storage.CodeOf(err) == storage.CodeExists && acc.GetGenerateName() != "" && attempt < 8 {
			accessor(stored).SetName(generateName(acc.GetGenerateName()))
			continue
		}
		if storage.CodeOf(err) == storage.CodeExists {
			return nil, apierrors.NewAlreadyExists(res.GVR().GroupResource(), name)
		}
		return nil, err
	}
}

// prepareNew fills in the system metadata of a new object.
func (s *Server) prepareNew(r *http.Request, req *request, acc metav1.Object) error {
	res := req.res
	if res.Namespaced {
		switch ns := acc.GetNamespace(); {
		case ns == "":
			acc.SetNamespace(req.namespace)
		case ns != req.namespace:
			return badRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		acc.SetNamespace("")
	}
	if req.name != "" && acc.GetName() != req.name && req.subresource == "" {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), req.name)
	}
	if acc.GetName() == "" && acc.GetGenerateName() != "" {
		acc.SetName(generateName(acc.GetGenerateName()))
	}
	if acc.GetName() == "" {
		return invalid(res, "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if rv := acc.GetResourceVersion(); rv != "" {
		return invalid(res, acc.GetName(), field.ErrorList{field.Invalid(field.NewPath("metadata", "resourceVersion"), rv, "must be empty on create")})
	}
	acc.SetUID(types.UID(uuid.NewUUID()))
	acc.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
	acc.SetDeletionTimestamp(nil)
	acc.SetDeletionGracePeriodSeconds(nil)
	acc.SetGeneration(0)
	return nil
}

func invalid(res *registry.Resource, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Group: res.Group, Kind: res.Kind}, name, errs)
}

// generateName appends five random characters, trimming the base so the
// result stays a valid name.
func generateName(base string) string {
	const maxBase = 63 - 5
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	return base + registry.RandomSuffix(5)
}
