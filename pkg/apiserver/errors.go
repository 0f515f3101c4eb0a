package apiserver

import (
	"context"
	"errors"
	"fmt"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-io/flotilla/pkg/storage"
)

// toStatus converts any error into the Status the client receives. gr and
// name give not-found and conflict messages their upstream wording.
func toStatus(err error, gr schema.GroupResource, name string) *metav1.Status {
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) {
		st := apiStatus.Status()
		return &st
	}
	var se *storage.Error
	if errors.As(err, &se) {
		var e *apierrors.StatusError
		switch se.Code {
		case storage.CodeNotFound:
			e = apierrors.NewNotFound(gr, name)
		case storage.CodeExists:
			e = apierrors.NewAlreadyExists(gr, name)
		case storage.CodeConflict:
			e = apierrors.NewConflict(gr, name, errors.New(conflictMsg))
		case storage.CodeExpired:
			msg := se.Msg
			if msg == "" {
				msg = "too old resource version"
			}
			e = apierrors.NewResourceExpired(msg)
			e.ErrStatus.ListMeta.Continue = se.Continue
		case storage.CodeInvalidContinue:
			e = apierrors.NewBadRequest(se.Error())
		case storage.CodeUnavailable:
			e = apierrors.NewServiceUnavailable("the storage backend is unavailable")
		case storage.CodeNoSpace:
			// As upstream: a 500 carrying etcd's own words, which is what
			// operators search for ("... database space exceeded").
			e = apierrors.NewInternalError(errors.New(rpctypes.ErrNoSpace.Error()))
		}
		if e != nil {
			return &e.ErrStatus
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &errTimeout().ErrStatus
	}
	st := apierrors.NewInternalError(err).ErrStatus
	return &st
}

const conflictMsg = "the object has been modified; please apply your changes to the latest version and try again"

func errConflict(gr schema.GroupResource, name string) error {
	return apierrors.NewConflict(gr, name, errors.New(conflictMsg))
}

func badRequest(format string, args ...any) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

// writeStatus writes st as the response, in JSON as every client accepts.
func (s *Server) writeStatus(w http.ResponseWriter, r *http.Request, st *metav1.Status) {
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
		st.Code = int32(code)
	}
	if code >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", st.Message)
	}
	s.writeJSON(w, code, st)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, gr schema.GroupResource, name string) {
	s.writeStatus(w, r, toStatus(err, gr, name))
}

func notAcceptable(accept string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable,
		Message: fmt.Sprintf("only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", accept),
	}}
}

// invalidMessage is a 422 Invalid with a message of our own.
func invalidMessage(msg string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid, Message: msg,
	}}
}
