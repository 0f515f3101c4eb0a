package persistentvolume

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

func (c *Controller) syncClaim(ctx context.Context, ns, name string) error {
	pvc, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // its volume, if any, is released by syncVolume
	}
	if err != nil {
		return err
	}
	if pvc.DeletionTimestamp != nil {
		return nil
	}
	if pvc.Spec.StorageClassName == nil {
		if def := c.defaultClass(); def != nil {
			fresh := pvc.DeepCopy()
			fresh.Spec.StorageClassName = &def.Name
			if _, err := c.client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("set default storage class: %w", err)
			}
			return nil // the update event syncs it again
		}
	}
	if pvc.Spec.VolumeName == "" {
		return c.bindUnbound(ctx, pvc)
	}
	return c.syncBoundClaim(ctx, pvc)
}

func className(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.StorageClassName == nil {
		return ""
	}
	return *pvc.Spec.StorageClassName
}

func (c *Controller) bindUnbound(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	sc := c.class(className(pvc))
	ours := sc != nil && sc.Provisioner == Provisioner
	var node *corev1.Node
	if (sc != nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer) || ours {
		name := c.selectedNode(pvc)
		if name == "" {
			return c.setClaimPhase(ctx, pvc, corev1.ClaimPending) // waiting for the first consumer
		}
		node = c.node(name)
	}
	pvs, err := c.volumes.List(labels.Everything())
	if err != nil {
		return err
	}
	if pv := findBestMatch(pvc, pvs, node); pv != nil {
		return c.bind(ctx, pv, pvc)
	}
	if ours {
		return c.provision(ctx, pvc, sc, node)
	}
	return c.setClaimPhase(ctx, pvc, corev1.ClaimPending)
}

// selectedNode is the node of the claim's first consumer.
func (c *Controller) selectedNode(pvc *corev1.PersistentVolumeClaim) string {
	if n := pvc.Annotations[AnnSelectedNode]; n != "" {
		return n
	}
	pods, err := c.pods.Pods(pvc.Namespace).List(labels.Everything())
	if err != nil {
		return ""
	}
	for _, pod := range pods {
		if pod.Spec.NodeName == "" || !podutil.IsPodActive(pod) {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
				return pod.Spec.NodeName
			}
		}
	}
	return ""
}

// node is the named node from the cache, or a stand-in carrying the
// labels every node has.
func (c *Controller) node(name string) *corev1.Node {
	if n, err := c.nodes.Get(name); err == nil {
		return n
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}
}

func (c *Controller) syncBoundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	pv, err := c.volumes.Get(pvc.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		pv, err = c.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		if pvc.Annotations[AnnBindCompleted] != "" {
			return c.setClaimPhase(ctx, pvc, corev1.ClaimLost)
		}
		return c.setClaimPhase(ctx, pvc, corev1.ClaimPending) // pre-bound to a volume yet to come
	}
	if err != nil {
		return err
	}
	switch ref := pv.Spec.ClaimRef; {
	case ref == nil:
		if !satisfies(pvc, pv, nil) {
			c.log.Debug("claim pre-bound to a volume that does not satisfy it", "claim", pvc.Namespace+"/"+pvc.Name, "volume", pv.Name)
			return c.setClaimPhase(ctx, pvc, corev1.ClaimPending)
		}
		return c.bind(ctx, pv, pvc)
	case refersTo(ref, pvc):
		return c.bind(ctx, pv, pvc)
	case pvc.Annotations[AnnBindCompleted] != "":
		return c.setClaimPhase(ctx, pvc, corev1.ClaimLost) // its volume went to another claim
	default:
		return c.setClaimPhase(ctx, pvc, corev1.ClaimPending) // pre-bound to a volume in use
	}
}

func refersTo(ref *corev1.ObjectReference, pvc *corev1.PersistentVolumeClaim) bool {
	return ref.Namespace == pvc.Namespace && ref.Name == pvc.Name && (ref.UID == "" || ref.UID == pvc.UID)
}

// bind completes the binding of pv and pvc, volume first, each write
// skipped when already done.
func (c *Controller) bind(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) error {
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != pvc.UID || ref.Name != pvc.Name || ref.Namespace != pvc.Namespace {
		fresh := pv.DeepCopy()
		if ref == nil {
			metav1.SetMetaDataAnnotation(&fresh.ObjectMeta, AnnBoundByController, "yes")
		}
		fresh.Spec.ClaimRef = &corev1.ObjectReference{
			Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name,
			UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
		}
		out, err := c.client.CoreV1().PersistentVolumes().Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("bind volume %s: %w", pv.Name, err)
		}
		pv = out
	}
	if pv.Status.Phase != corev1.VolumeBound {
		fresh := pv.DeepCopy()
		fresh.Status.Phase, fresh.Status.Reason, fresh.Status.Message = corev1.VolumeBound, "", ""
		out, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("volume %s status: %w", pv.Name, err)
		}
		pv = out
	}
	if pvc.Spec.VolumeName != pv.Name || pvc.Annotations[AnnBindCompleted] != "yes" {
		fresh := pvc.DeepCopy()
		if fresh.Spec.VolumeName == "" {
			metav1.SetMetaDataAnnotation(&fresh.ObjectMeta, AnnBoundByController, "yes")
		}
		metav1.SetMetaDataAnnotation(&fresh.ObjectMeta, AnnBindCompleted, "yes")
		fresh.Spec.VolumeName = pv.Name
		out, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("bind claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
		}
		pvc = out
	}
	st := pvc.Status
	if st.Phase != corev1.ClaimBound || !sameModes(st.AccessModes, pv.Spec.AccessModes) || !st.Capacity.Storage().Equal(*pv.Spec.Capacity.Storage()) {
		fresh := pvc.DeepCopy()
		fresh.Status.Phase = corev1.ClaimBound
		fresh.Status.AccessModes = pv.Spec.AccessModes
		fresh.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: pv.Spec.Capacity[corev1.ResourceStorage]}
		if _, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("claim %s/%s status: %w", pvc.Namespace, pvc.Name, err)
		}
		c.log.Info("bound", "claim", pvc.Namespace+"/"+pvc.Name, "volume", pv.Name)
	}
	return nil
}

func sameModes(a, b []corev1.PersistentVolumeAccessMode) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (c *Controller) setClaimPhase(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase) error {
	if pvc.Status.Phase == phase {
		return nil
	}
	fresh := pvc.DeepCopy()
	fresh.Status.Phase = phase
	if _, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("claim %s/%s phase %s: %w", pvc.Namespace, pvc.Name, phase, err)
	}
	return nil
}

func (c *Controller) setVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase) (*corev1.PersistentVolume, error) {
	if pv.Status.Phase == phase {
		return pv, nil
	}
	fresh := pv.DeepCopy()
	fresh.Status.Phase = phase
	out, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return nil, fmt.Errorf("volume %s phase %s: %w", pv.Name, phase, err)
	}
	return out, nil
}

// provision creates a local-path volume for pvc on node, pre-bound to it.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, node *corev1.Node) error {
	pv := newLocalVolume(pvc, sc, node, c.cfg.BaseDir)
	out, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{FieldManager: fieldManager})
	switch {
	case apierrors.IsAlreadyExists(err):
		if out, err = c.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("get provisioned volume: %w", err)
		}
	case err != nil:
		return fmt.Errorf("provision volume for %s/%s: %w", pvc.Namespace, pvc.Name, err)
	default:
		c.log.Info("provisioned", "claim", pvc.Namespace+"/"+pvc.Name, "volume", pv.Name, "node", node.Name, "path", pv.Spec.HostPath.Path)
	}
	if pvc.Annotations[AnnSelectedNode] == "" || pvc.Annotations[AnnStorageProvisioner] == "" {
		fresh := pvc.DeepCopy()
		metav1.SetMetaDataAnnotation(&fresh.ObjectMeta, AnnSelectedNode, node.Name)
		metav1.SetMetaDataAnnotation(&fresh.ObjectMeta, AnnStorageProvisioner, Provisioner)
		metav1.SetMetaDataAnnotation(&fresh.ObjectMeta, AnnBetaStorageProvisioner, Provisioner)
		updated, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("annotate claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
		}
		pvc = updated
	}
	return c.bind(ctx, out, pvc)
}

// VolumePath is where the volume of a claim lives under base.
func VolumePath(base, ns, claim, volume string) string {
	return filepath.Join(base, ns+"_"+claim+"_"+volume)
}

func newLocalVolume(pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, node *corev1.Node, base string) *corev1.PersistentVolume {
	name := "pvc-" + string(pvc.UID)
	reclaim := corev1.PersistentVolumeReclaimDelete
	if sc.ReclaimPolicy != nil {
		reclaim = *sc.ReclaimPolicy
	}
	hostname := node.Labels[corev1.LabelHostname]
	if hostname == "" {
		hostname = node.Name
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	mode := corev1.PersistentVolumeFilesystem
	if pvc.Spec.VolumeMode != nil {
		mode = *pvc.Spec.VolumeMode
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			AnnProvisionedBy: Provisioner, AnnBoundByController: "yes", AnnSelectedNode: node.Name,
		}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              sc.Name,
			MountOptions:                  sc.MountOptions,
			VolumeMode:                    &mode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name,
				UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: VolumePath(base, pvc.Namespace, pvc.Name, name), Type: &dirOrCreate,
			}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname}}},
			}}}},
		},
	}
}

func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pv.DeletionTimestamp != nil {
		return nil
	}
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		if ref != nil {
			c.queue.Add(claimKey(ref.Namespace, ref.Name))
		}
		if pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed {
			if ref == nil { // an administrator cleared claimRef to reuse it
				_, err := c.setVolumePhase(ctx, pv, corev1.VolumeAvailable)
				return err
			}
			return nil
		}
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeAvailable)
		return err
	}
	pvc, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if apierrors.IsNotFound(err) || (err == nil && pvc.UID != ref.UID) {
		// The cache may lag: ask the API server before releasing.
		pvc, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	}
	switch {
	case apierrors.IsNotFound(err) || (err == nil && pvc.UID != ref.UID):
		return c.release(ctx, pv)
	case err != nil:
		return err
	case pvc.Spec.VolumeName == "":
		c.queue.Add(claimKey(pvc.Namespace, pvc.Name)) // binding in progress
		return nil
	case pvc.Spec.VolumeName == pv.Name:
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeBound)
		return err
	}
	// The claim is bound to another volume.
	if pv.Annotations[AnnProvisionedBy] == Provisioner && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
		return c.release(ctx, pv)
	}
	if pv.Annotations[AnnBoundByController] != "" {
		fresh := pv.DeepCopy()
		fresh.Spec.ClaimRef = nil
		delete(fresh.Annotations, AnnBoundByController)
		if _, err := c.client.CoreV1().PersistentVolumes().Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("unbind volume %s: %w", pv.Name, err)
		}
	}
	return nil
}

// release marks a volume whose claim is gone Released and reclaims it.
func (c *Controller) release(ctx context.Context, pv *corev1.PersistentVolume) error {
	pv, err := c.setVolumePhase(ctx, pv, corev1.VolumeReleased)
	if err != nil {
		return err
	}
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimDelete:
		if pv.Annotations[AnnProvisionedBy] == Provisioner && pv.Spec.HostPath != nil {
			node := pv.Annotations[AnnSelectedNode]
			if err := c.cfg.RemoveDirectory(ctx, node, pv.Spec.HostPath.Path); err != nil {
				return fmt.Errorf("remove directory of volume %s on %s: %w", pv.Name, node, err)
			}
		}
		err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete volume %s: %w", pv.Name, err)
		}
		c.log.Info("deleted released volume", "volume", pv.Name)
	case corev1.PersistentVolumeReclaimRecycle:
		c.log.Warn("reclaim policy Recycle is not supported; the volume stays Released", "volume", pv.Name)
	}
	return nil
}
