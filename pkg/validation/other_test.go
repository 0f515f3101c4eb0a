package validation

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// mutated copies the fixture of kind and applies f to it.
func mutated[T runtime.Object](kind string, f func(T)) runtime.Object {
	o := validObjects()[kind].DeepCopyObject().(T)
	f(o)
	return o
}

func TestOtherKindsCreate(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
		want string
	}{
		{"configmap key", mutated("ConfigMap", func(c *corev1.ConfigMap) { c.Data["a b"] = "x" }), `data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`},
		{"configmap duplicate key", mutated("ConfigMap", func(c *corev1.ConfigMap) { c.BinaryData["app.conf"] = []byte("x") }), `binaryData[app.conf]: Invalid value: "app.conf": duplicate of key present in data`},
		{"configmap too large", mutated("ConfigMap", func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", maxConfigSize+1) }), "Too long: may not be more than 1048576 bytes"},
		{"tls secret keys", mutated("Secret", func(s *corev1.Secret) { delete(s.Data, "tls.key") }), "data[tls.key]: Required value"},
		{"dockerconfigjson", mutated("Secret", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{".dockerconfigjson": []byte("{")}
		}), `data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": unexpected end of JSON input`},
		{"service port range", mutated("Service", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }), "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"},
		{"service port names required", mutated("Service", func(s *corev1.Service) { s.Spec.Ports[1].Name = "" }), "spec.ports[1].name: Required value"},
		{"service duplicate port name", mutated("Service", func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" }), `spec.ports[1].name: Duplicate value: "http"`},
		{"service ports required", mutated("Service", func(s *corev1.Service) { s.Spec.Ports = nil }), "spec.ports: Required value"},
		{"service type", mutated("Service", func(s *corev1.Service) { s.Spec.Type = "Internal" }), `spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`},
		{"service protocol", mutated("Service", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }), `spec.ports[0].protocol: Unsupported value: "ICMP"`},
		{"service targetPort", mutated("Service", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) }), "spec.ports[0].targetPort: Invalid value: 70000"},
		{"service nodePort on ClusterIP", mutated("Service", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }), "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
		{"externalName required", mutated("Service", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ServiceTypeExternalName, "", nil
		}), "spec.externalName: Required value"},
		{"namespace finalizer", mutated("Namespace", func(n *corev1.Namespace) { n.Spec.Finalizers = []corev1.FinalizerName{"bogus"} }),
			`spec.finalizers[0]: Invalid value: "bogus": name is neither a standard finalizer name nor is it fully qualified`},
		{"node taint effect", mutated("Node", func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }), "spec.taints[0].effect: Required value"},
		{"node taint key", mutated("Node", func(n *corev1.Node) { n.Spec.Taints[0].Key = "" }), "spec.taints[0].key: Invalid value:"},
		{"node podCIDR", mutated("Node", func(n *corev1.Node) { n.Spec.PodCIDR = "10.0.0.0" }), `spec.podCIDR: Invalid value: "10.0.0.0"`},
		{"event namespace", mutated("Event", func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }), `involvedObject.namespace: Invalid value: "other": does not match event.namespace`},
		{"lease duration", mutated("Lease", func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr(int32(0)) }), "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"},
		{"lease transitions", mutated("Lease", func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr(int32(-1)) }), "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"},
		{"hpa target kind", mutated("HPAv2", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Kind = "" }), "spec.scaleTargetRef.kind: Required value"},
		{"hpa minReplicas", mutated("HPAv2", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr(int32(0)) }), "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"},
		{"hpa max below min", mutated("HPAv2", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr(int32(6)) }), "spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`"},
		{"pdb both", mutated("PodDisruptionBudget", func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = ptr(intstr.FromInt32(1)) }), "minAvailable and maxUnavailable cannot be both set"},
		{"pdb percent", mutated("PodDisruptionBudget", func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr(intstr.FromString("150%")) }), "spec.minAvailable: Invalid value: \"150%\": must not be greater than 100%"},
		{"priority class too high", mutated("PriorityClass", func(p *schedulingv1.PriorityClass) { p.Value = 2000000000 }), "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"},
		{"system priority class", mutated("PriorityClass", func(p *schedulingv1.PriorityClass) { p.Name = "system-custom" }),
			"metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-custom is not a known system priority class"},
		{"endpointslice addressType", mutated("EndpointSlice", func(s *discoveryv1.EndpointSlice) { s.AddressType = "IPv5" }), `addressType: Unsupported value: "IPv5": supported values: "IPv4", "IPv6", "FQDN"`},
		{"endpointslice no address", mutated("EndpointSlice", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }), "endpoints[0].addresses: Required value: must contain at least 1 address"},
		{"pvc access modes", mutated("PersistentVolumeClaim", func(p *corev1.PersistentVolumeClaim) { p.Spec.AccessModes = nil }), "spec.accessModes: Required value: at least 1 access mode is required"},
		{"pvc storage", mutated("PersistentVolumeClaim", func(p *corev1.PersistentVolumeClaim) { p.Spec.Resources.Requests = nil }), "spec.resources[storage]: Required value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errText(ValidateCreate(tt.obj))
			if !strings.Contains(got, tt.want) {
				t.Errorf("want %q\n got %q", tt.want, got)
			}
		})
	}
}

func TestOtherKindsUpdate(t *testing.T) {
	objs := validObjects()

	cm := objs["ConfigMap"].(*corev1.ConfigMap)
	cm.Immutable = ptr(true)
	cm2 := cm.DeepCopy()
	cm2.Data["app.conf"] = "x=2"
	expectText(t, ValidateUpdate(cm2, cm), "data: Forbidden: field is immutable when `immutable` is set")
	cm2 = cm.DeepCopy()
	cm2.Immutable = ptr(false)
	expectText(t, ValidateUpdate(cm2, cm), "immutable: Forbidden: field is immutable when `immutable` is set")

	sec := objs["Secret"].(*corev1.Secret)
	sec2 := sec.DeepCopy()
	sec2.Type = corev1.SecretTypeOpaque
	expectText(t, ValidateUpdate(sec2, sec), `type: Invalid value: "Opaque": field is immutable`)

	svc := objs["Service"].(*corev1.Service)
	svc2 := svc.DeepCopy()
	svc2.Spec.ClusterIP = "10.96.0.11"
	expectText(t, ValidateUpdate(svc2, svc), "spec.clusterIPs[0]: Invalid value:", "may not change once set")

	node := objs["Node"].(*corev1.Node)
	node2 := node.DeepCopy()
	node2.Spec.PodCIDRs = []string{"10.245.0.0/24"}
	expectText(t, ValidateUpdate(node2, node), "node updates may not change podCIDR except from \"\" to valid")

	pc := objs["PriorityClass"].(*schedulingv1.PriorityClass)
	pc2 := pc.DeepCopy()
	pc2.Value = 5
	expectText(t, ValidateUpdate(pc2, pc), "value: Forbidden: may not be changed in an update.")

	eps := objs["EndpointSlice"].(*discoveryv1.EndpointSlice)
	eps2 := eps.DeepCopy()
	eps2.AddressType = discoveryv1.AddressTypeIPv6
	eps2.Endpoints[0].Addresses = []string{"fd00::1"}
	expectText(t, ValidateUpdate(eps2, eps), `addressType: Invalid value: "IPv6": field is immutable`)

	pvc := objs["PersistentVolumeClaim"].(*corev1.PersistentVolumeClaim)
	pvc2 := pvc.DeepCopy()
	pvc2.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	expectText(t, ValidateUpdate(pvc2, pvc), "spec: Forbidden: spec is immutable after creation")
}
