// Package namespacelifecycle is upstream's NamespaceLifecycle admission
// plugin: nothing new is created in a namespace that does not exist or
// is being deleted, and the namespaces the system lives in cannot be
// deleted.
package namespacelifecycle

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

// PluginName is the name upstream gives the plugin.
const PluginName = "NamespaceLifecycle"

// immortal namespaces hold the cluster's own objects.
var immortal = map[string]bool{
	metav1.NamespaceDefault: true,
	metav1.NamespaceSystem:  true,
	metav1.NamespacePublic:  true,
}

// Plugin enforces the namespace lifecycle.
type Plugin struct {
	*admission.Handler
	namespaces corelisters.NamespaceLister
	client     kubernetes.Interface
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New builds the plugin on the namespace informer.
func New(d deps.Deps) (admission.Interface, error) {
	inf := d.Informers.Core().V1().Namespaces()
	p := &Plugin{Handler: admission.NewHandler(admission.Create, admission.Delete), namespaces: inf.Lister(), client: d.Client}
	p.SetReadyFunc(inf.Informer().HasSynced)
	return p, nil
}

// Admit refuses creations in missing or terminating namespaces and the
// deletion of the system's namespaces.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	isNamespace := a.GetKind().GroupKind() == corev1.SchemeGroupVersion.WithKind("Namespace").GroupKind()
	if a.GetOperation() == admission.Delete {
		if isNamespace && a.GetSubresource() == "" && immortal[a.GetName()] {
			return apierrors.NewForbidden(a.GetResource().GroupResource(), a.GetName(), fmt.Errorf("this namespace may not be deleted"))
		}
		return nil
	}
	// Subresources (a binding, an eviction) act on objects already there.
	if isNamespace || a.GetNamespace() == "" || a.GetSubresource() != "" {
		return nil
	}
	ns, err := p.namespace(ctx, a.GetNamespace())
	if err != nil {
		return err
	}
	if ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil {
		err := admission.NewForbidden(a, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns.Name))
		if se, ok := err.(*apierrors.StatusError); ok && se.ErrStatus.Details != nil {
			se.ErrStatus.Details.Causes = append(se.ErrStatus.Details.Causes, metav1.StatusCause{
				Type:    corev1.NamespaceTerminatingCause,
				Message: fmt.Sprintf("namespace %s is being terminated", ns.Name),
				Field:   "metadata.namespace",
			})
		}
		return err
	}
	return nil
}

// namespace reads a namespace from the cache, and from the server when the
// cache does not have it (just created) or says it is going (it may have
// been deleted and created again since).
func (p *Plugin) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	if p.WaitForReady() {
		ns, err := p.namespaces.Get(name)
		if err == nil && ns.Status.Phase != corev1.NamespaceTerminating && ns.DeletionTimestamp == nil {
			return ns, nil
		}
	}
	ns, err := p.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("look up namespace %s: %w", name, err))
	}
	return ns, nil
}
