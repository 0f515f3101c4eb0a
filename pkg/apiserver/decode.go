package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// fieldValidation returns the request's unknown-field policy. Upstream
// defaults to Warn when the client says nothing.
func fieldValidation(r *http.Request) (string, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return "Warn", nil
	case "Strict", "Warn", "Ignore":
		return v, nil
	default:
		return "", badRequest("fieldValidation must be one of Ignore, Warn, or Strict, got %q", v)
	}
}

func unsupportedMedia(media string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", media),
	}}
}

// decodeInto decodes body (JSON, YAML or protobuf) into into, whose kind
// is want. Unknown and duplicate fields are errors under Strict, warnings
// under Warn, and ignored under Ignore.
func (s *Server) decodeInto(media string, body []byte, want schema.GroupVersionKind, into runtime.Object, validation string) (runtime.Object, []string, error) {
	info, ok := s.serializer(media)
	if !ok {
		return nil, nil, unsupportedMedia(media)
	}
	dec := info.Serializer
	if validation != "Ignore" && info.StrictSerializer != nil {
		dec = info.StrictSerializer
	}
	cannot := func(err error) error {
		return badRequest("%s in version %q cannot be handled as a %s: %v", want.Kind, want.Version, want.Kind, err)
	}
	if info.MediaType != runtime.ContentTypeProtobuf {
		body = liftExtensions(want.Kind, body)
	}
	obj, gvk, err := dec.Decode(body, &want, into)
	var warnings []string
	if err != nil {
		if !runtime.IsStrictDecodingError(err) {
			return nil, nil, cannot(trimDecodeError(err))
		}
		if validation == "Strict" {
			return nil, nil, cannot(err)
		}
		if se, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range se.Errors() {
				warnings = append(warnings, e.Error())
			}
		}
	}
	if gvk != nil && (gvk.Kind != want.Kind || gvk.GroupVersion() != want.GroupVersion()) {
		if gvk.Kind != want.Kind {
			return nil, nil, badRequest("the kind in the data (%s) does not match the expected kind (%s)", gvk.Kind, want.Kind)
		}
		return nil, nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion(), want.GroupVersion())
	}
	if obj != into {
		return nil, nil, badRequest("the object provided is unrecognized (must be of type %s)", want.Kind)
	}
	return obj, warnings, nil
}

// decodeObject decodes a request body as an object of res's kind.
func (s *Server) decodeObject(r *http.Request, res *registry.Resource, body []byte, validation string) (runtime.Object, []string, error) {
	return s.decodeInto(requestMedia(r), body, res.GVK(), res.New(), validation)
}

// trimDecodeError drops the Go package noise from JSON errors so users
// see which field was wrong.
func trimDecodeError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "couldn't get version/kind; json parse error: ")
	return fmt.Errorf("%s", msg)
}

// addWarnings sends warnings the way upstream does, one Warning header each.
func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", fmt.Sprintf(`299 - %q`, msg))
	}
}
