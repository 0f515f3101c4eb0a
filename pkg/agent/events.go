package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// eventRecorder records what happened to pods, as the kubelet does, so
// that `kubectl describe pod` shows it. The agent's parts take it as
// their event recorder.
type eventRecorder struct {
	cs   kubernetes.Interface
	node string
	log  *slog.Logger
}

// Event creates one Event about pod. Failures to record are only logged.
func (r *eventRecorder) Event(ctx context.Context, pod *corev1.Pod, typ, reason, msg string) {
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod.Name, time.Now().UnixNano()), Namespace: pod.Namespace},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
		Reason:              reason,
		Message:             msg,
		Type:                typ,
		Source:              corev1.EventSource{Component: "kubelet", Host: r.node},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: "kubelet",
		ReportingInstance:   r.node,
	}
	if _, err := r.cs.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		r.log.Debug("record event", "pod", pod.Namespace+"/"+pod.Name, "reason", reason, "err", err)
	}
}
