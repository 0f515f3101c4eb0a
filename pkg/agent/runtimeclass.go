package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runtimeHandler is the CRI runtime handler a pod's sandbox runs with:
// the handler of the RuntimeClass the pod names, "" (the runtime's
// default) when it names none. A class that is gone is an error, as with
// the kubelet: the sandbox is not started until it exists.
func (a *Agent) runtimeHandler(ctx context.Context, pod *corev1.Pod) (string, error) {
	name := pod.Spec.RuntimeClassName
	if name == nil || *name == "" {
		return "", nil
	}
	rc, err := a.cs.NodeV1().RuntimeClasses().Get(ctx, *name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("RuntimeClass %q not found", *name)
	}
	if err != nil {
		return "", fmt.Errorf("look up RuntimeClass %q: %w", *name, err)
	}
	return rc.Handler, nil
}
