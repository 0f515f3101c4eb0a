package quota

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

var pvcsGR = corev1.Resource("persistentvolumeclaims")

// storageClassSuffix qualifies a per-class quota name:
// <class>.storageclass.storage.k8s.io/requests.storage.
const storageClassSuffix = ".storageclass.storage.k8s.io/"

// betaStorageClassAnnotation is the old way a claim named its class.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

var pvcResources = []corev1.ResourceName{
	generic.ObjectCountQuotaResourceNameFor(pvcsGR), corev1.ResourcePersistentVolumeClaims, corev1.ResourceRequestsStorage,
}

type pvcEvaluator struct {
	unscoped
	list generic.ListFuncByNamespace
}

var _ quota.Evaluator = (*pvcEvaluator)(nil)

// NewPVCEvaluator charges persistent volume claims and the storage they
// request, overall and per storage class.
func NewPVCEvaluator(list quota.ListerForResourceFunc) quota.Evaluator {
	return &pvcEvaluator{list: listFunc(list, corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"))}
}

func (p *pvcEvaluator) GroupResource() schema.GroupResource { return pvcsGR }

func (p *pvcEvaluator) Matches(q *corev1.ResourceQuota, item runtime.Object) (bool, error) {
	return generic.Matches(q, item, p.MatchingResources, generic.MatchesNoScopeFunc)
}

func (p *pvcEvaluator) MatchingResources(input []corev1.ResourceName) []corev1.ResourceName {
	out := quota.Intersection(input, pvcResources)
	for _, name := range input {
		s := string(name)
		if strings.HasSuffix(s, storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims)) ||
			strings.HasSuffix(s, storageClassSuffix+string(corev1.ResourceRequestsStorage)) {
			out = append(out, name)
		}
	}
	return out
}

// Usage: one claim and its storage request (or what was allocated, when
// more), also under the claim's storage class.
func (p *pvcEvaluator) Usage(item runtime.Object) (corev1.ResourceList, error) {
	pvc, ok := item.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T, expected a persistent volume claim", item)
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	out := corev1.ResourceList{
		generic.ObjectCountQuotaResourceNameFor(pvcsGR): one,
		corev1.ResourcePersistentVolumeClaims:           one,
	}
	class := pvc.Annotations[betaStorageClassAnnotation]
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	if class != "" {
		out[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = one
	}
	storage, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if alloc, found := pvc.Status.AllocatedResources[corev1.ResourceStorage]; found && (!ok || alloc.Cmp(storage) > 0) {
		storage, ok = alloc, true
	}
	if ok {
		out[corev1.ResourceRequestsStorage] = storage.DeepCopy()
		if class != "" {
			out[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourceRequestsStorage))] = storage.DeepCopy()
		}
	}
	return out, nil
}

func (p *pvcEvaluator) UsageStats(o quota.UsageStatsOptions) (quota.UsageStats, error) {
	return generic.CalculateUsageStats(o, p.list, generic.MatchesNoScopeFunc, p.Usage)
}
