package defaults

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
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func simpleContainers() []corev1.Container {
	return []corev1.Container{{Name: "c", Image: "nginx:1.25", Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}
}

func simpleTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}},
		Spec:       corev1.PodSpec{Containers: simpleContainers()},
	}
}

// checkTemplate asserts the pod-spec defaults every template gets, and
// that the Pod-only ones stayed off.
func checkTemplate(t *testing.T, s *corev1.PodSpec) {
	t.Helper()
	if s.RestartPolicy != corev1.RestartPolicyAlways || s.DNSPolicy != corev1.DNSClusterFirst ||
		s.SchedulerName != corev1.DefaultSchedulerName || s.SecurityContext == nil ||
		ptr.Deref(s.TerminationGracePeriodSeconds, 0) != 30 {
		t.Errorf("pod spec defaults missing: %+v", s)
	}
	c := s.Containers[0]
	if c.TerminationMessagePath != "/dev/termination-log" || c.TerminationMessagePolicy != corev1.TerminationMessageReadFile ||
		c.ImagePullPolicy != corev1.PullIfNotPresent || c.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("container defaults missing: %+v", c)
	}
	if s.EnableServiceLinks != nil || len(s.Tolerations) != 0 || s.Priority != nil || s.ServiceAccountName != "" {
		t.Errorf("pod-only defaults leaked into a template: %+v", s)
	}
}

func TestKinds(t *testing.T) {
	tests := []struct {
		name  string
		obj   runtime.Object
		check func(*testing.T, runtime.Object)
	}{
		{"pod", &corev1.Pod{Spec: corev1.PodSpec{Containers: simpleContainers()}}, func(t *testing.T, o runtime.Object) {
			s := o.(*corev1.Pod).Spec
			if !ptr.Deref(s.EnableServiceLinks, false) {
				t.Errorf("pod defaults missing: %+v", s)
			}
			// Admission's, not defaulting's (pkg/admission).
			if s.ServiceAccountName != "" || s.Priority != nil || len(s.Tolerations) != 0 {
				t.Errorf("admission's fields set by defaulting: %+v", s)
			}
		}},
		{"podtemplate", &corev1.PodTemplate{Template: simpleTemplate()}, func(t *testing.T, o runtime.Object) {
			checkTemplate(t, &o.(*corev1.PodTemplate).Template.Spec)
		}},
		{"replicationcontroller", &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: ptr.To(simpleTemplate())}}, func(t *testing.T, o runtime.Object) {
			rc := o.(*corev1.ReplicationController)
			if *rc.Spec.Replicas != 1 || rc.Spec.Selector["app"] != "a" || rc.Labels["app"] != "a" {
				t.Errorf("rc: %+v", rc)
			}
			checkTemplate(t, &rc.Spec.Template.Spec)
		}},
		{"rc without template", &corev1.ReplicationController{}, func(t *testing.T, o runtime.Object) {
			if rc := o.(*corev1.ReplicationController); *rc.Spec.Replicas != 1 || rc.Spec.Selector != nil {
				t.Errorf("rc: %+v", rc)
			}
		}},
		{"service", &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}, {Port: 81, TargetPort: intstr.FromString("http")}}}}, func(t *testing.T, o runtime.Object) {
			s := o.(*corev1.Service).Spec
			if s.Type != corev1.ServiceTypeClusterIP || s.SessionAffinity != corev1.ServiceAffinityNone ||
				ptr.Deref(s.InternalTrafficPolicy, "") != corev1.ServiceInternalTrafficPolicyCluster || s.ExternalTrafficPolicy != "" {
				t.Errorf("service: %+v", s)
			}
			if p := s.Ports[0]; p.Protocol != corev1.ProtocolTCP || p.TargetPort != intstr.FromInt32(80) {
				t.Errorf("port: %+v", p)
			}
			if s.Ports[1].TargetPort != intstr.FromString("http") {
				t.Errorf("named target port changed: %+v", s.Ports[1])
			}
		}},
		{"loadbalancer service", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP}}, func(t *testing.T, o runtime.Object) {
			s := o.(*corev1.Service).Spec
			if s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster || !ptr.Deref(s.AllocateLoadBalancerNodePorts, false) ||
				*s.SessionAffinityConfig.ClientIP.TimeoutSeconds != 10800 {
				t.Errorf("service: %+v", s)
			}
		}},
		{"externalname service", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}}, func(t *testing.T, o runtime.Object) {
			if s := o.(*corev1.Service).Spec; s.InternalTrafficPolicy != nil || s.ExternalTrafficPolicy != "" {
				t.Errorf("service: %+v", s)
			}
		}},
		{"endpoints", &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}, func(t *testing.T, o runtime.Object) {
			if p := o.(*corev1.Endpoints).Subsets[0].Ports[0]; p.Protocol != corev1.ProtocolTCP {
				t.Errorf("port: %+v", p)
			}
		}},
		{"endpointslice", &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}}}, func(t *testing.T, o runtime.Object) {
			if p := o.(*discoveryv1.EndpointSlice).Ports[0]; ptr.Deref(p.Protocol, "") != corev1.ProtocolTCP || p.Name == nil || *p.Name != "" {
				t.Errorf("port: %+v", p)
			}
		}},
		{"namespace", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}, func(t *testing.T, o runtime.Object) {
			ns := o.(*corev1.Namespace)
			if ns.Labels[corev1.LabelMetadataName] != "ns" || ns.Status.Phase != corev1.NamespaceActive ||
				len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
				t.Errorf("namespace: %+v", ns)
			}
		}},
		{"stored namespace keeps its finalizers", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", ResourceVersion: "5"}}, func(t *testing.T, o runtime.Object) {
			if ns := o.(*corev1.Namespace); len(ns.Spec.Finalizers) != 0 {
				t.Errorf("finalizer re-added on update: %+v", ns.Spec)
			}
		}},
		{"secret", &corev1.Secret{}, func(t *testing.T, o runtime.Object) {
			if s := o.(*corev1.Secret); s.Type != corev1.SecretTypeOpaque {
				t.Errorf("secret type %q", s.Type)
			}
		}},
		{"node", &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}, func(t *testing.T, o runtime.Object) {
			if n := o.(*corev1.Node); n.Status.Allocatable.Cpu().String() != "2" {
				t.Errorf("allocatable: %v", n.Status.Allocatable)
			}
		}},
		{"pv", &corev1.PersistentVolume{}, func(t *testing.T, o runtime.Object) {
			pv := o.(*corev1.PersistentVolume)
			if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain ||
				ptr.Deref(pv.Spec.VolumeMode, "") != corev1.PersistentVolumeFilesystem || pv.Status.Phase != corev1.VolumePending {
				t.Errorf("pv: %+v", pv)
			}
		}},
		{"pvc", &corev1.PersistentVolumeClaim{}, func(t *testing.T, o runtime.Object) {
			pvc := o.(*corev1.PersistentVolumeClaim)
			if ptr.Deref(pvc.Spec.VolumeMode, "") != corev1.PersistentVolumeFilesystem || pvc.Status.Phase != corev1.ClaimPending {
				t.Errorf("pvc: %+v", pvc)
			}
		}},
		{"deployment", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: simpleTemplate()}}, func(t *testing.T, o runtime.Object) {
			s := o.(*appsv1.Deployment).Spec
			if *s.Replicas != 1 || s.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
				*s.Strategy.RollingUpdate.MaxSurge != intstr.FromString("25%") || *s.Strategy.RollingUpdate.MaxUnavailable != intstr.FromString("25%") ||
				*s.RevisionHistoryLimit != 10 || *s.ProgressDeadlineSeconds != 600 {
				t.Errorf("deployment: %+v", s)
			}
			checkTemplate(t, &s.Template.Spec)
		}},
		{"recreate deployment", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}, func(t *testing.T, o runtime.Object) {
			if s := o.(*appsv1.Deployment).Spec; s.Strategy.RollingUpdate != nil {
				t.Errorf("recreate got rolling update: %+v", s.Strategy)
			}
		}},
		{"replicaset", &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: simpleTemplate()}}, func(t *testing.T, o runtime.Object) {
			s := o.(*appsv1.ReplicaSet).Spec
			if *s.Replicas != 1 {
				t.Errorf("replicaset: %+v", s)
			}
			checkTemplate(t, &s.Template.Spec)
		}},
		{"daemonset", &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: simpleTemplate()}}, func(t *testing.T, o runtime.Object) {
			s := o.(*appsv1.DaemonSet).Spec
			if s.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || *s.UpdateStrategy.RollingUpdate.MaxUnavailable != intstr.FromInt32(1) ||
				*s.UpdateStrategy.RollingUpdate.MaxSurge != intstr.FromInt32(0) || *s.RevisionHistoryLimit != 10 {
				t.Errorf("daemonset: %+v", s)
			}
			checkTemplate(t, &s.Template.Spec)
		}},
		{"statefulset", &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: simpleTemplate(), VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{}}}}, func(t *testing.T, o runtime.Object) {
			s := o.(*appsv1.StatefulSet).Spec
			if *s.Replicas != 1 || s.PodManagementPolicy != appsv1.OrderedReadyPodManagement ||
				s.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType || *s.UpdateStrategy.RollingUpdate.Partition != 0 ||
				*s.RevisionHistoryLimit != 10 || s.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
				s.PersistentVolumeClaimRetentionPolicy.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
				*s.VolumeClaimTemplates[0].Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
				t.Errorf("statefulset: %+v", s)
			}
			checkTemplate(t, &s.Template.Spec)
		}},
		{"job", &batchv1.Job{Spec: batchv1.JobSpec{Template: simpleTemplate()}}, func(t *testing.T, o runtime.Object) {
			j := o.(*batchv1.Job)
			s := j.Spec
			if *s.Completions != 1 || *s.Parallelism != 1 || *s.BackoffLimit != 6 || *s.CompletionMode != batchv1.NonIndexedCompletion ||
				*s.Suspend || *s.PodReplacementPolicy != batchv1.TerminatingOrFailed || *s.ManualSelector || j.Labels["app"] != "a" {
				t.Errorf("job: %+v", j)
			}
			checkTemplate(t, &s.Template.Spec)
		}},
		{"parallel job", &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](3), BackoffLimitPerIndex: ptr.To[int32](1), PodFailurePolicy: &batchv1.PodFailurePolicy{
			Rules: []batchv1.PodFailurePolicyRule{{OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}},
		}}}, func(t *testing.T, o runtime.Object) {
			s := o.(*batchv1.Job).Spec
			if s.Completions != nil || *s.Parallelism != 3 || *s.BackoffLimit != 2147483647 || *s.PodReplacementPolicy != batchv1.Failed ||
				s.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
				t.Errorf("job: %+v", s)
			}
		}},
		{"cronjob", &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: simpleTemplate()}}}}, func(t *testing.T, o runtime.Object) {
			s := o.(*batchv1.CronJob).Spec
			if s.ConcurrencyPolicy != batchv1.AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
				t.Errorf("cronjob: %+v", s)
			}
			if s.JobTemplate.Spec.BackoffLimit != nil {
				t.Errorf("job template spec defaulted: %+v", s.JobTemplate.Spec)
			}
			checkTemplate(t, &s.JobTemplate.Spec.Template.Spec)
		}},
		{"hpa v1", &autoscalingv1.HorizontalPodAutoscaler{}, func(t *testing.T, o runtime.Object) {
			s := o.(*autoscalingv1.HorizontalPodAutoscaler).Spec
			if *s.MinReplicas != 1 || s.TargetCPUUtilizationPercentage != nil {
				t.Errorf("hpa: %+v", s)
			}
		}},
		{"hpa v2", &autoscalingv2.HorizontalPodAutoscaler{}, func(t *testing.T, o runtime.Object) {
			s := o.(*autoscalingv2.HorizontalPodAutoscaler).Spec
			if *s.MinReplicas != 1 || len(s.Metrics) != 1 || s.Metrics[0].Resource.Name != corev1.ResourceCPU ||
				*s.Metrics[0].Resource.Target.AverageUtilization != 80 || s.Behavior != nil {
				t.Errorf("hpa: %+v", s)
			}
		}},
		{"hpa v2 behavior", &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](60)},
		}}}, func(t *testing.T, o runtime.Object) {
			b := o.(*autoscalingv2.HorizontalPodAutoscaler).Spec.Behavior
			if *b.ScaleUp.StabilizationWindowSeconds != 0 || len(b.ScaleUp.Policies) != 2 || *b.ScaleUp.SelectPolicy != autoscalingv2.MaxChangePolicySelect ||
				*b.ScaleDown.StabilizationWindowSeconds != 60 || len(b.ScaleDown.Policies) != 1 || b.ScaleDown.Policies[0].Value != 100 {
				t.Errorf("behavior: %+v %+v", b.ScaleUp, b.ScaleDown)
			}
		}},
		{"priorityclass", &schedulingv1.PriorityClass{}, func(t *testing.T, o runtime.Object) {
			if p := o.(*schedulingv1.PriorityClass); ptr.Deref(p.PreemptionPolicy, "") != corev1.PreemptLowerPriority {
				t.Errorf("priorityclass: %+v", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Apply(tt.obj)
			tt.check(t, tt.obj)
			again := tt.obj.DeepCopyObject()
			Apply(again)
			if !equality.Semantic.DeepEqual(tt.obj, again) {
				t.Errorf("not idempotent:\n%#v\n%#v", tt.obj, again)
			}
		})
	}
}

// Kinds without defaults come out as they went in.
func TestUnchanged(t *testing.T) {
	for _, obj := range []runtime.Object{
		&corev1.Event{}, &eventsv1.Event{}, &coordinationv1.Lease{}, &policyv1.PodDisruptionBudget{},
		&corev1.ServiceAccount{}, &metav1.Status{},
	} {
		before := obj.DeepCopyObject()
		Apply(obj)
		if !equality.Semantic.DeepEqual(before, obj) {
			t.Errorf("%T changed: %#v", obj, obj)
		}
	}
	Apply(nil)
	Apply((*corev1.Pod)(nil))
}

// A value the user chose is never replaced.
func TestUserValuesKept(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](0), RevisionHistoryLimit: ptr.To[int32](2), ProgressDeadlineSeconds: ptr.To[int32](30),
		Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(3))}},
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, DNSPolicy: corev1.DNSDefault, SchedulerName: "mine",
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Containers: []corev1.Container{{
				Image: "nginx", ImagePullPolicy: corev1.PullNever, TerminationMessagePath: "/x", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				Ports:         []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
				LivenessProbe: &corev1.Probe{TimeoutSeconds: 7, PeriodSeconds: 8, SuccessThreshold: 1, FailureThreshold: 9, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Scheme: corev1.URISchemeHTTPS}}},
			}},
			Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: ptr.To[int32](0o400)}}}},
		}},
	}}
	want := d.DeepCopy()
	Apply(d)
	s, w := d.Spec, want.Spec
	if *s.Replicas != 0 || *s.RevisionHistoryLimit != 2 || *s.ProgressDeadlineSeconds != 30 || *s.Strategy.RollingUpdate.MaxSurge != intstr.FromInt32(3) {
		t.Errorf("deployment values replaced: %+v", s)
	}
	ps, wps := s.Template.Spec, w.Template.Spec
	if ps.RestartPolicy != wps.RestartPolicy || ps.DNSPolicy != wps.DNSPolicy || ps.SchedulerName != wps.SchedulerName || *ps.TerminationGracePeriodSeconds != 5 {
		t.Errorf("pod spec values replaced: %+v", ps)
	}
	if !equality.Semantic.DeepEqual(ps.Containers, wps.Containers) {
		t.Errorf("container values replaced:\n%+v\n%+v", ps.Containers, wps.Containers)
	}
	if *ps.Volumes[0].Secret.DefaultMode != 0o400 {
		t.Errorf("volume mode replaced")
	}

	svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
		InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal), Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolSCTP}}}}
	Apply(svc)
	if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal || *svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal ||
		svc.Spec.Ports[0].TargetPort != intstr.FromInt32(8080) || svc.Spec.Ports[0].Protocol != corev1.ProtocolSCTP {
		t.Errorf("service values replaced: %+v", svc.Spec)
	}

	secret := &corev1.Secret{Type: corev1.SecretTypeTLS}
	Apply(secret)
	if secret.Type != corev1.SecretTypeTLS {
		t.Errorf("secret type replaced")
	}
}
