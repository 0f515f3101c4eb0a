package deps

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/admission"
)

// NewPod returns the pod a request writes when it writes a pod itself
// (not one of its subresources): the case the pod-completing plugins
// (ServiceAccount, Priority, DefaultTolerationSeconds, RuntimeClass)
// act on.
func NewPod(a admission.Attributes) (*corev1.Pod, bool) {
	if a.GetResource().GroupResource() != corev1.Resource("pods") || a.GetSubresource() != "" {
		return nil, false
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	return pod, ok
}
