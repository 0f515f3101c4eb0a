package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func applyTwice(t *testing.T, p *corev1.Pod) {
	t.Helper()
	Apply(p)
	again := p.DeepCopy()
	Apply(again)
	if !equality.Semantic.DeepEqual(p, again) {
		t.Fatalf("not idempotent:\n%#v\n%#v", p, again)
	}
}

func TestPodContainers(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "i", Image: "busybox:latest"}},
		Containers: []corev1.Container{{
			Name: "c", Image: "nginx",
			Env:            []corev1.EnvVar{{Name: "N", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			Resources:      corev1.ResourceRequirements{Limits: rl("cpu", "500m", "memory", "64Mi"), Requests: rl("cpu", "100m")},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstrPort(80)}}},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}},
			Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{}}},
		}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "e", Image: "debug@sha256:" + sha}}},
	}}
	applyTwice(t, p)
	c := p.Spec.Containers[0]
	if p.Spec.InitContainers[0].ImagePullPolicy != corev1.PullAlways || c.ImagePullPolicy != corev1.PullAlways ||
		p.Spec.EphemeralContainers[0].ImagePullPolicy != corev1.PullIfNotPresent || p.Spec.EphemeralContainers[0].TerminationMessagePath == "" {
		t.Errorf("pull policies / ephemeral defaults wrong: %+v", p.Spec)
	}
	if c.Env[0].ValueFrom.FieldRef.APIVersion != "v1" {
		t.Errorf("fieldRef apiVersion not defaulted")
	}
	// Requests fill in from limits without replacing the given ones.
	if c.Resources.Requests.Cpu().String() != "100m" || c.Resources.Requests.Memory().String() != "64Mi" {
		t.Errorf("requests: %v", c.Resources.Requests)
	}
	rp := c.ReadinessProbe
	if rp.TimeoutSeconds != 1 || rp.PeriodSeconds != 10 || rp.SuccessThreshold != 1 || rp.FailureThreshold != 3 ||
		rp.HTTPGet.Path != "/" || rp.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("probe: %+v", rp)
	}
	if c.LivenessProbe.GRPC.Service == nil || *c.LivenessProbe.GRPC.Service != "" {
		t.Errorf("grpc service not defaulted")
	}
	if h := c.Lifecycle.PreStop.HTTPGet; h.Scheme != corev1.URISchemeHTTP || h.Path != "/" {
		t.Errorf("lifecycle httpGet: %+v", h)
	}
}

func TestPodVolumes(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "none"},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}},
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		{Name: "dapi", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{FieldRef: &corev1.ObjectFieldSelector{}}}}}},
		{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{}}}}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}},
		{Name: "empty", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}}}
	applyTwice(t, p)
	v := p.Spec.Volumes
	if v[0].EmptyDir == nil || *v[1].Secret.DefaultMode != 420 || *v[2].ConfigMap.DefaultMode != 420 || *v[3].DownwardAPI.DefaultMode != 420 ||
		v[3].DownwardAPI.Items[0].FieldRef.APIVersion != "v1" || *v[4].Projected.DefaultMode != 420 ||
		*v[4].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds != 3600 || *v[5].HostPath.Type != corev1.HostPathUnset ||
		!equality.Semantic.DeepEqual(*v[6].EmptyDir, corev1.EmptyDirVolumeSource{}) {
		t.Errorf("volumes: %+v", v)
	}
}

func TestPodOnlyDefaults(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		HostNetwork:        true,
		EnableServiceLinks: ptr.To(false),
		Containers:         []corev1.Container{{Name: "c", Image: "x", Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 9090, HostPort: 9091}}}},
	}}
	applyTwice(t, p)
	if *p.Spec.EnableServiceLinks || p.Spec.Containers[0].Ports[0].HostPort != 8080 || p.Spec.Containers[0].Ports[1].HostPort != 9091 {
		t.Errorf("pod-only defaults: %+v", p.Spec)
	}
}

func TestPodLevelResources(t *testing.T) {
	tests := []struct {
		name           string
		pod, init      corev1.ResourceRequirements
		sidecar        bool
		wantReq, wantL corev1.ResourceList
	}{
		{
			name:    "requests from container requests, else pod limits",
			pod:     corev1.ResourceRequirements{Limits: rl("cpu", "2", "memory", "1Gi")},
			init:    corev1.ResourceRequirements{Requests: rl("cpu", "500m")},
			wantReq: rl("cpu", "500m", "memory", "1Gi"), wantL: rl("cpu", "2", "memory", "1Gi"),
		},
		{
			name:    "limits summed when every container has one",
			pod:     corev1.ResourceRequirements{Requests: rl("cpu", "1")},
			init:    corev1.ResourceRequirements{Limits: rl("memory", "128Mi")},
			sidecar: true,
			// 128Mi regular + 128Mi sidecar; the second pass then fills
			// the memory request from the containers' requests.
			wantReq: rl("cpu", "1", "memory", "256Mi"), wantL: rl("memory", "256Mi"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{
				Resources:  tt.pod.DeepCopy(),
				Containers: []corev1.Container{{Name: "c", Image: "x", Resources: *tt.init.DeepCopy()}},
			}}
			if tt.sidecar {
				p.Spec.InitContainers = []corev1.Container{{Name: "s", Image: "x", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Resources: *tt.init.DeepCopy()}}
			}
			applyTwice(t, p)
			if !equality.Semantic.DeepEqual(p.Spec.Resources.Requests, tt.wantReq) || !equality.Semantic.DeepEqual(p.Spec.Resources.Limits, tt.wantL) {
				t.Errorf("got requests %v limits %v", p.Spec.Resources.Requests, p.Spec.Resources.Limits)
			}
		})
	}
}

func TestRounding(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "0.0001")}}}}}
	applyTwice(t, p)
	if got := p.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "1m" {
		t.Errorf("cpu rounded to %s, want 1m", got)
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func intstrPort(p int32) intstr.IntOrString { return intstr.FromInt32(p) }
