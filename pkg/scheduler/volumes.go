package scheduler

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
	listersv1 "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
)

// Messages of upstream's VolumeBinding filter.
const (
	msgUnboundImmediate      = "pod has unbound immediate PersistentVolumeClaims"
	msgVolumeNodeAffinity    = "node(s) had volume node affinity conflict"
	msgVolumeBindingConflict = "node(s) didn't find available persistent volumes to bind"
)

// volumeConstraint is what a pod's persistent volume claims ask of a
// node: the node affinity of each bound PersistentVolume, or a reason no
// node can take the pod yet.
type volumeConstraint struct {
	unresolved string // non-empty: the pod fits no node until its claims change
	nodes      []*v1.NodeSelector
}

func (vc *volumeConstraint) filter(ni *NodeInfo) *Status {
	if vc == nil {
		return nil
	}
	if vc.unresolved != "" {
		return unresolvable(vc.unresolved)
	}
	for _, sel := range vc.nodes {
		if !NodeMatches(sel, ni.Node) {
			return unresolvable(msgVolumeNodeAffinity)
		}
	}
	return nil
}

// volumeLookup reads claims, volumes and classes from informer caches.
type volumeLookup struct {
	claims  listersv1.PersistentVolumeClaimLister
	volumes listersv1.PersistentVolumeLister
	classes storagelisters.StorageClassLister
}

// constraint resolves the pod's claims. A claim that is unbound waits
// for a consumer when its class says so (the provisioner follows the
// pod to its node); otherwise it must be bound first, as upstream.
func (l *volumeLookup) constraint(pod *v1.Pod) *volumeConstraint {
	var vc *volumeConstraint
	for _, vol := range pod.Spec.Volumes {
		src := vol.PersistentVolumeClaim
		if src == nil {
			continue
		}
		if vc == nil {
			vc = &volumeConstraint{}
		}
		claim, err := l.claims.PersistentVolumeClaims(pod.Namespace).Get(src.ClaimName)
		if err != nil {
			vc.unresolved = fmt.Sprintf("persistentvolumeclaim %q not found", src.ClaimName)
			return vc
		}
		if claim.DeletionTimestamp != nil {
			vc.unresolved = fmt.Sprintf("persistentvolumeclaim %q is being deleted", src.ClaimName)
			return vc
		}
		if claim.Spec.VolumeName == "" {
			if !l.waitsForConsumer(claim) {
				vc.unresolved = msgUnboundImmediate
				return vc
			}
			continue
		}
		pv, err := l.volumes.Get(claim.Spec.VolumeName)
		if err != nil {
			vc.unresolved = msgVolumeBindingConflict
			return vc
		}
		if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
			vc.nodes = append(vc.nodes, na.Required)
		}
	}
	return vc
}

func (l *volumeLookup) waitsForConsumer(claim *v1.PersistentVolumeClaim) bool {
	name := ""
	if claim.Spec.StorageClassName != nil {
		name = *claim.Spec.StorageClassName
	} else if classes, err := l.classes.List(labels.Everything()); err == nil {
		// The binder gives a claim without a class the default one.
		for _, c := range classes {
			if c.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
				name = c.Name
			}
		}
	}
	if name == "" {
		return false
	}
	class, err := l.classes.Get(name)
	return err == nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}
