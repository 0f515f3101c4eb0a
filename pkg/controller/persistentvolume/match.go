package persistentvolume

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// findBestMatch picks the volume for an unbound claim: one pre-bound to
// it if any satisfies it, else the smallest free one that does. A
// non-nil node also requires the volume's node affinity to accept it.
func findBestMatch(pvc *corev1.PersistentVolumeClaim, pvs []*corev1.PersistentVolume, node *corev1.Node) *corev1.PersistentVolume {
	var best *corev1.PersistentVolume
	for _, pv := range pvs {
		if pv.DeletionTimestamp != nil {
			continue
		}
		if ref := pv.Spec.ClaimRef; ref != nil {
			if refersTo(ref, pvc) && satisfies(pvc, pv, node) {
				return pv
			}
			continue
		}
		if pvc.Spec.VolumeName != "" && pvc.Spec.VolumeName != pv.Name {
			continue
		}
		if p := pv.Status.Phase; p == corev1.VolumeReleased || p == corev1.VolumeFailed {
			continue
		}
		if !satisfies(pvc, pv, node) || !selects(pvc.Spec.Selector, pv.Labels) {
			continue
		}
		if best == nil || pv.Spec.Capacity.Storage().Cmp(*best.Spec.Capacity.Storage()) < 0 {
			best = pv
		}
	}
	return best
}

// satisfies checks class, volume mode, access modes, size and, for a
// non-nil node, node affinity.
func satisfies(pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume, node *corev1.Node) bool {
	if className(pvc) != pv.Spec.StorageClassName {
		return false
	}
	if volumeMode(pvc.Spec.VolumeMode) != volumeMode(pv.Spec.VolumeMode) {
		return false
	}
	for _, m := range pvc.Spec.AccessModes {
		if !slices.Contains(pv.Spec.AccessModes, m) {
			return false
		}
	}
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if pv.Spec.Capacity.Storage().Cmp(want) < 0 {
		return false
	}
	return node == nil || nodeAffinityAccepts(pv.Spec.NodeAffinity, node)
}

func volumeMode(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
	if m == nil {
		return corev1.PersistentVolumeFilesystem
	}
	return *m
}

func selects(sel *metav1.LabelSelector, lbls map[string]string) bool {
	if sel == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(lbls))
}

// nodeAffinityAccepts evaluates a volume's required node affinity with
// component-helpers' node selector (upstream's): the terms are ORed, a
// term's requirements ANDed; an empty term or one that does not parse
// matches no node.
func nodeAffinityAccepts(aff *corev1.VolumeNodeAffinity, node *corev1.Node) bool {
	if aff == nil || aff.Required == nil {
		return true
	}
	ok, _ := nodeaffinity.NewLazyErrorNodeSelector(aff.Required).Match(node)
	return ok
}
