package apiserver

import (
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/flotilla-io/flotilla/pkg/storage"
)

// TokenIssuer signs service account tokens.
type TokenIssuer func(namespace, name, uid, podName, podUID string, audiences []string, expiry time.Duration) (string, time.Time, error)

var tokenRequestKind = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// serveToken answers serviceaccounts/NAME/token: a TokenRequest for the
// account, optionally bound to a pod of its namespace.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, req *request, out output) error {
	if s.cfg.Tokens == nil {
		return apierrors.NewServiceUnavailable("service account tokens are not available")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, _, err := s.decodeInto(requestMedia(r), body, tokenRequestKind, &authenticationv1.TokenRequest{}, "Ignore")
	if err != nil {
		return err
	}
	tr := obj.(*authenticationv1.TokenRequest)
	saObj, err := s.get(r, req)
	if err != nil {
		return err
	}
	sa := saObj.(*corev1.ServiceAccount)
	expiry := int64(3600)
	if tr.Spec.ExpirationSeconds != nil {
		expiry = *tr.Spec.ExpirationSeconds
	}
	if expiry < 600 {
		return apierrors.NewInvalid(schema.GroupKind{Group: "authentication.k8s.io", Kind: "TokenRequest"}, req.name,
			field.ErrorList{field.Invalid(field.NewPath("spec", "expirationSeconds"), expiry, "may not specify a duration less than 10 minutes")})
	}
	var podName, podUID string
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if ref.Kind != "Pod" {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to object of kind %q", req.name, ref.Kind))
		}
		pods := s.byGV[schema.GroupVersion{Version: "v1"}]["pods"]
		p, err := pods.Store.Get(r.Context(), pods.Store.Key(req.namespace, ref.Name))
		if storage.IsNotFound(err) {
			return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, ref.Name)
		}
		if err != nil {
			return err
		}
		pod := p.(*corev1.Pod)
		if ref.UID != "" && ref.UID != pod.UID {
			return apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record (%s)", ref.UID, pod.UID))
		}
		podName, podUID = pod.Name, string(pod.UID)
	}
	token, exp, err := s.cfg.Tokens(req.namespace, sa.Name, string(sa.UID), podName, podUID, tr.Spec.Audiences, time.Duration(expiry)*time.Second)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	tr.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(exp)}
	tr.Spec.ExpirationSeconds = &expiry
	tr.Name, tr.Namespace = sa.Name, sa.Namespace
	tr.SetGroupVersionKind(tokenRequestKind)
	s.writeObject(w, r, http.StatusCreated, tr, out)
	return nil
}
