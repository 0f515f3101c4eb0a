package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validObjects() map[string]runtime.Object {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	jobTmpl := validTemplate()
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	cluster := func(name string) metav1.ObjectMeta { m := objMeta(name, ""); return m }
	return map[string]runtime.Object{
		"Namespace": &corev1.Namespace{ObjectMeta: cluster("team-a"), Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}}},
		"Pod":       validPod(),
		"ConfigMap": &corev1.ConfigMap{ObjectMeta: objMeta("cfg", "default"), Data: map[string]string{"app.conf": "x=1"}, BinaryData: map[string][]byte{"logo.png": {1, 2}}},
		"Secret": &corev1.Secret{ObjectMeta: objMeta("tls", "default"), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}},
		"Node": &corev1.Node{ObjectMeta: cluster("node-1"), Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24", PodCIDRs: []string{"10.244.0.0/24"},
			Taints: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}},
		"Event": &corev1.Event{ObjectMeta: objMeta("web.1", "default"), InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}, Reason: "Started", Type: "Normal"},
		"Service": &corev1.Service{ObjectMeta: objMeta("web", "default"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"}, Selector: map[string]string{"app": "web"},
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports:           []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}, {Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP}}}},
		"Endpoints": &corev1.Endpoints{ObjectMeta: objMeta("web", "default"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5"}}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}},
		"ServiceAccount":        &corev1.ServiceAccount{ObjectMeta: objMeta("default", "default")},
		"ReplicationController": &corev1.ReplicationController{ObjectMeta: objMeta("web", "default"), Spec: corev1.ReplicationControllerSpec{Replicas: ptr(int32(1)), Selector: map[string]string{"app": "web"}, Template: ptr(validTemplate())}},
		"PodTemplate":           &corev1.PodTemplate{ObjectMeta: objMeta("web", "default"), Template: validTemplate()},
		"PersistentVolumeClaim": &corev1.PersistentVolumeClaim{ObjectMeta: objMeta("data", "default"), Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeMode: ptr(corev1.PersistentVolumeFilesystem),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}},
		"PersistentVolume": &corev1.PersistentVolume{ObjectMeta: cluster("pv-1"), Spec: corev1.PersistentVolumeSpec{
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/mnt/pv"}}}},
		"Deployment": validDeployment(),
		"ReplicaSet": &appsv1.ReplicaSet{ObjectMeta: objMeta("web-1", "default"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(1)), Selector: sel, Template: validTemplate()}},
		"DaemonSet": &appsv1.DaemonSet{ObjectMeta: objMeta("agent", "default"), Spec: appsv1.DaemonSetSpec{Selector: sel, Template: validTemplate(),
			UpdateStrategy:       appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr(intstr.FromInt32(1)), MaxSurge: ptr(intstr.FromInt32(0))}},
			RevisionHistoryLimit: ptr(int32(10))}},
		"StatefulSet": &appsv1.StatefulSet{ObjectMeta: objMeta("db", "default"), Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Selector: sel, Template: validTemplate(),
			ServiceName: "db", PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy:                       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(0))}},
			RevisionHistoryLimit:                 ptr(int32(10)),
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType}}},
		"ControllerRevision": &appsv1.ControllerRevision{ObjectMeta: objMeta("web-abc", "default"), Data: runtime.RawExtension{Raw: []byte(`{}`)}, Revision: 1},
		"Job": &batchv1.Job{ObjectMeta: objMeta("pi", "default"), Spec: batchv1.JobSpec{Parallelism: ptr(int32(1)), Completions: ptr(int32(1)), BackoffLimit: ptr(int32(6)),
			CompletionMode: ptr(batchv1.NonIndexedCompletion), Selector: sel, Template: jobTmpl}},
		"CronJob": &batchv1.CronJob{ObjectMeta: objMeta("nightly", "default"), Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", TimeZone: ptr("Europe/Paris"),
			ConcurrencyPolicy: batchv1.AllowConcurrent, SuccessfulJobsHistoryLimit: ptr(int32(3)), FailedJobsHistoryLimit: ptr(int32(1)),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{BackoffLimit: ptr(int32(6)), Template: jobTmpl}}}},
		"HPAv1": &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: objMeta("web", "default"), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"}, MinReplicas: ptr(int32(1)), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr(int32(80))}},
		"HPAv2": &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objMeta("web", "default"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"}, MinReplicas: ptr(int32(1)), MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(80))}}}}}},
		"Lease": &coordinationv1.Lease{ObjectMeta: objMeta("leader", "kube-system"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("a"), LeaseDurationSeconds: ptr(int32(15)), LeaseTransitions: ptr(int32(0))}},
		"EventV1": &eventsv1.Event{ObjectMeta: objMeta("web.2", "default"), Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
			Reason: "Started", Action: "Start", ReportingController: "kubelet", ReportingInstance: "node-1", Type: "Normal", EventTime: metav1.NowMicro()},
		"EndpointSlice": &discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-abc", "default"), AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}, NodeName: ptr("node-1")}},
			Ports:     []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(80)), Protocol: ptr(corev1.ProtocolTCP)}}},
		"PodDisruptionBudget": &policyv1.PodDisruptionBudget{ObjectMeta: objMeta("web", "default"), Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromString("50%")), Selector: sel}},
		"PriorityClass":       &schedulingv1.PriorityClass{ObjectMeta: cluster("high"), Value: 1000, PreemptionPolicy: ptr(corev1.PreemptLowerPriority)},
		"SystemPriorityClass": &schedulingv1.PriorityClass{ObjectMeta: cluster("system-node-critical"), Value: 2000001000},
		"Unknown":             &rbacv1.Role{ObjectMeta: objMeta("reader", "default")},
	}
}

func TestValidObjects(t *testing.T) {
	for name, obj := range validObjects() {
		t.Run(name, func(t *testing.T) {
			if errs := ValidateCreate(obj); len(errs) > 0 {
				t.Errorf("create: %s", errText(errs))
			}
			if errs := ValidateUpdate(obj.DeepCopyObject(), obj); len(errs) > 0 {
				t.Errorf("update: %s", errText(errs))
			}
			if errs := ValidateStatusUpdate(obj.DeepCopyObject(), obj); len(errs) > 0 {
				t.Errorf("status update: %s", errText(errs))
			}
		})
	}
}

// A minimal pod as a client sends it, without any defaulted field, must be
// accepted too.
func TestUndefaultedObjects(t *testing.T) {
	objs := []runtime.Object{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "default"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		&corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "default"}, Spec: corev1.ReplicationControllerSpec{
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Type: corev1.SecretTypeTLS, StringData: map[string]string{"tls.crt": "c", "tls.key": "k"}},
	}
	for _, o := range objs {
		if errs := ValidateCreate(o); len(errs) > 0 {
			t.Errorf("%T: %s", o, errText(errs))
		}
	}
}

func TestMetadata(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
		typ  field.ErrorType
		path string
		msg  string
	}{
		{"namespace must be a DNS label", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a.b"}}, field.ErrorTypeInvalid, "metadata.name", "must not contain dots"},
		{"service name is DNS-1035", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "1web", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "None"}}, field.ErrorTypeInvalid, "metadata.name", "a DNS-1035 label must consist of lower case alphanumeric characters"},
		{"pod name is a subdomain", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name", Namespace: "default"}, Spec: validPodSpec()}, field.ErrorTypeInvalid, "metadata.name", "RFC 1123 subdomain"},
		{"name required", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}}, field.ErrorTypeRequired, "metadata.name", "name or generateName is required"},
		{"namespace required", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, field.ErrorTypeRequired, "metadata.namespace", "Required value"},
		{"bad label", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "d", Labels: map[string]string{"a": "-x-"}}}, field.ErrorTypeInvalid, "metadata.labels", "a valid label must be"},
		{"unknown kind", &corev1.ComponentStatus{ObjectMeta: metav1.ObjectMeta{Name: "BAD"}}, field.ErrorTypeInvalid, "metadata.name", "RFC 1123 subdomain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectErr(t, ValidateCreate(tt.obj), tt.typ, tt.path, tt.msg) })
	}
}

func TestMetadataUpdateImmutable(t *testing.T) {
	old := validObjects()["ConfigMap"].(*corev1.ConfigMap)
	cm := old.DeepCopy()
	cm.UID = "other"
	expectErr(t, ValidateUpdate(cm, old), field.ErrorTypeInvalid, "metadata.uid", "field is immutable")
	cm = old.DeepCopy()
	cm.Namespace = "other"
	expectErr(t, ValidateStatusUpdate(cm, old), field.ErrorTypeInvalid, "metadata.namespace", "field is immutable")
}
