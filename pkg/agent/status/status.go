package status

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
)

// Readiness applies the probe results to a container's status: its
// ready and started flags.
type Readiness interface {
	Apply(c *corev1.Container, cs corev1.ContainerStatus) corev1.ContainerStatus
}

// Manager computes and writes the status of one node's pods.
type Manager struct {
	pods     corev1client.PodsGetter
	nodeIP   string
	probes   Readiness
	messages messages
}

// New is a Manager writing through pods for the node with address nodeIP.
func New(pods corev1client.PodsGetter, nodeIP string, probes Readiness) *Manager {
	return &Manager{pods: pods, nodeIP: nodeIP, probes: probes}
}

// Failure is a sync outcome that fails the pod for good; Write turns it
// into phase Failed with its reason and message, and adds Condition
// when set (an eviction's DisruptionTarget).
type Failure struct {
	Reason, Message string
	Condition       *corev1.PodCondition
}

func (f *Failure) Error() string { return f.Reason + ": " + f.Message }

// Write computes the pod's status from what runs and writes it when it
// changed. syncErr is a problem preventing the pod from starting; a
// *Failure fails the pod for good.
func (m *Manager) Write(ctx context.Context, pod *corev1.Pod, run *podrun.Run, syncErr error) error {
	st := m.compute(pod, run)
	var failed *Failure
	if errors.As(syncErr, &failed) {
		st.Phase, st.Reason, st.Message = corev1.PodFailed, failed.Reason, failed.Message
		if c := failed.Condition; c != nil {
			if old := findCondition(st.Conditions, c.Type); old != nil {
				*old = *c
			} else {
				st.Conditions = append(st.Conditions, *c)
			}
		}
	} else if syncErr != nil {
		st.Reason, st.Message = "SyncError", syncErr.Error()
	}
	keepTransitions(&st, &pod.Status)
	return m.Put(ctx, pod, st)
}

// Put writes st as the pod's status (its mirror's, for a static pod)
// unless it is the status the pod has.
func (m *Manager) Put(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	if equality.Semantic.DeepEqual(st, pod.Status) {
		return nil
	}
	pod.Status = st
	if staticpods.IsStatic(pod) {
		return m.writeMirror(ctx, pod)
	}
	_, err := m.pods.Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{FieldManager: "flotilla-agent"})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // a newer version of the pod will come through the informer
	}
	if err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}

// writeMirror writes a static pod's status to its mirror, if the API has
// the current one.
func (m *Manager) writeMirror(ctx context.Context, pod *corev1.Pod) error {
	mirror, err := m.pods.Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil // created later; its sync writes the status
	}
	if err != nil {
		return fmt.Errorf("get mirror pod: %w", err)
	}
	if !staticpods.MirrorOf(mirror, pod) {
		return nil
	}
	mirror.Status = pod.Status
	_, err = m.pods.Pods(mirror.Namespace).UpdateStatus(ctx, mirror, metav1.UpdateOptions{FieldManager: "flotilla-agent"})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("update mirror status: %w", err)
	}
	return nil
}
