package podworker

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
)

// syncStatic runs a static pod from its manifest, the API pod of that name
// being only its mirror; static is nil once the manifest is gone.
func (w *Worker) syncStatic(ctx context.Context, ns, name string, static, api *corev1.Pod) error {
	sandboxes, err := w.sandboxesOf(ctx, ns, name)
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
			if err := w.teardown(ctx, sb, grace); err != nil {
				return err
			}
			w.forgetSandboxPod(sb)
		}
		return w.mirrors.Delete(ctx, api)
	}
	// Sandboxes of an earlier version of the manifest go first.
	var own []*runtimeapi.PodSandbox
	for _, sb := range sandboxes {
		if sb.Metadata.Uid != string(static.UID) {
			if err := w.teardown(ctx, sb, 0); err != nil {
				return err
			}
			w.forgetSandboxPod(sb)
			continue
		}
		own = append(own, sb)
	}
	pod := static.DeepCopy()
	if staticpods.MirrorOf(api, static) {
		pod.Status = *api.Status.DeepCopy()
	}
	// The pod runs whether or not the API takes its mirror.
	err = w.syncPod(ctx, pod, own)
	return errors.Join(err, w.mirrors.Ensure(ctx, static, api))
}

// forgetSandboxPod drops the back-offs and directory of the pod a removed
// sandbox belonged to: a static pod's UID changes with its manifest.
func (w *Worker) forgetSandboxPod(sb *runtimeapi.PodSandbox) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(sb.Metadata.Uid)}}
	w.backoffs.forget(p.UID)
	if err := w.volumes.Cleanup(p.UID); err != nil {
		w.log.Warn("clean up static pod directory", "uid", p.UID, "err", err)
	}
}
