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
)

// isMirror says whether an API pod is the mirror of a static pod.
func isMirror(pod *corev1.Pod) bool {
	return pod != nil && pod.Annotations[corev1.MirrorPodAnnotationKey] != ""
}

// isStatic says whether a pod comes from a manifest rather than the API.
func isStatic(pod *corev1.Pod) bool {
	return pod.Annotations[annConfigSource] == sourceFile || pod.Annotations[annConfigSource] == sourceHTTP
}

// mirrorOf says whether api is the current mirror of static.
func mirrorOf(api, static *corev1.Pod) bool {
	return isMirror(api) && api.Annotations[corev1.MirrorPodAnnotationKey] == string(static.UID) && api.DeletionTimestamp == nil
}

// staticOf is the static pod a mirror stands for, else pod itself: the
// runtime knows the static pod's UID, not the mirror's.
func (a *Agent) staticOf(pod *corev1.Pod) *corev1.Pod {
	if !isMirror(pod) {
		return pod
	}
	if sp := a.static.get(pod.Namespace + "/" + pod.Name); sp != nil && pod.Annotations[corev1.MirrorPodAnnotationKey] == string(sp.UID) {
		return sp
	}
	return pod
}

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
		return a.deleteMirror(ctx, api)
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
	if mirrorOf(api, static) {
		pod.Status = *api.Status.DeepCopy()
	}
	// The pod runs whether or not the API takes its mirror.
	err = a.syncPod(ctx, pod, own)
	return errors.Join(err, a.ensureMirror(ctx, static, api))
}

// forgetSandboxPod drops the back-offs and directory of the pod a removed
// sandbox belonged to: a static pod's UID changes with its manifest.
func (a *Agent) forgetSandboxPod(sb *runtimeapi.PodSandbox) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(sb.Metadata.Uid)}}
	a.forgetBackoffs(p)
	a.cleanupPodDir(p)
}

// ensureMirror makes the API show static through a mirror pod: one that a
// user deleted, or that shows an older manifest, is replaced.
func (a *Agent) ensureMirror(ctx context.Context, static, api *corev1.Pod) error {
	if api != nil && !isMirror(api) {
		// A pod of the API with the static pod's name: the static pod
		// runs, the other is left to its owner, as upstream.
		return nil
	}
	if mirrorOf(api, static) {
		return nil
	}
	if api != nil {
		if err := a.deleteMirror(ctx, api); err != nil {
			return err
		}
	}
	node, err := a.cs.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("mirror pod: %w", err)
	}
	m := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        static.Name,
			Namespace:   static.Namespace,
			Labels:      static.Labels,
			Annotations: map[string]string{corev1.MirrorPodAnnotationKey: string(static.UID)},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: new(true),
			}},
		},
		Spec: *static.Spec.DeepCopy(),
	}
	for k, v := range static.Annotations {
		m.Annotations[k] = v
	}
	if _, err := a.cs.CoreV1().Pods(m.Namespace).Create(ctx, m, metav1.CreateOptions{FieldManager: "flotilla-agent"}); err != nil {
		// AlreadyExists: the old mirror is still going; retried.
		return fmt.Errorf("create mirror pod: %w", err)
	}
	a.log.Info("created mirror pod", "pod", m.Namespace+"/"+m.Name)
	return nil
}

// deleteMirror removes a mirror pod at once: it stands for no containers
// of its own, so there is nothing to wait for.
func (a *Agent) deleteMirror(ctx context.Context, m *corev1.Pod) error {
	if !isMirror(m) {
		return nil
	}
	err := a.cs.CoreV1().Pods(m.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &m.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete mirror pod: %w", err)
	}
	return nil
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
	if !mirrorOf(m, pod) {
		return nil
	}
	m.Status = pod.Status
	_, err = a.cs.CoreV1().Pods(m.Namespace).UpdateStatus(ctx, m, metav1.UpdateOptions{FieldManager: "flotilla-agent"})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("update mirror status: %w", err)
	}
	return nil
}
