package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestPodCreateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   string // exact kubectl-style text of the first error
	}{
		{"image required", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, "spec.containers[0].image: Required value"},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, "spec.containers: Required value"},
		{"container name required", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, "spec.containers[0].name: Required value"},
		{"duplicate container name", func(p *corev1.Pod) { p.Spec.InitContainers[0].Name = "web" }, `spec.initContainers[0].name: Duplicate value: "web"`},
		{"container port range", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 }, "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"},
		{"container port required", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }, "spec.containers[0].ports[0].containerPort: Required value"},
		{"protocol", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "HTTP" }, `spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`},
		{"duplicate port name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81})
		}, `spec.containers[0].ports[1].name: Duplicate value: "http"`},
		{"restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, `spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`},
		{"dnsPolicy", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Bogus" }, `spec.dnsPolicy: Unsupported value: "Bogus"`},
		{"volume mount not found", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" }, `spec.containers[0].volumeMounts[0].name: Not found: "nope"`},
		{"mountPath required", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "" }, "spec.containers[0].volumeMounts[0].mountPath: Required value"},
		{"duplicate volume", func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0]) }, `spec.volumes[1].name: Duplicate value: "data"`},
		{"volume without source", func(p *corev1.Pod) { p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{} }, "spec.volumes[0]: Required value: must specify a volume type"},
		{"volume with two sources", func(p *corev1.Pod) {
			p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/x"}
		}, "spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type"},
		{"requests above limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
		}, `spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 500m`},
		{"negative quantity", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("-1")
		}, `spec.containers[0].resources.limits[memory]: Invalid value: "-1": must be greater than or equal to 0`},
		{"probe without handler", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.ProbeHandler = corev1.ProbeHandler{} }, "spec.containers[0].livenessProbe: Required value: must specify a handler type"},
		{"probe with two handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, "spec.containers[0].readinessProbe.httpGet: Forbidden: may not specify more than 1 handler type"},
		{"liveness successThreshold", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.SuccessThreshold = 2 }, "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"},
		{"negative probe delay", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.InitialDelaySeconds = -1 }, "spec.containers[0].livenessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0"},
		{"env name", func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" }, `spec.containers[0].env[0].name: Invalid value: "A=B"`},
		{"env valueFrom empty", func(p *corev1.Pod) { p.Spec.Containers[0].Env[1].ValueFrom = &corev1.EnvVarSource{} }, "spec.containers[0].env[1].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"},
		{"env valueFrom two", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[1].ValueFrom.SecretKeyRef = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}
		}, `spec.containers[0].env[1].valueFrom: Invalid value: "": may not have more than one field specified at a time`},
		{"sysctl name", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.shmmax", Value: "1"}, {Name: "foo-", Value: "bar"}}}
		}, `spec.securityContext.sysctls[1].name: Invalid value: "foo-": must have at most 253 characters and match regex`},
		{"sysctl dots", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "bar..", Value: "42"}}}
		}, `spec.securityContext.sysctls[0].name: Invalid value: "bar.."`},
		{"sysctl duplicate", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1"}, {Name: "net.core.somaxconn", Value: "2"}}}
		}, `spec.securityContext.sysctls[1].name: Duplicate value: "net.core.somaxconn"`},
		{"activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) }, "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 4294967295, inclusive"},
		{"toleration Exists with value", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
		}, "value must be empty when `operator` is 'Exists'"},
		{"toleration empty key", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "v"}}
		}, `spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when ` + "`key`" + ` is empty, which means "match all values and all keys"`},
		{"toleration effect", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "Never"}}
		}, `spec.tolerations[0].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`},
		{"node affinity In without values", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}}}}}
		}, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"},
		{"node affinity bad operator", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: "Like"}}}}}}}
		}, `spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Like": not a valid selector operator`},
		{"pod affinity topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{}}}}
		}, "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty"},
		{"topology maxSkew", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, "spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero"},
		{"topology whenUnsatisfiable", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: "Maybe"}}
		}, `spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value: "Maybe": supported values: "DoNotSchedule", "ScheduleAnyway"`},
		{"restartPolicy on app container", func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}, "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"},
		{"hostNetwork port mismatch", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 8080
		}, "spec.containers[0].ports[0].containerPort: Invalid value: 80: must match `hostPort` when `hostNetwork` is true"},
		{"nodeSelector", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"a b": "c"} }, `spec.nodeSelector: Invalid value: "a b"`},
		{"httpGet port", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromInt32(0)
		}, "spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive"},
		{"privileged without escalation", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), AllowPrivilegeEscalation: ptr(false)}
		}, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			errs := ValidateCreate(p)
			if len(errs) == 0 {
				t.Fatalf("want %q, got no error", tt.want)
			}
			got := errText(errs)
			if !strings.Contains(got, tt.want) {
				t.Errorf("want %q\n got %q", tt.want, got)
			}
		})
	}
}

func TestSidecarInitContainer(t *testing.T) {
	p := validPod()
	p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	p.Spec.InitContainers[0].ReadinessProbe = p.Spec.Containers[0].LivenessProbe.DeepCopy()
	if errs := ValidateCreate(p); len(errs) > 0 {
		t.Fatalf("sidecar rejected: %s", errText(errs))
	}
	p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicy("OnFailure"))
	expectErr(t, ValidateCreate(p), field.ErrorTypeNotSupported, "spec.initContainers[0].restartPolicy", `supported values: "Always"`)
}

func TestPodUpdate(t *testing.T) {
	old := validPod()
	old.Spec.NodeName = "node-1"
	old.Spec.ActiveDeadlineSeconds = ptr(int64(100))

	ok := []struct {
		name   string
		mutate func(p *corev1.Pod)
	}{
		{"image", func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "nginx:1.28"
			p.Spec.InitContainers[0].Image = "busybox:2"
		}},
		{"labels", func(p *corev1.Pod) { p.Labels["tier"] = "front" }},
		{"lower activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(50)) }},
		{"add toleration", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "x", Operator: corev1.TolerationOpExists})
		}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			p := old.DeepCopy()
			tt.mutate(p)
			if errs := ValidateUpdate(p, old); len(errs) > 0 {
				t.Errorf("unexpected: %s", errText(errs))
			}
		})
	}

	bad := []struct {
		name   string
		mutate func(p *corev1.Pod)
		typ    field.ErrorType
		path   string
		msg    string
	}{
		{"ports", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 81 }, field.ErrorTypeForbidden, "spec", "pod updates may not change fields other than `spec.containers[*].image`"},
		{"raise activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(200)) }, field.ErrorTypeInvalid, "spec.activeDeadlineSeconds", "must be less than or equal to previous value"},
		{"remove activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, field.ErrorTypeInvalid, "spec.activeDeadlineSeconds", "must not update from a positive integer to nil value"},
		{"remove toleration", func(p *corev1.Pod) { p.Spec.Tolerations = nil }, field.ErrorTypeForbidden, "spec.tolerations", "existing toleration can not be modified"},
		{"nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }, field.ErrorTypeForbidden, "spec.nodeName", "immutable"},
		{"image cleared", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, field.ErrorTypeRequired, "spec.containers[0].image", "Required value"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p := old.DeepCopy()
			tt.mutate(p)
			expectErr(t, ValidateUpdate(p, old), tt.typ, tt.path, tt.msg)
		})
	}
}

func TestPodStatusUpdate(t *testing.T) {
	old := validPod()
	p := old.DeepCopy()
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = "10.244.0.5"
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", Ready: true}}
	if errs := ValidateStatusUpdate(p, old); len(errs) > 0 {
		t.Fatalf("unexpected: %s", errText(errs))
	}
	p.Status.ContainerStatuses[0].Name = ""
	p.Status.PodIP = "not-an-ip"
	errs := ValidateStatusUpdate(p, old)
	expectErr(t, errs, field.ErrorTypeRequired, "status.containerStatuses[0].name", "Required value")
	expectErr(t, errs, field.ErrorTypeInvalid, "status.podIP", "must be a valid IP address")
}
