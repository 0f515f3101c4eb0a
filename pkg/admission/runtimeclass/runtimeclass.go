// Package runtimeclass is upstream's RuntimeClass admission plugin for new
// pods: the class a pod names must exist; the class's overhead becomes the
// pod's (a pod stating another overhead is refused, as is one stating an
// overhead its class does not define); the class's scheduling node
// selector and tolerations are merged into the pod.
package runtimeclass

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/kubernetes"
	nodelisters "k8s.io/client-go/listers/node/v1"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

// PluginName is the name upstream gives the plugin.
const PluginName = "RuntimeClass"

// Plugin completes new pods from their RuntimeClass.
type Plugin struct {
	*admission.Handler
	classes nodelisters.RuntimeClassLister
	client  kubernetes.Interface
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New builds the plugin on the RuntimeClass informer.
func New(d deps.Deps) (admission.Interface, error) {
	inf := d.Informers.Node().V1().RuntimeClasses()
	p := &Plugin{Handler: admission.NewHandler(admission.Create), classes: inf.Lister(), client: d.Client}
	p.SetReadyFunc(inf.Informer().HasSynced)
	return p, nil
}

// Admit completes a new pod.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	pod, ok := deps.NewPod(a)
	if !ok {
		return nil
	}
	forbidden := func(format string, args ...any) error {
		return admission.NewForbidden(a, fmt.Errorf(format, args...))
	}
	var rc *nodev1.RuntimeClass
	if name := pod.Spec.RuntimeClassName; name != nil {
		var err error
		if rc, err = p.class(ctx, *name); apierrors.IsNotFound(err) {
			return forbidden("pod rejected: RuntimeClass %q not found", *name)
		} else if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("look up RuntimeClass %q: %w", *name, err))
		}
	}
	if rc != nil && rc.Overhead != nil {
		if len(pod.Spec.Overhead) > 0 && !apiequality.Semantic.DeepEqual(rc.Overhead.PodFixed, pod.Spec.Overhead) {
			return forbidden("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")
		}
		pod.Spec.Overhead = rc.Overhead.PodFixed.DeepCopy()
	} else if pod.Spec.Overhead != nil {
		return forbidden("pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead")
	}
	if rc == nil || rc.Scheduling == nil {
		return nil
	}
	if sel := rc.Scheduling.NodeSelector; len(sel) > 0 {
		if pod.Spec.NodeSelector == nil {
			pod.Spec.NodeSelector = map[string]string{}
		}
		for k, v := range sel {
			if have, ok := pod.Spec.NodeSelector[k]; ok && have != v {
				return forbidden("conflict: runtimeClass.scheduling.nodeSelector[%s] = %s; pod.spec.nodeSelector[%s] = %s", k, v, k, have)
			}
			pod.Spec.NodeSelector[k] = v
		}
	}
	pod.Spec.Tolerations = mergeTolerations(pod.Spec.Tolerations, rc.Scheduling.Tolerations)
	return nil
}

// mergeTolerations joins two lists, dropping a toleration that another
// one in the result (or a later, different one) already covers.
func mergeTolerations(first, second []corev1.Toleration) []corev1.Toleration {
	all := append(append([]corev1.Toleration(nil), first...), second...)
	var out []corev1.Toleration
next:
	for i, t := range all {
		for _, m := range out {
			if coversToleration(m, t) {
				continue next
			}
		}
		for _, later := range all[i+1:] {
			if !apiequality.Semantic.DeepEqual(t, later) && coversToleration(later, t) {
				continue next
			}
		}
		out = append(out, t)
	}
	return out
}

// coversToleration reports whether s tolerates everything t does.
func coversToleration(s, t corev1.Toleration) bool {
	if apiequality.Semantic.DeepEqual(s, t) {
		return true
	}
	if t.Key != s.Key && (s.Key != "" || s.Operator != corev1.TolerationOpExists) {
		return false
	}
	if t.Effect != s.Effect && s.Effect != "" {
		return false
	}
	if s.Effect == corev1.TaintEffectNoExecute && s.TolerationSeconds != nil {
		if t.TolerationSeconds == nil || *t.TolerationSeconds > *s.TolerationSeconds {
			return false
		}
	}
	switch s.Operator {
	case corev1.TolerationOpEqual, "":
		return t.Operator == corev1.TolerationOpEqual && t.Value == s.Value
	case corev1.TolerationOpExists:
		return true
	}
	return false
}

// class reads a RuntimeClass from the cache, or from the server when the
// cache does not have it (yet).
func (p *Plugin) class(ctx context.Context, name string) (*nodev1.RuntimeClass, error) {
	if p.WaitForReady() {
		if rc, err := p.classes.Get(name); err == nil {
			return rc, nil
		}
	}
	return p.client.NodeV1().RuntimeClasses().Get(ctx, name, metav1.GetOptions{})
}
