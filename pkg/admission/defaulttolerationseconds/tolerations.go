// Package defaulttolerationseconds is upstream's DefaultTolerationSeconds
// admission plugin: a new pod that does not tolerate the not-ready and
// unreachable node taints tolerates them for five minutes, so the node
// lifecycle controller evicts it from a lost node after that time.
package defaulttolerationseconds

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

// PluginName is the name upstream gives the plugin.
const PluginName = "DefaultTolerationSeconds"

// Seconds is how long a pod stays bound to a node that is not ready or
// unreachable before it is evicted, unless it says otherwise (upstream's
// default-not-ready/unreachable-toleration-seconds).
const Seconds int64 = 300

// Plugin adds the node-loss tolerations.
type Plugin struct{ *admission.Handler }

var _ admission.MutationInterface = (*Plugin)(nil)

// New builds the plugin.
func New(deps.Deps) (admission.Interface, error) {
	return &Plugin{Handler: admission.NewHandler(admission.Create)}, nil
}

// Admit adds what a new pod lacks.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	pod, ok := deps.NewPod(a)
	if !ok {
		return nil
	}
	AddTo(&pod.Spec)
	return nil
}

// AddTo adds the tolerations to spec unless it tolerates the taints
// already (an empty key or effect tolerates them too).
func AddTo(spec *corev1.PodSpec) {
	notReady, unreachable := false, false
	for _, t := range spec.Tolerations {
		noExecute := t.Effect == "" || t.Effect == corev1.TaintEffectNoExecute
		if noExecute && (t.Key == "" || t.Key == corev1.TaintNodeNotReady) {
			notReady = true
		}
		if noExecute && (t.Key == "" || t.Key == corev1.TaintNodeUnreachable) {
			unreachable = true
		}
	}
	if !notReady {
		spec.Tolerations = append(spec.Tolerations, toleration(corev1.TaintNodeNotReady))
	}
	if !unreachable {
		spec.Tolerations = append(spec.Tolerations, toleration(corev1.TaintNodeUnreachable))
	}
}

func toleration(key string) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(Seconds)}
}
