package registry

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/flotilla-io/flotilla/pkg/storage"
)

// admitRuntimeClass is upstream's RuntimeClass admission for a new pod:
// the class it names must exist; the class's overhead becomes the pod's
// (a pod stating another overhead is refused, as is one stating an
// overhead its class does not define); the class's scheduling node
// selector and tolerations are merged into the pod.
func (p *podAdmission) admitRuntimeClass(ctx context.Context, pod *corev1.Pod) error {
	forbidden := func(format string, args ...any) error {
		return apierrors.NewForbidden(corev1.Resource("pods"), pod.Name, fmt.Errorf(format, args...))
	}
	var rc *nodev1.RuntimeClass
	if name := pod.Spec.RuntimeClassName; name != nil && p.runtimeClasses != nil {
		obj, err := p.runtimeClasses.Store.Get(ctx, p.runtimeClasses.Store.Key("", *name))
		if storage.IsNotFound(err) {
			return forbidden("pod rejected: RuntimeClass %q not found", *name)
		}
		if err != nil {
			return err
		}
		rc = obj.(*nodev1.RuntimeClass)
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
