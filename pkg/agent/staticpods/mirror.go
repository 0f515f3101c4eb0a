package staticpods

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// IsMirror says whether an API pod is the mirror of a static pod.
func IsMirror(pod *corev1.Pod) bool {
	return pod != nil && pod.Annotations[corev1.MirrorPodAnnotationKey] != ""
}

// IsStatic says whether a pod comes from a manifest rather than the API.
func IsStatic(pod *corev1.Pod) bool {
	return pod.Annotations[annConfigSource] == sourceFile || pod.Annotations[annConfigSource] == sourceHTTP
}

// MirrorOf says whether api is the current mirror of static.
func MirrorOf(api, static *corev1.Pod) bool {
	return IsMirror(api) && api.Annotations[corev1.MirrorPodAnnotationKey] == string(static.UID) && api.DeletionTimestamp == nil
}

// Mirrors creates and deletes the mirror pods of one node's static pods.
type Mirrors struct {
	cs   kubernetes.Interface
	node string
	log  *slog.Logger
}

// NewMirrors is the Mirrors of node.
func NewMirrors(cs kubernetes.Interface, node string, log *slog.Logger) *Mirrors {
	return &Mirrors{cs: cs, node: node, log: log}
}

func (m *Mirrors) Ensure(ctx context.Context, static, api *corev1.Pod) error {
	if api != nil && !IsMirror(api) {
		// A pod of the API with the static pod's name: the static pod
		// runs, the other is left to its owner, as upstream.
		return nil
	}
	if MirrorOf(api, static) {
		return nil
	}
	if api != nil {
		if err := m.Delete(ctx, api); err != nil {
			return err
		}
	}
	node, err := m.cs.CoreV1().Nodes().Get(ctx, m.node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("mirror pod: %w", err)
	}
	mp := &corev1.Pod{
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
		mp.Annotations[k] = v
	}
	if _, err := m.cs.CoreV1().Pods(mp.Namespace).Create(ctx, mp, metav1.CreateOptions{FieldManager: "flotilla-agent"}); err != nil {
		// AlreadyExists: the old mirror is still going; retried.
		return fmt.Errorf("create mirror pod: %w", err)
	}
	m.log.Info("created mirror pod", "pod", mp.Namespace+"/"+mp.Name)
	return nil
}

// Delete removes a mirror pod at once: it stands for no containers
// of its own, so there is nothing to wait for.
func (m *Mirrors) Delete(ctx context.Context, mirror *corev1.Pod) error {
	if !IsMirror(mirror) {
		return nil
	}
	err := m.cs.CoreV1().Pods(mirror.Namespace).Delete(ctx, mirror.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &mirror.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete mirror pod: %w", err)
	}
	return nil
}
