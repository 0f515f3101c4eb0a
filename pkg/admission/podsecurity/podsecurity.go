// Package podsecurity is upstream's PodSecurity admission plugin: pods
// (and the pod templates of workloads) are checked against the Pod
// Security Standards level their namespace's pod-security.kubernetes.io
// labels name; enforce refuses, warn answers with HTTP warnings, audit
// annotates. The evaluation is k8s.io/pod-security-admission's; this
// package adapts Flotilla's admission attributes to it.
package podsecurity

import (
	"context"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	psadmission "k8s.io/pod-security-admission/admission"
	psaconfig "k8s.io/pod-security-admission/admission/api/load"
	psapi "k8s.io/pod-security-admission/api"
	psametrics "k8s.io/pod-security-admission/metrics"
	"k8s.io/pod-security-admission/policy"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
	"github.com/flotilla-io/flotilla/pkg/version"
)

// PluginName is the name upstream gives the plugin.
const PluginName = "PodSecurity"

// Plugin checks pods and pod templates against their namespace's level.
type Plugin struct {
	*admission.Handler
	delegate *psadmission.Admission
}

var _ admission.ValidationInterface = (*Plugin)(nil)

// New builds the plugin with upstream's default configuration (privileged
// unless a namespace says otherwise, no exemptions).
func New(d deps.Deps) (admission.Interface, error) {
	cfg, err := psaconfig.LoadFromData(nil)
	if err != nil {
		return nil, fmt.Errorf("default PodSecurity configuration: %w", err)
	}
	// "latest" is the policy of the Kubernetes version the server
	// reports, not of the library's newer one: a pod that 1.32 admits
	// must not be refused by a check added later (such as 1.34's
	// probe and lifecycle hook host check).
	emulated, err := psapi.ParseVersion("v" + version.Info().Major + "." + version.Info().Minor)
	if err != nil {
		return nil, fmt.Errorf("PodSecurity policy version: %w", err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), &emulated)
	if err != nil {
		return nil, fmt.Errorf("PodSecurity evaluator: %w", err)
	}
	inf := d.Informers.Core().V1().Namespaces()
	p := &Plugin{
		Handler: admission.NewHandler(admission.Create, admission.Update),
		delegate: &psadmission.Admission{
			Configuration:   cfg,
			Evaluator:       evaluator,
			Metrics:         psametrics.NewPrometheusRecorder(psapi.GetAPIVersion()),
			NamespaceGetter: namespaces{lister: inf.Lister(), client: d.Client},
			PodLister:       pods{client: d.Client},
		},
	}
	p.SetReadyFunc(inf.Informer().HasSynced)
	if err := p.delegate.CompleteConfiguration(); err != nil {
		return nil, err
	}
	if err := p.delegate.ValidateConfiguration(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate evaluates a write of a pod, a pod template holder or a
// namespace's labels.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	gr := a.GetResource().GroupResource()
	if gr != corev1.Resource("pods") && gr != corev1.Resource("namespaces") && !p.delegate.PodSpecExtractor.HasPodSpec(gr) {
		return nil
	}
	result := p.delegate.Validate(ctx, attributes{a})
	for _, w := range result.Warnings {
		warning.AddWarning(ctx, "", w)
	}
	for k, v := range result.AuditAnnotations {
		_ = a.AddAnnotation(psapi.AuditAnnotationPrefix+k, v)
	}
	if result.Allowed {
		return nil
	}
	err, ok := admission.NewForbidden(a, errors.New("not allowed by PodSecurity")).(*apierrors.StatusError)
	if !ok {
		return admission.NewForbidden(a, errors.New("not allowed by PodSecurity"))
	}
	if r := result.Result; r != nil {
		if r.Message != "" {
			err.ErrStatus.Message = r.Message
		}
		if r.Reason != "" {
			err.ErrStatus.Reason = r.Reason
		}
		if r.Details != nil {
			err.ErrStatus.Details = r.Details
		}
		if r.Code != 0 {
			err.ErrStatus.Code = r.Code
		}
	}
	return err
}

// attributes presents an admission call as the evaluator reads it.
type attributes struct{ a admission.Attributes }

func (x attributes) GetName() string                  { return x.a.GetName() }
func (x attributes) GetNamespace() string             { return x.a.GetNamespace() }
func (x attributes) GetKind() schema.GroupVersionKind { return x.a.GetKind() }
func (x attributes) GetResource() schema.GroupVersionResource {
	return x.a.GetResource()
}
func (x attributes) GetSubresource() string { return x.a.GetSubresource() }
func (x attributes) GetOperation() admissionv1.Operation {
	return admissionv1.Operation(x.a.GetOperation())
}
func (x attributes) GetObject() (runtime.Object, error)    { return x.a.GetObject(), nil }
func (x attributes) GetOldObject() (runtime.Object, error) { return x.a.GetOldObject(), nil }
func (x attributes) GetUserName() string {
	if u := x.a.GetUserInfo(); u != nil {
		return u.GetName()
	}
	return ""
}

// namespaces reads namespaces from the cache, or the server when the
// cache does not have them yet.
type namespaces struct {
	lister corelisters.NamespaceLister
	client kubernetes.Interface
}

func (n namespaces) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	if ns, err := n.lister.Get(name); err == nil {
		return ns, nil
	}
	return n.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
}

// pods lists a namespace's pods from the server: it is needed only when a
// namespace's enforce level changes, to warn about pods already there.
type pods struct{ client kubernetes.Interface }

func (p pods) ListPods(ctx context.Context, namespace string) ([]*corev1.Pod, error) {
	list, err := p.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}
