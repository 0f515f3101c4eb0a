package validation

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// ValidateCreate validates a new object. It runs after defaulting, once
// the server has filled uid, creationTimestamp and a generated name.
func ValidateCreate(obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return validateNamespace(o)
	case *corev1.Pod:
		return validatePod(o)
	case *corev1.ConfigMap:
		return validateConfigMap(o)
	case *corev1.Secret:
		return validateSecret(o)
	case *corev1.Node:
		return validateNode(o)
	case *corev1.Event:
		return validateCoreEvent(o)
	case *corev1.Service:
		return validateService(o)
	case *corev1.Endpoints:
		return validateEndpoints(o)
	case *corev1.ServiceAccount:
		return validateServiceAccount(o)
	case *corev1.ReplicationController:
		return validateReplicationController(o)
	case *corev1.PodTemplate:
		return validatePodTemplate(o)
	case *corev1.LimitRange:
		return validateLimitRange(o)
	case *corev1.ResourceQuota:
		return validateResourceQuota(o)
	case *corev1.PersistentVolumeClaim:
		return validatePVC(o)
	case *corev1.PersistentVolume:
		return validatePV(o)
	case *appsv1.Deployment:
		return validateDeployment(o)
	case *appsv1.ReplicaSet:
		return validateReplicaSet(o)
	case *appsv1.DaemonSet:
		return validateDaemonSet(o)
	case *appsv1.StatefulSet:
		return validateStatefulSet(o)
	case *appsv1.ControllerRevision:
		return validateControllerRevision(o)
	case *batchv1.Job:
		return validateJob(o)
	case *batchv1.CronJob:
		return validateCronJob(o)
	case *autoscalingv1.HorizontalPodAutoscaler:
		return validateHPAv1(o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		return validateHPAv2(o)
	case *coordinationv1.Lease:
		return validateLease(o)
	case *eventsv1.Event:
		return validateEventsV1(o)
	case *discoveryv1.EndpointSlice:
		return validateEndpointSlice(o)
	case *policyv1.PodDisruptionBudget:
		return validatePDB(o)
	case *schedulingv1.PriorityClass:
		return validatePriorityClass(o)
	case *nodev1.RuntimeClass:
		return validateRuntimeClass(o)
	case *networkingv1.Ingress:
		return validateIngress(o)
	case *networkingv1.IngressClass:
		return validateIngressClass(o)
	case *networkingv1.NetworkPolicy:
		return validateNetworkPolicy(o)
	case *storagev1.CSIDriver:
		return validateCSIDriver(o)
	case *storagev1.CSINode:
		return validateCSINode(o)
	case *storagev1.CSIStorageCapacity:
		return validateCSIStorageCapacity(o, false)
	case *storagev1.VolumeAttachment:
		return validateVolumeAttachment(o)
	case *certificatesv1.CertificateSigningRequest:
		return validateCSR(o)
	case *flowcontrolv1.FlowSchema:
		return validateFlowSchema(o)
	case *flowcontrolv1.PriorityLevelConfiguration:
		return validatePriorityLevel(o)
	case *settingsv1alpha1.PodPreset:
		return validatePodPreset(o)
	case *rbacv1.Role:
		return validateRole(o)
	case *rbacv1.ClusterRole:
		return validateClusterRole(o)
	case *rbacv1.RoleBinding:
		return validateRoleBinding(o)
	case *rbacv1.ClusterRoleBinding:
		return validateClusterRoleBinding(o)
	}
	return validateUnknownMeta(obj)
}

// ValidateUpdate validates obj (already defaulted) replacing old. Besides
// the metadata rules, most kinds re-validate their spec and then check the
// fields upstream declares immutable.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	errs := validateMetaUpdate(obj, old)
	if len(errs) > 0 && !sameType(obj, old) {
		return errs
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		return append(errs, validateNamespaceUpdate(o, old.(*corev1.Namespace))...)
	case *corev1.Pod:
		return append(errs, validatePodUpdate(o, old.(*corev1.Pod))...)
	case *corev1.ConfigMap:
		return append(errs, validateConfigMapUpdate(o, old.(*corev1.ConfigMap))...)
	case *corev1.Secret:
		return append(errs, validateSecretUpdate(o, old.(*corev1.Secret))...)
	case *corev1.Node:
		return append(errs, validateNodeUpdate(o, old.(*corev1.Node))...)
	case *corev1.Event:
		return append(errs, validateCoreEventUpdate(o, old.(*corev1.Event))...)
	case *corev1.Service:
		return append(errs, validateServiceUpdate(o, old.(*corev1.Service))...)
	case *corev1.Endpoints:
		return append(errs, validateEndpointsSpec(o)...)
	case *corev1.ServiceAccount:
		return append(errs, validateServiceAccountSpec(o)...)
	case *corev1.ReplicationController:
		return append(errs, validateReplicationControllerSpec(o)...)
	case *corev1.LimitRange:
		return append(errs, validateLimitRangeSpec(&o.Spec)...)
	case *corev1.ResourceQuota:
		return append(errs, validateResourceQuotaUpdate(o, old.(*corev1.ResourceQuota))...)
	case *corev1.PodTemplate:
		return append(errs, validatePodTemplateSpecOf(o)...)
	case *corev1.PersistentVolumeClaim:
		return append(errs, validatePVCUpdate(o, old.(*corev1.PersistentVolumeClaim))...)
	case *corev1.PersistentVolume:
		return append(errs, validatePVUpdate(o, old.(*corev1.PersistentVolume))...)
	case *appsv1.Deployment:
		return append(errs, validateDeploymentUpdate(o, old.(*appsv1.Deployment))...)
	case *appsv1.ReplicaSet:
		return append(errs, validateReplicaSetUpdate(o, old.(*appsv1.ReplicaSet))...)
	case *appsv1.DaemonSet:
		return append(errs, validateDaemonSetUpdate(o, old.(*appsv1.DaemonSet))...)
	case *appsv1.StatefulSet:
		return append(errs, validateStatefulSetUpdate(o, old.(*appsv1.StatefulSet))...)
	case *appsv1.ControllerRevision:
		return append(errs, validateControllerRevisionUpdate(o, old.(*appsv1.ControllerRevision))...)
	case *batchv1.Job:
		return append(errs, validateJobUpdate(o, old.(*batchv1.Job))...)
	case *batchv1.CronJob:
		return append(errs, validateCronJobSpecOf(o, old.(*batchv1.CronJob))...)
	case *autoscalingv1.HorizontalPodAutoscaler:
		return append(errs, validateHPAv1Spec(o)...)
	case *autoscalingv2.HorizontalPodAutoscaler:
		return append(errs, validateHPAv2Spec(o)...)
	case *coordinationv1.Lease:
		return append(errs, validateLeaseSpec(o)...)
	case *eventsv1.Event:
		return append(errs, validateEventsV1Update(o, old.(*eventsv1.Event))...)
	case *discoveryv1.EndpointSlice:
		return append(errs, validateEndpointSliceUpdate(o, old.(*discoveryv1.EndpointSlice))...)
	case *policyv1.PodDisruptionBudget:
		return append(errs, validatePDBSpec(o)...)
	case *schedulingv1.PriorityClass:
		return append(errs, validatePriorityClassUpdate(o, old.(*schedulingv1.PriorityClass))...)
	case *nodev1.RuntimeClass:
		return append(errs, validateRuntimeClassUpdate(o, old.(*nodev1.RuntimeClass))...)
	case *networkingv1.Ingress:
		return append(errs, validateIngressUpdate(o, old.(*networkingv1.Ingress))...)
	case *networkingv1.IngressClass:
		return append(errs, validateIngressClassUpdate(o, old.(*networkingv1.IngressClass))...)
	case *networkingv1.NetworkPolicy:
		return append(errs, validateNetworkPolicyUpdate(o, old.(*networkingv1.NetworkPolicy))...)
	case *storagev1.CSIDriver:
		return append(errs, validateCSIDriverUpdate(o, old.(*storagev1.CSIDriver))...)
	case *storagev1.CSINode:
		return append(errs, validateCSINodeUpdate(o, old.(*storagev1.CSINode))...)
	case *storagev1.CSIStorageCapacity:
		return append(errs, validateCSIStorageCapacityUpdate(o, old.(*storagev1.CSIStorageCapacity))...)
	case *storagev1.VolumeAttachment:
		return append(errs, validateVolumeAttachmentUpdate(o, old.(*storagev1.VolumeAttachment))...)
	case *certificatesv1.CertificateSigningRequest:
		return append(errs, validateCSRUpdate(o, old.(*certificatesv1.CertificateSigningRequest), csrWriteObject)...)
	case *flowcontrolv1.FlowSchema:
		return append(errs, validateFlowSchema(o)...)
	case *flowcontrolv1.PriorityLevelConfiguration:
		return append(errs, validatePriorityLevel(o)...)
	case *settingsv1alpha1.PodPreset:
		return append(errs, validatePodPresetSpec(&o.Spec, field.NewPath("spec"))...)
	case *rbacv1.Role:
		return append(errs, validateRole(o)...)
	case *rbacv1.ClusterRole:
		return append(errs, validateClusterRole(o)...)
	case *rbacv1.RoleBinding:
		errs = append(errs, validateRoleBinding(o)...)
		return append(errs, validateRoleRefUnchanged(o.RoleRef, old.(*rbacv1.RoleBinding).RoleRef)...)
	case *rbacv1.ClusterRoleBinding:
		errs = append(errs, validateClusterRoleBinding(o)...)
		return append(errs, validateRoleRefUnchanged(o.RoleRef, old.(*rbacv1.ClusterRoleBinding).RoleRef)...)
	}
	return errs
}

// ValidateStatusUpdate validates an update made through the /status
// subresource. The caller has already carried the spec over from old, so
// only metadata and status are checked.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	errs := validateMetaUpdate(obj, old)
	if !sameType(obj, old) {
		return errs
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = append(errs, validatePodStatusUpdate(o, old.(*corev1.Pod))...)
	case *corev1.Node:
		errs = append(errs, validateNodeStatus(o)...)
	case *appsv1.Deployment:
		errs = append(errs, validateDeploymentStatus(o)...)
	case *appsv1.ReplicaSet:
		errs = append(errs, validateReplicaSetStatus(o)...)
	case *appsv1.StatefulSet:
		errs = append(errs, validateStatefulSetStatus(o)...)
	case *appsv1.DaemonSet:
		errs = append(errs, validateDaemonSetStatus(o)...)
	case *corev1.ReplicationController:
		errs = append(errs, validateRCStatus(o)...)
	case *batchv1.Job:
		errs = append(errs, validateJobStatus(o)...)
	case *networkingv1.Ingress:
		errs = append(errs, validateIngressStatus(o)...)
	case *storagev1.VolumeAttachment:
		// Upstream's status strategy validates as an update of the object.
		errs = append(errs, validateVolumeAttachmentUpdate(o, old.(*storagev1.VolumeAttachment))...)
	case *certificatesv1.CertificateSigningRequest:
		errs = append(errs, validateCSRUpdate(o, old.(*certificatesv1.CertificateSigningRequest), csrWriteStatus)...)
	case *flowcontrolv1.FlowSchema:
		errs = append(errs, validateFlowSchemaStatus(o)...)
	case *flowcontrolv1.PriorityLevelConfiguration:
		errs = append(errs, validatePriorityLevelStatus(o)...)
	}
	return errs
}

// ValidateSubresourceUpdate validates an update made through a
// subresource that writes the object itself: status, a
// CertificateSigningRequest's approval, or a pod's ephemeral containers.
func ValidateSubresourceUpdate(subresource string, obj, old runtime.Object) field.ErrorList {
	if subresource == "status" {
		return ValidateStatusUpdate(obj, old)
	}
	errs := validateMetaUpdate(obj, old)
	if !sameType(obj, old) {
		return errs
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if subresource == "ephemeralcontainers" {
			errs = append(errs, validatePodEphemeralContainersUpdate(o, old.(*corev1.Pod))...)
		}
	case *certificatesv1.CertificateSigningRequest:
		if subresource == "approval" {
			errs = append(errs, validateCSRUpdate(o, old.(*certificatesv1.CertificateSigningRequest), csrWriteApproval)...)
		}
	}
	return errs
}

// sameType guards the type assertions on old: both objects always come
// from the same resource, but a mismatch must not panic.
func sameType(a, b runtime.Object) bool {
	if a == nil || b == nil {
		return false
	}
	return typeName(a) == typeName(b)
}

func typeName(o runtime.Object) reflect.Type {
	return reflect.TypeOf(o)
}

// validateUnknownMeta validates the metadata of kinds this package knows
// nothing else about. Namespaced-ness is inferred from the object.
func validateUnknownMeta(obj runtime.Object) field.ErrorList {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return validateMeta(acc, acc.GetNamespace() != "", nameIsDNSSubdomain)
}
