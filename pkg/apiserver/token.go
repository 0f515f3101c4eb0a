package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/flotilla-io/flotilla/pkg/serviceaccount"
	"github.com/flotilla-io/flotilla/pkg/storage"
)

// TokenIssuer signs a bound service account token.
type TokenIssuer func(r serviceaccount.Request, now time.Time) (string, time.Time, error)

var tokenRequestKind = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// Upstream's bounds on a requested lifetime and its default.
const (
	minTokenSeconds     = 10 * 60
	maxTokenSeconds     = 1 << 32
	defaultTokenSeconds = 60 * 60
	// A pod-bound token for the API asked for with this odd lifetime is
	// a kube-api-access volume's: it is made valid for extendedTokenLife
	// (its warnafter claim keeping the lifetime asked for), so a pod
	// whose token is renewed late keeps working.
	warnOnlyTokenSeconds = 60*60 + 7
	extendedTokenLife    = 365 * 24 * time.Hour
)

// serveToken answers serviceaccounts/NAME/token: a TokenRequest for the
// account, optionally bound to a Pod (which must run as the account), a
// Secret or a Node, so the token dies with that object.
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
	gk := tokenRequestKind.GroupKind()
	if tr.Name != "" && tr.Name != req.name {
		return apierrors.NewInvalid(gk, req.name, field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), tr.Name, "must match the service account name if specified")})
	}
	if tr.Namespace != "" && tr.Namespace != req.namespace {
		return apierrors.NewInvalid(gk, req.name, field.ErrorList{field.Invalid(field.NewPath("metadata", "namespace"), tr.Namespace, "must match the service account namespace if specified")})
	}
	saObj, err := s.get(r, req)
	if err != nil {
		return err
	}
	sa := saObj.(*corev1.ServiceAccount)
	if len(tr.Spec.Audiences) == 0 {
		tr.Spec.Audiences = []string{serviceaccount.Issuer}
	}
	if tr.Spec.ExpirationSeconds == nil {
		d := int64(defaultTokenSeconds)
		tr.Spec.ExpirationSeconds = &d
	}
	if errs := validateTokenRequest(tr); len(errs) > 0 {
		return apierrors.NewInvalid(gk, "", errs)
	}
	issue := serviceaccount.Request{Namespace: sa.Namespace, Name: sa.Name, UID: string(sa.UID), Audiences: tr.Spec.Audiences}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if err := s.bindToken(r.Context(), req, sa.Name, ref, &issue); err != nil {
			return err
		}
	}
	var warnings []string
	if limit := int64(s.cfg.TokenMaxExpiration / time.Second); limit > 0 && *tr.Spec.ExpirationSeconds > limit {
		warnings = append(warnings, fmt.Sprintf("requested expiration of %d seconds shortened to %d seconds", *tr.Spec.ExpirationSeconds, limit))
		tr.Spec.ExpirationSeconds = &limit
	}
	issue.Expiry = time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	if s.cfg.TokenExtendExpiration && issue.Pod != nil && *tr.Spec.ExpirationSeconds == warnOnlyTokenSeconds && apiAudiences(tr.Spec.Audiences) {
		issue.ExtendTo = extendedTokenLife
	}
	now := time.Now()
	token, _, err := s.cfg.Tokens(issue, now)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	// The status tells the lifetime asked for, even of an extended token.
	tr.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(now.Add(issue.Expiry))}
	tr.Name, tr.Namespace = sa.Name, sa.Namespace
	tr.CreationTimestamp = metav1.NewTime(now)
	tr.SetGroupVersionKind(tokenRequestKind)
	addWarnings(w, warnings)
	s.writeObject(w, r, http.StatusCreated, tr, out)
	return nil
}

// apiAudiences says whether every audience is the API server's.
func apiAudiences(audiences []string) bool {
	for _, a := range audiences {
		if a != serviceaccount.Issuer {
			return false
		}
	}
	return true
}

// validateTokenRequest is upstream's static validation of a TokenRequest.
func validateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	switch e := *tr.Spec.ExpirationSeconds; {
	case e < minTokenSeconds:
		errs = append(errs, field.Invalid(p, e, "may not specify a duration less than 10 minutes"))
	case e > maxTokenSeconds:
		errs = append(errs, field.Invalid(p, e, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}

// bindToken resolves the object a token is to be bound to into issue.
func (s *Server) bindToken(ctx context.Context, req *request, account string, ref *authenticationv1.BoundObjectReference, issue *serviceaccount.Request) error {
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var uid string
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		obj, err := s.lookup(ctx, "pods", req.namespace, ref.Name)
		if err != nil {
			return err
		}
		pod := obj.(*corev1.Pod)
		if pod.Spec.ServiceAccountName != account && !(pod.Spec.ServiceAccountName == "" && account == "default") {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", account))
		}
		uid = string(pod.UID)
		issue.Pod = &serviceaccount.Ref{Name: pod.Name, UID: uid}
		if node := pod.Spec.NodeName; node != "" {
			// The token names the pod's node; a missing Node leaves the
			// name alone, as upstream.
			issue.Node = &serviceaccount.Ref{Name: node}
			if n, err := s.lookup(ctx, "nodes", "", node); err == nil {
				issue.Node.UID = string(n.(*corev1.Node).UID)
			} else if !apierrors.IsNotFound(err) {
				return apierrors.NewInternalError(err)
			}
		}
	case gvk.Group == "" && gvk.Kind == "Node":
		obj, err := s.lookup(ctx, "nodes", "", ref.Name)
		if err != nil {
			return err
		}
		uid = string(obj.(*corev1.Node).UID)
		issue.Node = &serviceaccount.Ref{Name: ref.Name, UID: uid}
	case gvk.Group == "" && gvk.Kind == "Secret":
		obj, err := s.lookup(ctx, "secrets", req.namespace, ref.Name)
		if err != nil {
			return err
		}
		uid = string(obj.(*corev1.Secret).UID)
		issue.Secret = &serviceaccount.Ref{Name: ref.Name, UID: uid}
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && string(ref.UID) != uid {
		return apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return nil
}

// lookup reads one core/v1 object from storage, with a NotFound status
// when it is missing.
func (s *Server) lookup(ctx context.Context, resource, namespace, name string) (runtime.Object, error) {
	res := s.byGV[schema.GroupVersion{Version: "v1"}][resource]
	if res == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("resource %s not served", resource))
	}
	obj, err := res.Store.Get(ctx, res.Store.Key(namespace, name))
	if storage.IsNotFound(err) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
	}
	if err != nil {
		return nil, err
	}
	return obj, nil
}
