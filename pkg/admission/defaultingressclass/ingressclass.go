// Package defaultingressclass is upstream's DefaultIngressClass admission
// plugin: a new Ingress that names no class (neither spec.ingressClassName
// nor the deprecated annotation) gets the default IngressClass, the newest
// one if several are marked, the lowest name among equals.
package defaultingressclass

import (
	"context"
	"fmt"
	"sort"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/kubernetes"
	networkinglisters "k8s.io/client-go/listers/networking/v1"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

// PluginName is the name upstream gives the plugin.
const PluginName = "DefaultIngressClass"

// classAnnotation is the deprecated way to name an Ingress's class.
const classAnnotation = "kubernetes.io/ingress.class"

// Plugin defaults the class of new Ingresses.
type Plugin struct {
	*admission.Handler
	classes networkinglisters.IngressClassLister
	client  kubernetes.Interface
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New builds the plugin on the IngressClass informer.
func New(d deps.Deps) (admission.Interface, error) {
	inf := d.Informers.Networking().V1().IngressClasses()
	p := &Plugin{Handler: admission.NewHandler(admission.Create), classes: inf.Lister(), client: d.Client}
	p.SetReadyFunc(inf.Informer().HasSynced)
	return p, nil
}

// Admit sets the default class.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != networkingv1.Resource("ingresses") || a.GetSubresource() != "" {
		return nil
	}
	ing, ok := a.GetObject().(*networkingv1.Ingress)
	if !ok || ing.Spec.IngressClassName != nil {
		return nil
	}
	if _, ok := ing.Annotations[classAnnotation]; ok {
		return nil
	}
	defaults, err := p.defaults(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("list IngressClasses: %w", err))
	}
	if len(defaults) == 0 {
		return nil
	}
	sort.Slice(defaults, func(i, j int) bool {
		a, b := defaults[i].CreationTimestamp.UnixNano(), defaults[j].CreationTimestamp.UnixNano()
		if a == b {
			return defaults[i].Name < defaults[j].Name
		}
		return a > b
	})
	name := defaults[0].Name
	ing.Spec.IngressClassName = &name
	return nil
}

// defaults lists the classes marked default, from the cache or, when it
// knows of none, from the server: a class marked default a moment ago
// applies to the next Ingress.
func (p *Plugin) defaults(ctx context.Context) ([]*networkingv1.IngressClass, error) {
	var out []*networkingv1.IngressClass
	isDefault := func(c *networkingv1.IngressClass) bool {
		return c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true"
	}
	if p.WaitForReady() {
		all, err := p.classes.List(labels.Everything())
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			if isDefault(c) {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	list, err := p.client.NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		if isDefault(&list.Items[i]) {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}
