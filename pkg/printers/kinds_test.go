package printers

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func ago(d time.Duration) *metav1.Time {
	t := metav1.NewTime(testNow.Add(-d))
	return &t
}

var template = corev1.PodTemplateSpec{
	ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
	Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.25"}, {Name: "log", Image: "busybox"}}},
}

var webSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

// TestKindCells pins whole rows, written by hand from upstream output.
func TestKindCells(t *testing.T) {
	deleting := ago(0)
	tests := []struct {
		name string
		row  func() metav1.TableRow
		want []any
	}{
		{"namespace", func() metav1.TableRow {
			return namespaceRow(&corev1.Namespace{ObjectMeta: om("default"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, testNow)
		}, []any{"default", "Active", "5m"}},
		{"configmap counts data and binaryData", func() metav1.TableRow {
			return configMapRow(&corev1.ConfigMap{ObjectMeta: om("c"), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": nil}}, testNow)
		}, []any{"c", int64(3), "5m"}},
		{"secret", func() metav1.TableRow {
			return secretRow(&corev1.Secret{ObjectMeta: om("s"), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("x")}}, testNow)
		}, []any{"s", "Opaque", int64(1), "5m"}},
		{"serviceaccount", func() metav1.TableRow {
			return serviceAccountRow(&corev1.ServiceAccount{ObjectMeta: om("default")}, testNow)
		}, []any{"default", int64(0), "5m"}},
		{"podtemplate", func() metav1.TableRow {
			return podTemplateRow(&corev1.PodTemplate{ObjectMeta: om("pt"), Template: template}, testNow)
		}, []any{"pt", "nginx,log", "nginx:1.25,busybox", "app=web"}},
		{"node ready, cordoned, with roles", func() metav1.TableRow {
			n := corev1.Node{ObjectMeta: om("n1"), Spec: corev1.NodeSpec{Unschedulable: true}}
			n.Labels = map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "", "kubernetes.io/role": "master"}
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}
			n.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.32.0", OSImage: "Debian", ContainerRuntimeVersion: "containerd://2.0"}
			return nodeRow(&n, testNow)
		}, []any{"n1", "Ready,SchedulingDisabled", "control-plane,master", "5m", "v1.32.0", "10.0.0.1", "<none>", "Debian", "<unknown>", "containerd://2.0"}},
		{"node without conditions", func() metav1.TableRow {
			n := corev1.Node{ObjectMeta: om("n2")}
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}
			return nodeRow(&n, testNow)
		}, []any{"n2", "NotReady", "<none>", "5m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"service ClusterIP", func() metav1.TableRow {
			return serviceRow(&corev1.Service{ObjectMeta: om("web"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP,
				ClusterIPs: []string{"10.96.0.10"}, Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 53, Protocol: corev1.ProtocolTCP}}}}, testNow)
		}, []any{"web", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "5m", "app=web"}},
		{"service headless NodePort-less", func() metav1.TableRow {
			return serviceRow(&corev1.Service{ObjectMeta: om("h"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"None"}}}, testNow)
		}, []any{"h", "ClusterIP", "None", "<none>", "<none>", "5m", "<none>"}},
		{"service LoadBalancer pending", func() metav1.TableRow {
			return serviceRow(&corev1.Service{ObjectMeta: om("lb"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
				ClusterIPs: []string{"10.96.0.11"}, Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}}}}, testNow)
		}, []any{"lb", "LoadBalancer", "10.96.0.11", "<pending>", "80:30080/TCP", "5m", "<none>"}},
		{"service LoadBalancer with ingress and external IPs", func() metav1.TableRow {
			s := corev1.Service{ObjectMeta: om("lb"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalIPs: []string{"1.1.1.1"}}}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}, {IP: "2.2.2.2"}}
			return serviceRow(&s, testNow)
		}, []any{"lb", "LoadBalancer", "<none>", "2.2.2.2,lb.example.com,1.1.1.1", "<none>", "5m", "<none>"}},
		{"service ExternalName", func() metav1.TableRow {
			return serviceRow(&corev1.Service{ObjectMeta: om("x"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}, testNow)
		}, []any{"x", "ExternalName", "<none>", "example.com", "<none>", "5m", "<none>"}},
		{"endpoints with more than three", func() metav1.TableRow {
			addrs := []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}, {IP: "fd00::3"}}
			return endpointsRow(&corev1.Endpoints{ObjectMeta: om("e"), Subsets: []corev1.EndpointSubset{
				{Addresses: addrs, Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}}}, testNow)
		}, []any{"e", "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...", "5m"}},
		{"endpoints headless without ports", func() metav1.TableRow {
			return endpointsRow(&corev1.Endpoints{ObjectMeta: om("e"), Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}}}}}, testNow)
		}, []any{"e", "10.0.0.1", "5m"}},
		{"endpoints empty", func() metav1.TableRow {
			return endpointsRow(&corev1.Endpoints{ObjectMeta: om("e")}, testNow)
		}, []any{"e", "<none>", "5m"}},
		{"pvc pending", func() metav1.TableRow {
			return pvcRow(&corev1.PersistentVolumeClaim{ObjectMeta: om("claim"), Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("standard")},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}, testNow)
		}, []any{"claim", "Pending", "", "", "", "standard", "<unset>", "5m", "<unset>"}},
		{"pvc bound", func() metav1.TableRow {
			fs := corev1.PersistentVolumeFilesystem
			return pvcRow(&corev1.PersistentVolumeClaim{ObjectMeta: om("claim"), Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1", VolumeMode: &fs},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce},
					Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}, testNow)
		}, []any{"claim", "Bound", "pv1", "1Gi", "RWO,RWX", "", "<unset>", "5m", "Filesystem"}},
		{"pv terminating", func() metav1.TableRow {
			pv := corev1.PersistentVolume{ObjectMeta: om("pv1"), Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				ClaimRef:                      &corev1.ObjectReference{Namespace: "ns", Name: "claim"},
				StorageClassName:              "ignored"}}
			pv.Annotations = map[string]string{betaStorageClassAnnotation: "beta"}
			pv.DeletionTimestamp = deleting
			pv.Status.Phase = corev1.VolumeBound
			return pvRow(&pv, testNow)
		}, []any{"pv1", "5Gi", "RWOP", "Retain", "Terminating", "ns/claim", "beta", "<unset>", "", "5m", "<unset>"}},
		{"replicationcontroller", func() metav1.TableRow {
			return replicationControllerRow(&corev1.ReplicationController{ObjectMeta: om("rc"),
				Spec:   corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3), Selector: map[string]string{"app": "web"}, Template: &template},
				Status: corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1}}, testNow)
		}, []any{"rc", int64(3), int64(2), int64(1), "5m", "nginx,log", "nginx:1.25,busybox", "app=web"}},
		{"deployment", func() metav1.TableRow {
			return deploymentRow(&appsv1.Deployment{ObjectMeta: om("nginx-deployment"),
				Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: webSelector, Template: template},
				Status: appsv1.DeploymentStatus{UpdatedReplicas: 3, AvailableReplicas: 1}}, testNow)
		}, []any{"nginx-deployment", "0/3", int64(3), int64(1), "5m", "nginx,log", "nginx:1.25,busybox", "app=web"}},
		{"replicaset", func() metav1.TableRow {
			return replicaSetRow(&appsv1.ReplicaSet{ObjectMeta: om("rs"),
				Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2), Selector: webSelector, Template: template},
				Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 2}}, testNow)
		}, []any{"rs", int64(2), int64(2), int64(2), "5m", "nginx,log", "nginx:1.25,busybox", "app=web"}},
		{"daemonset", func() metav1.TableRow {
			tmpl := *template.DeepCopy()
			tmpl.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
			return daemonSetRow(&appsv1.DaemonSet{ObjectMeta: om("ds"), Spec: appsv1.DaemonSetSpec{Selector: webSelector, Template: tmpl},
				Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2}}, testNow)
		}, []any{"ds", int64(3), int64(3), int64(2), int64(1), int64(2), "kubernetes.io/os=linux", "5m", "nginx,log", "nginx:1.25,busybox", "app=web"}},
		{"daemonset without node selector", func() metav1.TableRow {
			return daemonSetRow(&appsv1.DaemonSet{ObjectMeta: om("ds"), Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{}}}, testNow)
		}, []any{"ds", int64(0), int64(0), int64(0), int64(0), int64(0), "<none>", "5m", "", "", "<none>"}},
		{"statefulset", func() metav1.TableRow {
			return statefulSetRow(&appsv1.StatefulSet{ObjectMeta: om("db"), Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Template: template},
				Status: appsv1.StatefulSetStatus{ReadyReplicas: 2}}, testNow)
		}, []any{"db", "2/3", "5m", "nginx,log", "nginx:1.25,busybox"}},
		{"controllerrevision owned", func() metav1.TableRow {
			cr := appsv1.ControllerRevision{ObjectMeta: om("db-6b8f"), Revision: 2}
			cr.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: ptr.To(true)}}
			return controllerRevisionRow(&cr, testNow)
		}, []any{"db-6b8f", "statefulset.apps/db", int64(2), "5m"}},
		{"controllerrevision orphan", func() metav1.TableRow {
			return controllerRevisionRow(&appsv1.ControllerRevision{ObjectMeta: om("x"), Revision: 1}, testNow)
		}, []any{"x", "<none>", int64(1), "5m"}},
		{"job running", func() metav1.TableRow {
			return jobRow(&batchv1.Job{ObjectMeta: om("once"), Spec: batchv1.JobSpec{Completions: ptr.To[int32](1), Selector: webSelector, Template: template},
				Status: batchv1.JobStatus{StartTime: ago(3 * time.Minute)}}, testNow)
		}, []any{"once", "Running", "0/1", "3m", "5m", "nginx,log", "nginx:1.25,busybox", "app=web"}},
		{"job complete", func() metav1.TableRow {
			return jobRow(&batchv1.Job{ObjectMeta: om("once"), Spec: batchv1.JobSpec{Completions: ptr.To[int32](1)},
				Status: batchv1.JobStatus{Succeeded: 1, StartTime: ago(4 * time.Minute), CompletionTime: ago(4*time.Minute - 7*time.Second),
					Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue}, {Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}, testNow)
		}, []any{"once", "Complete", "1/1", "7s", "5m", "", "", "<none>"}},
		{"job work queue, suspended", func() metav1.TableRow {
			return jobRow(&batchv1.Job{ObjectMeta: om("q"), Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](3)},
				Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}}}, testNow)
		}, []any{"q", "Suspended", "0/1 of 3", "", "5m", "", "", "<none>"}},
		{"job failed beats deletion", func() metav1.TableRow {
			j := batchv1.Job{ObjectMeta: om("f"), Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}}}
			j.DeletionTimestamp = deleting
			return jobRow(&j, testNow)
		}, []any{"f", "Failed", "0/1", "", "5m", "", "", "<none>"}},
		{"job terminating", func() metav1.TableRow {
			j := batchv1.Job{ObjectMeta: om("t"), Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}}}}
			j.DeletionTimestamp = deleting
			return jobRow(&j, testNow)
		}, []any{"t", "Terminating", "0/1", "", "5m", "", "", "<none>"}},
		{"job failure target", func() metav1.TableRow {
			return jobRow(&batchv1.Job{ObjectMeta: om("t"), Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}}}}, testNow)
		}, []any{"t", "FailureTarget", "0/1", "", "5m", "", "", "<none>"}},
		{"cronjob", func() metav1.TableRow {
			return cronJobRow(&batchv1.CronJob{ObjectMeta: om("cron"), Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", Suspend: ptr.To(false),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template}}},
				Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "cron-1"}}, LastScheduleTime: ago(2 * time.Minute)}}, testNow)
		}, []any{"cron", "*/5 * * * *", "<none>", "False", int64(1), "2m", "5m", "nginx,log", "nginx:1.25,busybox", "<none>"}},
		{"cronjob never scheduled, with zone", func() metav1.TableRow {
			return cronJobRow(&batchv1.CronJob{ObjectMeta: om("cron"), Spec: batchv1.CronJobSpec{Schedule: "@hourly", TimeZone: ptr.To("Etc/UTC")}}, testNow)
		}, []any{"cron", "@hourly", "Etc/UTC", "<unset>", int64(0), "<none>", "5m", "", "", "<none>"}},
		{"lease", func() metav1.TableRow {
			return leaseRow(&coordinationv1.Lease{ObjectMeta: om("node-1"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-1")}}, testNow)
		}, []any{"node-1", "node-1", "5m"}},
		{"lease without holder", func() metav1.TableRow {
			return leaseRow(&coordinationv1.Lease{ObjectMeta: om("l")}, testNow)
		}, []any{"l", "", "5m"}},
		{"endpointslice", func() metav1.TableRow {
			return endpointSliceRow(&discoveryv1.EndpointSlice{ObjectMeta: om("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
				Ports:     []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}, {Name: ptr.To("metrics")}, {}},
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1", "10.0.0.2"}}, {Addresses: []string{"10.0.0.3"}}, {Addresses: []string{"10.0.0.4"}}}}, testNow)
		}, []any{"web-abc", "IPv4", "80,metrics,*", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "5m"}},
		{"endpointslice empty", func() metav1.TableRow {
			return endpointSliceRow(&discoveryv1.EndpointSlice{ObjectMeta: om("e"), AddressType: discoveryv1.AddressTypeIPv6}, testNow)
		}, []any{"e", "IPv6", "<unset>", "<unset>", "5m"}},
		{"pdb", func() metav1.TableRow {
			min := intstr.FromString("50%")
			return pdbRow(&policyv1.PodDisruptionBudget{ObjectMeta: om("pdb"), Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &min},
				Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}, testNow)
		}, []any{"pdb", "50%", "N/A", int64(1), "5m"}},
		{"priorityclass", func() metav1.TableRow {
			never := corev1.PreemptNever
			return priorityClassRow(&schedulingv1.PriorityClass{ObjectMeta: om("high"), Value: 1000, GlobalDefault: true, PreemptionPolicy: &never}, testNow)
		}, []any{"high", int64(1000), true, "5m", "Never"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.row().Cells; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestHPATargets(t *testing.T) {
	utilization := func(name corev1.ResourceName, p int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: name, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(p)}}}
	}
	q := resource.MustParse
	tests := []struct {
		name     string
		specs    []autoscalingv2.MetricSpec
		statuses []autoscalingv2.MetricStatus
		want     string
	}{
		{"no metrics", nil, nil, "<none>"},
		{"cpu without status", []autoscalingv2.MetricSpec{utilization(corev1.ResourceCPU, 50)}, nil, "cpu: <unknown>/50%"},
		{"cpu with status", []autoscalingv2.MetricSpec{utilization(corev1.ResourceCPU, 50)},
			[]autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
				Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](12)}}}},
			"cpu: 12%/50%"},
		{"memory average value", []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(q("100Mi"))}}}},
			nil, "memory: <unknown>/100Mi"},
		{"pods and external", []autoscalingv2.MetricSpec{
			{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Target: autoscalingv2.MetricTarget{AverageValue: ptr.To(q("1k"))}}},
			{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{Target: autoscalingv2.MetricTarget{AverageValue: ptr.To(q("30"))}}},
		}, []autoscalingv2.MetricStatus{
			{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageValue: ptr.To(q("500"))}}},
		}, "500/1k, <unknown>/30 (avg)"},
		{"more than two", []autoscalingv2.MetricSpec{utilization(corev1.ResourceCPU, 50), utilization(corev1.ResourceMemory, 60), utilization("gpu", 70)},
			nil, "cpu: <unknown>/50%, memory: <unknown>/60% + 1 more..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatHPAMetrics(tt.specs, tt.statuses); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHPARowsBothVersions is what `kubectl autoscale deployment proto
// --min=1 --max=5 --cpu-percent=50` then `kubectl get hpa` shows.
func TestHPARowsBothVersions(t *testing.T) {
	want := []any{"proto", "Deployment/proto", "cpu: <unknown>/50%", "1", int64(5), int64(0), "5m"}
	v1 := autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: om("proto"), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "proto"},
		MinReplicas:    ptr.To[int32](1), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr.To[int32](50)}}
	if got := hpaV1Row(&v1, testNow).Cells; !reflect.DeepEqual(got, want) {
		t.Errorf("v1 cells %#v", got)
	}
	v2 := autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: om("proto"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "proto"},
		MinReplicas:    ptr.To[int32](1), MaxReplicas: 5,
		Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}}}}
	if got := hpaV2Row(&v2, testNow).Cells; !reflect.DeepEqual(got, want) {
		t.Errorf("v2 cells %#v", got)
	}
	v1.Spec.MinReplicas, v1.Spec.TargetCPUUtilizationPercentage = nil, nil
	v1.Status.CurrentReplicas = 2
	// Converted as upstream: no target is 80%.
	if got := hpaV1Row(&v1, testNow).Cells; !reflect.DeepEqual(got, []any{"proto", "Deployment/proto", "cpu: <unknown>/80%", "<unset>", int64(5), int64(2), "5m"}) {
		t.Errorf("v1 without target: %#v", got)
	}
}

func TestEventCells(t *testing.T) {
	tests := []struct {
		name string
		row  func() metav1.TableRow
		want []any // LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME
	}{
		{"legacy core event", func() metav1.TableRow {
			return eventRow(&corev1.Event{ObjectMeta: om("web.1"), Type: "Normal", Reason: "Scheduled", Message: " Successfully assigned ns/web to n1\n",
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{nginx}"},
				Source:         corev1.EventSource{Component: "default-scheduler"},
				FirstTimestamp: *ago(10 * time.Minute), LastTimestamp: *ago(time.Minute), Count: 4}, testNow)
		}, []any{"60s", "Normal", "Scheduled", "pod/web", "spec.containers{nginx}", "default-scheduler", "Successfully assigned ns/web to n1", "10m", int64(4), "web.1"}},
		{"new-style core event with series", func() metav1.TableRow {
			return eventRow(&corev1.Event{ObjectMeta: om("n.2"), Type: "Warning", Reason: "Pressure",
				InvolvedObject: corev1.ObjectReference{Kind: "Node"}, ReportingController: "kubelet", ReportingInstance: "n1",
				EventTime: metav1.NewMicroTime(testNow.Add(-time.Hour)),
				Series:    &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(testNow.Add(-2 * time.Minute))}}, testNow)
		}, []any{"2m", "Warning", "Pressure", "node", "", "kubelet, n1", "", "60m", int64(7), "n.2"}},
		{"events.k8s.io singleton", func() metav1.TableRow {
			return eventsV1Row(&eventsv1.Event{ObjectMeta: om("e.3"), Type: "Normal", Reason: "Created", Note: "created it",
				Regarding: corev1.ObjectReference{Kind: "Deployment", Name: "web"}, ReportingController: "me",
				EventTime: metav1.NewMicroTime(testNow.Add(-30 * time.Second))}, testNow)
		}, []any{"30s", "Normal", "Created", "deployment/web", "", "me", "created it", "30s", int64(1), "e.3"}},
		{"events.k8s.io without any time", func() metav1.TableRow {
			return eventsV1Row(&eventsv1.Event{ObjectMeta: om("e.4"), DeprecatedCount: 2, DeprecatedSource: corev1.EventSource{Component: "c", Host: "h"}}, testNow)
		}, []any{"<unknown>", "", "", "", "", "c, h", "", "<unknown>", int64(2), "e.4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.row().Cells; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestHPAV1RowAnnotations: a v1 object prints the metrics its annotations
// carry, as upstream's printer sees them after conversion.
func TestHPAV1RowAnnotations(t *testing.T) {
	v1 := autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: om("web"), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
		MinReplicas:    ptr.To[int32](1), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr.To[int32](50)}}
	v1.Annotations = map[string]string{
		"autoscaling.alpha.kubernetes.io/metrics":         `[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}}]`,
		"autoscaling.alpha.kubernetes.io/current-metrics": `[{"type":"Resource","resource":{"name":"memory","currentAverageValue":"40Mi"}},{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":20,"currentAverageValue":"40m"}}]`,
	}
	if got := hpaV1Row(&v1, testNow).Cells[2]; got != "memory: 40Mi/100Mi, cpu: 20%/50%" {
		t.Errorf("targets %q", got)
	}
}
