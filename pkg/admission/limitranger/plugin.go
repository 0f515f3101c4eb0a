package limitranger

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/admission"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

// PluginName is the name upstream gives the plugin.
const PluginName = "LimitRanger"

// Plugin applies and enforces LimitRanges.
type Plugin struct {
	*admission.Handler
	ranges corelisters.LimitRangeLister
}

var (
	_ admission.MutationInterface   = (*Plugin)(nil)
	_ admission.ValidationInterface = (*Plugin)(nil)
)

// New builds the plugin on the LimitRange informer; it answers once the
// informer has synced.
func New(d deps.Deps) (admission.Interface, error) {
	inf := d.Informers.Core().V1().LimitRanges()
	p := &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update), ranges: inf.Lister()}
	p.SetReadyFunc(inf.Informer().HasSynced)
	return p, nil
}

// applies: pod creates (containers cannot change afterwards) and claim
// creates and updates, not their subresources.
func applies(a admission.Attributes) bool {
	if a.GetSubresource() != "" {
		return false
	}
	switch a.GetResource().GroupResource() {
	case corev1.Resource("pods"):
		return a.GetOperation() == admission.Create
	case corev1.Resource("persistentvolumeclaims"):
		return true
	}
	return false
}

func (p *Plugin) limitRanges(a admission.Attributes) ([]*corev1.LimitRange, error) {
	if !p.WaitForReady() {
		return nil, admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	items, err := p.ranges.LimitRanges(a.GetNamespace()).List(labels.Everything())
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("list LimitRanges: %w", err))
	}
	return items, nil
}

// Admit sets default requests and limits on a new pod's containers.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if !applies(a) {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return nil
	}
	items, err := p.limitRanges(a)
	if err != nil {
		return err
	}
	for _, lr := range items {
		SetDefaults(lr, pod)
	}
	return nil
}

// Validate refuses a pod or claim outside a LimitRange, with the first
// LimitRange's violations, as upstream does.
func (p *Plugin) Validate(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if !applies(a) {
		return nil
	}
	items, err := p.limitRanges(a)
	if err != nil {
		return err
	}
	for _, lr := range items {
		var err error
		switch o := a.GetObject().(type) {
		case *corev1.Pod:
			err = ValidatePod(lr, o)
		case *corev1.PersistentVolumeClaim:
			err = ValidatePVC(lr, o)
		}
		if err != nil {
			return admission.NewForbidden(a, err)
		}
	}
	return nil
}
