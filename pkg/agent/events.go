package agent

import (
	"context"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

// eventRecorder records what happened to pods as the kubelet does (source
// kubelet on this node), so that `kubectl describe pod` shows it. The
// agent's parts take it as their event recorder; Events recorded before
// Run starts the recorder are dropped.
type eventRecorder struct {
	rec atomic.Pointer[eventrecorder.Recorder]
}

// start records through cs until ctx ends or stop is called.
func (r *eventRecorder) start(ctx context.Context, cs kubernetes.Interface, node string) (stop func()) {
	rec, stopRecorder := eventrecorder.Start(ctx, cs, "kubelet", node)
	r.rec.Store(&rec)
	return func() {
		r.rec.Store(nil)
		stopRecorder()
	}
}

// Event records one Event about pod; the recorder aggregates repeats and
// writes asynchronously, so a failure only costs the Event.
func (r *eventRecorder) Event(_ context.Context, pod *corev1.Pod, typ, reason, msg string) {
	if rec := r.rec.Load(); rec != nil {
		(*rec).Event(pod, typ, reason, msg)
	}
}

// NodeEvent records one Event about the node itself, referenced as the
// kubelet does (its name as UID).
func (r *eventRecorder) NodeEvent(node, typ, reason, msg string) {
	if rec := r.rec.Load(); rec != nil {
		(*rec).Event(&corev1.ObjectReference{Kind: "Node", Name: node, UID: types.UID(node)}, typ, reason, msg)
	}
}
