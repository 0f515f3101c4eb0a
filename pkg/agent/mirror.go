package agent

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
)

// syncStatic runs a static pod from its manifest, the API pod of that name
// being only its mirror; static is nil once the manifest is gone.
func (pc *podController) syncStatic(ctx context.Context, ns, name string, static, api *corev1.Pod) error {
	a := pc.a
	sandboxes, err := a.sandboxesOf(ctx, ns, name)
	if err != nil {
		return err
	}
	if static == nil {
		// The manifest is gone: the pod stops and its mirror goes.
		grace := int64(0)
		if g := api.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		for _, sb := range sandboxes {
			if err := a.teardown(ctx, sb, grace); err != nil {
				return err
			}
			a.forgetSandboxPod(sb)
		}
		return a.mirrors.Delete(ctx, api)
	}
	// Sandboxes of an earlier version of the manifest go first.
	var own []*runtimeapi.PodSandbox
	for _, sb := range sandboxes {
		if sb.Metadata.Uid != string(static.UID) {
			if err := a.teardown(ctx, sb, 0); err != nil {
				return err
			}
			a.forgetSandboxPod(sb)
			continue
		}
		own = append(own, sb)
	}
	pod := static.DeepCopy()
	if staticpods.MirrorOf(api, static) {
		pod.Status = *api.Status.DeepCopy()
	}
	// The pod runs whether or not the API takes its mirror.
	err = a.syncPod(ctx, pod, own)
	return errors.Join(err, a.mirrors.Ensure(ctx, static, api))
}

// forgetSandboxPod drops the back-offs and directory of the pod a removed
// sandbox belonged to: a static pod's UID changes with its manifest.
func (a *Agent) forgetSandboxPod(sb *runtimeapi.PodSandbox) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(sb.Metadata.Uid)}}
	a.forgetBackoffs(p)
	a.cleanupPodDir(p)
}

// writeMirrorStatus writes a static pod's status to its mirror, if the API
// has the current one.
func (a *Agent) writeMirrorStatus(ctx context.Context, pod *corev1.Pod) error {
	m, err := a.cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil // created later; its sync writes the status
	}
	if err != nil {
		return fmt.Errorf("get mirror pod: %w", err)
	}
	if !staticpods.MirrorOf(m, pod) {
		return nil
	}
	m.Status = pod.Status
	_, err = a.cs.CoreV1().Pods(m.Namespace).UpdateStatus(ctx, m, metav1.UpdateOptions{FieldManager: "flotilla-agent"})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("update mirror status: %w", err)
	}
	return nil
}
