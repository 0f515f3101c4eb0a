package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/pkg/storage"
)

// patchTypeOf maps a PATCH Content-Type to its patch type.
func patchTypeOf(r *http.Request) (types.PatchType, error) {
	switch mt := requestMedia(r); mt {
	case string(types.JSONPatchType), string(types.MergePatchType), string(types.StrategicMergePatchType), string(types.ApplyYAMLPatchType):
		return types.PatchType(mt), nil
	default:
		return "", unsupportedPatch(mt)
	}
}

func unsupportedPatch(mt string) error {
	err := unsupportedMedia(mt).(*apierrors.StatusError)
	err.ErrStatus.Message = fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got %q)", mt)
	return err
}

func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	pt, err := patchTypeOf(r)
	if err != nil {
		return err
	}
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
	if req.subresource == "scale" {
		return s.patchScale(w, r, req, out, pt, body, isDry)
	}
	var warnings []string
	if pt == types.ApplyYAMLPatchType {
		return s.serveApply(w, r, req, out, body, isDry)
	}
	patched, err := s.update(r, req, isDry, false, func(cur runtime.Object) (runtime.Object, error) {
		cur.GetObjectKind().SetGroupVersionKind(req.res.GVK())
		obj, warns, err := s.applyPatch(pt, body, cur, req.res.New, validationMode)
		warnings = warns
		return obj, err
	})
	if err != nil {
		return err
	}
	addWarnings(w, warnings)
	s.writeResult(w, r, req, http.StatusOK, patched, out)
	return nil
}

// maxJSONPatchOperations bounds the operations of one JSON patch, as
// upstream: each operation walks the document, so their number is work.
const maxJSONPatchOperations = 10000

// maxJSONPatchCopyBytes bounds what copy operations of one patch may
// duplicate in all (upstream's --json-patch-max-copy-bytes default), so a
// small patch cannot grow an object exponentially by copying it into
// itself.
const maxJSONPatchCopyBytes = 3 << 20

// limitJSONPatchCopies sets the library's copy limit, which it keeps in
// a package variable, unless something stricter is already there.
func limitJSONPatchCopies() {
	if cur := atomic.LoadInt64(&jsonpatch.AccumulatedCopySizeLimit); cur == 0 || cur > maxJSONPatchCopyBytes {
		atomic.StoreInt64(&jsonpatch.AccumulatedCopySizeLimit, maxJSONPatchCopyBytes)
	}
}

// applyPatch applies a JSON, merge or strategic-merge patch to cur.
func (s *Server) applyPatch(pt types.PatchType, patch []byte, cur runtime.Object, newObj func() runtime.Object, validationMode string) (runtime.Object, []string, error) {
	curJSON, err := json.Marshal(cur)
	if err != nil {
		return nil, nil, err
	}
	var next []byte
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, nil, badRequest("error decoding patch: %v", err)
		}
		if len(p) > maxJSONPatchOperations {
			return nil, nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
				"The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
		}
		if next, err = p.Apply(curJSON); err != nil {
			return nil, nil, unprocessable(err)
		}
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, nil, badRequest("error decoding patch: invalid JSON")
		}
		if next, err = jsonpatch.MergePatch(curJSON, patch); err != nil {
			return nil, nil, unprocessable(err)
		}
	case types.StrategicMergePatchType:
		var probe map[string]any
		if err := json.Unmarshal(patch, &probe); err != nil {
			return nil, nil, badRequest("error decoding patch: %v", err)
		}
		if next, err = strategicpatch.StrategicMergePatch(curJSON, patch, newObj()); err != nil {
			return nil, nil, unprocessable(err)
		}
	}
	gvk := cur.GetObjectKind().GroupVersionKind()
	return s.decodeInto(mediaJSON, next, gvk, newObj(), validationMode)
}

func unprocessable(err error) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid, Message: err.Error(),
	}}
}

// serveApply handles server-side apply, creating the object when absent.
func (s *Server) serveApply(w http.ResponseWriter, r *http.Request, req *request, out output, body []byte, isDry bool) error {
	manager := r.URL.Query().Get("fieldManager")
	if manager == "" {
		return badRequest("PATCH, fieldManager is required for apply requests")
	}
	force := r.URL.Query().Get("force") == "true"
	patchObj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(body, &patchObj.Object); err != nil {
		return badRequest("error decoding YAML: %v", err)
	}
	if patchObj.Object == nil {
		return badRequest("apply patch is empty")
	}
	fm, err := s.fields.get(req.res.GVK(), req.subresource)
	if err != nil {
		return err
	}
	if fm == nil {
		return unsupportedPatch(string(types.ApplyYAMLPatchType))
	}
	apply := func(live runtime.Object) (runtime.Object, error) {
		live.GetObjectKind().SetGroupVersionKind(req.res.GVK())
		obj, err := fm.Apply(live, patchObj, manager, force)
		if err != nil {
			if _, ok := err.(apierrors.APIStatus); ok {
				return nil, err
			}
			return nil, badRequest("%v", err)
		}
		return obj, nil
	}
	result, err := s.update(r, req, isDry, true, apply)
	if storage.IsNotFound(err) && req.subresource == "" {
		live := req.res.New()
		acc := accessor(live)
		acc.SetName(req.name)
		acc.SetNamespace(req.namespace)
		obj, err := apply(live)
		if err != nil {
			return err
		}
		created, err := s.create(r, req, obj, isDry, true)
		if err != nil {
			return err
		}
		s.writeResult(w, r, req, http.StatusCreated, created, out)
		return nil
	}
	if err != nil {
		return err
	}
	s.writeResult(w, r, req, http.StatusOK, result, out)
	return nil
}
