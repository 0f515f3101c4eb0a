package volumes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/scheduler"
)

// claimPath resolves a persistentVolumeClaim volume to the host directory
// of its bound PersistentVolume (hostPath, as the local-path provisioner
// makes them, or local). An unbound claim is an error the pod waits on.
func (m *Manager) claimPath(ctx context.Context, pod *corev1.Pod, src *corev1.PersistentVolumeClaimVolumeSource) (string, bool, error) {
	claim, err := m.cfg.Client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, src.ClaimName, metav1.GetOptions{})
	if err != nil {
		return "", false, fmt.Errorf("persistentvolumeclaim %q: %w", src.ClaimName, err)
	}
	if claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "" {
		return "", false, fmt.Errorf("persistentvolumeclaim %q is not bound yet", src.ClaimName)
	}
	pv, err := m.cfg.Client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", false, fmt.Errorf("persistentvolume %q of claim %q: %w", claim.Spec.VolumeName, src.ClaimName, err)
	}
	if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
		node, err := m.cfg.Client.CoreV1().Nodes().Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return "", false, fmt.Errorf("read this node: %w", err)
		}
		if !scheduler.NodeMatches(na.Required, node) {
			return "", false, fmt.Errorf("persistentvolume %q is not reachable from node %q (node affinity)", pv.Name, m.cfg.NodeName)
		}
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, src.ReadOnly, checkHostPath(pv.Spec.HostPath)
	case pv.Spec.Local != nil:
		t := corev1.HostPathDirectory
		return pv.Spec.Local.Path, src.ReadOnly, checkHostPath(&corev1.HostPathVolumeSource{Path: pv.Spec.Local.Path, Type: &t})
	}
	return "", false, fmt.Errorf("persistentvolume %q: only hostPath and local volumes are supported", pv.Name)
}
