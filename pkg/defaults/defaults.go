package defaults

import (
	storagev1 "k8s.io/api/storage/v1"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// Apply fills in defaults in place, like upstream's SetObjectDefaults_* for
// the object's type; unknown types are left alone. Lists default each item.
func Apply(obj runtime.Object) {
	// Nothing to default in nil, nor in a typed nil pointer.
	if obj == nil {
		return
	}
	if v := reflect.ValueOf(obj); v.Kind() == reflect.Pointer && v.IsNil() {
		return
	}
	switch o := obj.(type) {
	// core/v1
	case *corev1.Pod:
		pod(o)
	case *corev1.PodList:
		each(o.Items, pod)
	case *corev1.PodTemplate:
		podTemplate(&o.Template)
	case *corev1.PodTemplateList:
		for i := range o.Items {
			podTemplate(&o.Items[i].Template)
		}
	case *corev1.ReplicationController:
		replicationController(o)
	case *corev1.ReplicationControllerList:
		each(o.Items, replicationController)
	case *corev1.Service:
		service(o)
	case *corev1.ServiceList:
		each(o.Items, service)
	case *corev1.Endpoints:
		endpoints(o)
	case *corev1.EndpointsList:
		each(o.Items, endpoints)
	case *corev1.Namespace:
		namespace(o)
	case *corev1.NamespaceList:
		each(o.Items, namespace)
	case *corev1.Secret:
		secret(o)
	case *corev1.SecretList:
		each(o.Items, secret)
	case *corev1.ConfigMap:
		configMap(o)
	case *corev1.ConfigMapList:
		each(o.Items, configMap)
	case *corev1.Node:
		node(o)
	case *corev1.NodeList:
		each(o.Items, node)
	case *corev1.PersistentVolume:
		persistentVolume(o)
	case *corev1.PersistentVolumeList:
		each(o.Items, persistentVolume)
	case *corev1.PersistentVolumeClaim:
		persistentVolumeClaim(o)
	case *corev1.PersistentVolumeClaimList:
		each(o.Items, persistentVolumeClaim)
	case *corev1.LimitRange:
		limitRange(o)
	case *corev1.ResourceQuota:
		resourceQuota(o)

	// apps/v1
	case *appsv1.Deployment:
		deployment(o)
	case *appsv1.DeploymentList:
		each(o.Items, deployment)
	case *appsv1.ReplicaSet:
		replicaSet(o)
	case *appsv1.ReplicaSetList:
		each(o.Items, replicaSet)
	case *appsv1.DaemonSet:
		daemonSet(o)
	case *appsv1.DaemonSetList:
		each(o.Items, daemonSet)
	case *appsv1.StatefulSet:
		statefulSet(o)
	case *appsv1.StatefulSetList:
		each(o.Items, statefulSet)

	// batch/v1
	case *batchv1.Job:
		job(o)
	case *batchv1.JobList:
		each(o.Items, job)
	case *batchv1.CronJob:
		cronJob(o)
	case *batchv1.CronJobList:
		each(o.Items, cronJob)

	// autoscaling
	case *autoscalingv1.HorizontalPodAutoscaler:
		hpaV1(o)
	case *autoscalingv1.HorizontalPodAutoscalerList:
		each(o.Items, hpaV1)
	case *autoscalingv2.HorizontalPodAutoscaler:
		hpaV2(o)
	case *autoscalingv2.HorizontalPodAutoscalerList:
		each(o.Items, hpaV2)

	// others
	case *discoveryv1.EndpointSlice:
		endpointSlice(o)
	case *discoveryv1.EndpointSliceList:
		each(o.Items, endpointSlice)
	case *schedulingv1.PriorityClass:
		priorityClass(o)
	case *schedulingv1.PriorityClassList:
		each(o.Items, priorityClass)
	case *storagev1.StorageClass:
		storageClass(o)
	case *storagev1.StorageClassList:
		each(o.Items, storageClass)
	case *storagev1.CSIDriver:
		csiDriver(o)
	case *storagev1.CSIDriverList:
		each(o.Items, csiDriver)
	case *storagev1.VolumeAttachment:
		volumeAttachment(o)
	case *storagev1.VolumeAttachmentList:
		each(o.Items, volumeAttachment)
	case *networkingv1.IngressClass:
		ingressClass(o)
	case *networkingv1.IngressClassList:
		each(o.Items, ingressClass)
	case *networkingv1.NetworkPolicy:
		networkPolicy(o)
	case *networkingv1.NetworkPolicyList:
		each(o.Items, networkPolicy)
	case *flowcontrolv1.FlowSchema:
		flowSchema(o)
	case *flowcontrolv1.FlowSchemaList:
		each(o.Items, flowSchema)
	case *flowcontrolv1.PriorityLevelConfiguration:
		priorityLevel(o)
	case *flowcontrolv1.PriorityLevelConfigurationList:
		each(o.Items, priorityLevel)
	case *settingsv1alpha1.PodPreset:
		podPreset(o)
	case *settingsv1alpha1.PodPresetList:
		each(o.Items, podPreset)
	case *rbacv1.RoleBinding:
		roleBinding(o)
	case *rbacv1.RoleBindingList:
		each(o.Items, roleBinding)
	case *rbacv1.ClusterRoleBinding:
		clusterRoleBinding(o)
	case *rbacv1.ClusterRoleBindingList:
		each(o.Items, clusterRoleBinding)
	}
	// events, leases, pod disruption budgets, service accounts and the
	// rest have no upstream defaults.
}

// each defaults every item of a list in place.
func each[T any](items []T, fn func(*T)) {
	for i := range items {
		fn(&items[i])
	}
}
