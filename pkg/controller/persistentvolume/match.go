package persistentvolume

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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

// nodeAffinityAccepts evaluates a volume's required node affinity: the
// terms are ORed, a term's requirements ANDed.
func nodeAffinityAccepts(aff *corev1.VolumeNodeAffinity, node *corev1.Node) bool {
	if aff == nil || aff.Required == nil {
		return true
	}
	for _, term := range aff.Required.NodeSelectorTerms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			continue
		}
		ok := true
		for _, r := range term.MatchExpressions {
			v, has := node.Labels[r.Key]
			ok = ok && requirementHolds(r, v, has)
		}
		for _, r := range term.MatchFields {
			ok = ok && r.Key == "metadata.name" && requirementHolds(r, node.Name, true)
		}
		if ok {
			return true
		}
	}
	return false
}

func requirementHolds(r corev1.NodeSelectorRequirement, value string, has bool) bool {
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return has && slices.Contains(r.Values, value)
	case corev1.NodeSelectorOpNotIn:
		return !has || !slices.Contains(r.Values, value)
	case corev1.NodeSelectorOpExists:
		return has
	case corev1.NodeSelectorOpDoesNotExist:
		return !has
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !has || len(r.Values) != 1 {
			return false
		}
		a, err1 := strconv.ParseInt(value, 10, 64)
		b, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return a > b
		}
		return a < b
	}
	return false
}
