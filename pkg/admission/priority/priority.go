// Package priority is upstream's Priority admission plugin for new pods:
// a pod's priority and preemption policy come from the PriorityClass it
// names or, naming none, from the globalDefault class (its name is then
// set on the pod too); without either the priority is 0.
package priority

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/kubernetes"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

// PluginName is the name upstream gives the plugin.
const PluginName = "Priority"

// System classes every cluster has, known even before they are stored.
var systemClasses = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

// Plugin resolves pod priorities.
type Plugin struct {
	*admission.Handler
	classes schedulinglisters.PriorityClassLister
	client  kubernetes.Interface
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New builds the plugin on the PriorityClass informer.
func New(d deps.Deps) (admission.Interface, error) {
	inf := d.Informers.Scheduling().V1().PriorityClasses()
	p := &Plugin{Handler: admission.NewHandler(admission.Create), classes: inf.Lister(), client: d.Client}
	p.SetReadyFunc(inf.Informer().HasSynced)
	return p, nil
}

// Admit sets spec.priority, spec.preemptionPolicy and, from the global
// default class, spec.priorityClassName. A pod stating a priority or
// preemption policy other than its class's is refused.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	pod, ok := deps.NewPod(a)
	if !ok {
		return nil
	}
	var value int32
	policy := ptr.To(corev1.PreemptLowerPriority)
	if name := pod.Spec.PriorityClassName; name == "" {
		class, err := p.globalDefault(ctx)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("list PriorityClasses: %w", err))
		}
		if class != nil {
			pod.Spec.PriorityClassName = class.Name
			value = class.Value
			if class.PreemptionPolicy != nil {
				policy = class.PreemptionPolicy
			}
		}
	} else {
		class, err := p.class(ctx, name)
		switch {
		case apierrors.IsNotFound(err):
			return admission.NewForbidden(a, fmt.Errorf("no PriorityClass with name %s was found", name))
		case err != nil:
			return apierrors.NewInternalError(fmt.Errorf("failed to get PriorityClass with name %s: %w", name, err))
		}
		value = class.Value
		if class.PreemptionPolicy != nil {
			policy = class.PreemptionPolicy
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return admission.NewForbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = ptr.To(value)
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != *policy {
		return admission.NewForbidden(a, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, *policy))
	}
	pod.Spec.PreemptionPolicy = ptr.To(*policy)
	return nil
}

// globalDefault is the class marked globalDefault; should a race have left
// several, the lowest value wins, as upstream picks. Once the cache has
// synced it is trusted, as upstream's lister is: most clusters have no
// default class, and asking the server on every pod create would cost a
// LIST each. Only before the sync is the server asked.
func (p *Plugin) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	var found *schedulingv1.PriorityClass
	pick := func(c *schedulingv1.PriorityClass) {
		if c.GlobalDefault && (found == nil || c.Value < found.Value || (c.Value == found.Value && c.Name < found.Name)) {
			found = c
		}
	}
	if p.WaitForReady() {
		all, err := p.classes.List(labels.Everything())
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			pick(c)
		}
		return found, nil
	}
	list, err := p.client.SchedulingV1().PriorityClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		pick(&list.Items[i])
	}
	return found, nil
}

// class reads a PriorityClass from the cache, then from the server (just
// created), then the built-in system classes.
func (p *Plugin) class(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
	if p.WaitForReady() {
		if c, err := p.classes.Get(name); err == nil {
			return c, nil
		}
	}
	c, err := p.client.SchedulingV1().PriorityClasses().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if v, ok := systemClasses[name]; ok {
			return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: v}, nil
		}
	}
	return c, err
}
