package apiserver

import (
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// admissionCall is one write as the admission chain sees it.
type admissionCall struct {
	op          admission.Operation
	obj, old    runtime.Object
	kind        schema.GroupVersionKind
	resource    schema.GroupVersionResource
	subresource string
	namespace   string
	name        string
	options     runtime.Object
	dryRun      bool
}

// callFor describes a write to req's resource (or subresource).
func callFor(req *request, op admission.Operation, obj, old runtime.Object, options runtime.Object, dryRun bool) admissionCall {
	kind := req.res.GVK()
	if sub := req.res.Subresource(req.subresource); sub != nil {
		kind = sub.Kind
	}
	return admissionCall{op: op, obj: obj, old: old, kind: kind, resource: req.res.GVR(), subresource: req.subresource,
		namespace: req.namespace, name: req.name, options: options, dryRun: dryRun}
}

func (c admissionCall) attributes(r *http.Request) admission.Attributes {
	var info user.Info
	if u, ok := registry.UserFrom(r.Context()); ok {
		info = &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
	}
	return admission.NewAttributesRecord(c.obj, c.old, c.kind, c.namespace, c.name, c.resource, c.subresource, c.op, c.options, c.dryRun, info)
}

// admit runs the mutating phase of the admission chain, which may change
// c.obj. It comes after defaulting and before validation.
func (s *Server) admit(r *http.Request, c admissionCall) error {
	m, ok := s.cfg.Admission.(admission.MutationInterface)
	if !ok || !m.Handles(c.op) {
		return nil
	}
	start := time.Now()
	err := m.Admit(r.Context(), c.attributes(r), s.objectInterfaces)
	s.metrics.observeAdmission("admit", c.op, err, time.Since(start))
	return err
}

// validateAdmission runs the validating phase of the admission chain: after
// validation, just before the object is stored.
func (s *Server) validateAdmission(r *http.Request, c admissionCall) error {
	v, ok := s.cfg.Admission.(admission.ValidationInterface)
	if !ok || !v.Handles(c.op) {
		return nil
	}
	start := time.Now()
	err := v.Validate(r.Context(), c.attributes(r), s.objectInterfaces)
	s.metrics.observeAdmission("validate", c.op, err, time.Since(start))
	return err
}

// createOptions are what admission plugins see as a create's options.
func createOptions(isDry bool) *metav1.CreateOptions {
	o := &metav1.CreateOptions{}
	if isDry {
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o
}

func updateOptions(isDry bool) *metav1.UpdateOptions {
	o := &metav1.UpdateOptions{}
	if isDry {
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o
}

// admitBoth runs both phases for a write with no validation of its own
// in between (a binding, an eviction).
func (s *Server) admitBoth(r *http.Request, c admissionCall) error {
	if err := s.admit(r, c); err != nil {
		return err
	}
	return s.validateAdmission(r, c)
}

// admitConnect asks the chain about a streaming request (exec, attach,
// port-forward, log is a read) before it reaches the node; the options
// are the query's, as upstream's connect handler decodes them.
func (s *Server) admitConnect(r *http.Request, req *request) error {
	if req.subresource == "log" || s.cfg.Admission == nil {
		return nil
	}
	var opts runtime.Object
	if sub := req.res.Subresource(req.subresource); sub != nil {
		if o, err := s.scheme.New(sub.Kind); err == nil {
			if err := runtime.NewParameterCodec(s.scheme).DecodeParameters(r.URL.Query(), sub.Kind.GroupVersion(), o); err == nil {
				opts = o
			}
		}
	}
	return s.admitBoth(r, callFor(req, admission.Connect, opts, nil, opts, false))
}
