package validation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/flotilla-io/flotilla/pkg/flowcontrol"
)

// testCSR is a signed PKCS#10 request and a self-signed certificate, PEM.
func testCSR(t *testing.T) (request, cert []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "e2e.example.com"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
}

// apiObjects are valid, defaulted objects of the kinds in apis.
func apiObjects(t *testing.T) map[string]runtime.Object {
	req, _ := testCSR(t)
	cluster := func(name string) metav1.ObjectMeta { return objMeta(name, "") }
	prefix := networkingv1.PathTypePrefix
	pv := "pv-1"
	return map[string]runtime.Object{
		"RuntimeClass": &nodev1.RuntimeClass{ObjectMeta: cluster("gvisor"), Handler: "runsc",
			Overhead: &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}},
			Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{"sandbox": "true"},
				Tolerations: []corev1.Toleration{{Key: "sandbox", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}}},
		"IngressClass": &networkingv1.IngressClass{ObjectMeta: cluster("nginx"), Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx",
			Parameters: &networkingv1.IngressClassParametersReference{Kind: "ConfigMap", Name: "cfg", Scope: ptr(networkingv1.IngressClassParametersReferenceScopeCluster)}}},
		"Ingress": &networkingv1.Ingress{ObjectMeta: objMeta("web", "default"), Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"*.example.com"}, SecretName: "tls"}},
			Rules: []networkingv1.IngressRule{{Host: "a.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "169.1.1.1"}}}}},
		"CSIDriver": &storagev1.CSIDriver{ObjectMeta: cluster("hostpath.csi.k8s.io"), Spec: storagev1.CSIDriverSpec{
			AttachRequired: ptr(true), PodInfoOnMount: ptr(false), StorageCapacity: ptr(false), RequiresRepublish: ptr(false), SELinuxMount: ptr(false),
			FSGroupPolicy:        ptr(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy),
			VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent, storagev1.VolumeLifecycleEphemeral},
			TokenRequests:        []storagev1.TokenRequest{{Audience: "vault", ExpirationSeconds: ptr(int64(3600))}}}},
		"CSINode": &storagev1.CSINode{ObjectMeta: cluster("node-1"), Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{
			Name: "hostpath.csi.k8s.io", NodeID: "node-1", TopologyKeys: []string{"topology.hostpath.csi/node"}, Allocatable: &storagev1.VolumeNodeResources{Count: ptr(int32(10))}}}}},
		"CSIStorageCapacity": &storagev1.CSIStorageCapacity{ObjectMeta: objMeta("cap", "default"), StorageClassName: "standard",
			NodeTopology: &metav1.LabelSelector{MatchLabels: map[string]string{"topology.hostpath.csi/node": "node-1"}}, Capacity: ptr(resource.MustParse("10Gi"))},
		"VolumeAttachment": &storagev1.VolumeAttachment{ObjectMeta: cluster("va-1"), Spec: storagev1.VolumeAttachmentSpec{Attacher: "hostpath.csi.k8s.io",
			NodeName: "node-1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}}},
		"CertificateSigningRequest": &certificatesv1.CertificateSigningRequest{ObjectMeta: cluster("csr-1"), Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: req, SignerName: "example.com/e2e", ExpirationSeconds: ptr(int32(3600)), Username: "alice",
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}}},
		"FlowSchema": &flowcontrolv1.FlowSchema{ObjectMeta: cluster("e2e"), Spec: flowcontrolv1.FlowSchemaSpec{
			MatchingPrecedence: 10000, PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "global-default"},
			DistinguisherMethod: &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects:         []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: "someone"}}},
				NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"/metrics", "/apis/*"}}},
				ResourceRules:    []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}, Namespaces: []string{"default"}}},
			}}}},
		"PriorityLevelConfiguration": &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: cluster("e2e"), Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited, Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				NominalConcurrencyShares: ptr(int32(2)), LendablePercent: ptr(int32(0)),
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
					Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 64, HandSize: 8, QueueLengthLimit: 50}}}}},
	}
}

func TestAPIObjectsValid(t *testing.T) {
	for name, obj := range apiObjects(t) {
		t.Run(name, func(t *testing.T) {
			if errs := ValidateCreate(obj); len(errs) > 0 {
				t.Errorf("create: %s", errText(errs))
			}
			if errs := ValidateUpdate(obj.DeepCopyObject(), obj); len(errs) > 0 {
				t.Errorf("update: %s", errText(errs))
			}
			if errs := ValidateSubresourceUpdate("status", obj.DeepCopyObject(), obj); len(errs) > 0 {
				t.Errorf("status update: %s", errText(errs))
			}
		})
	}
	// The objects every server creates at start are valid.
	for _, pl := range append(flowcontrol.MandatoryPriorityLevels(), flowcontrol.SuggestedPriorityLevels()...) {
		if errs := ValidateCreate(pl); len(errs) > 0 {
			t.Errorf("priority level %s: %s", pl.Name, errText(errs))
		}
	}
	for _, fs := range append(flowcontrol.MandatoryFlowSchemas(), flowcontrol.SuggestedFlowSchemas()...) {
		if errs := ValidateCreate(fs); len(errs) > 0 {
			t.Errorf("flow schema %s: %s", fs.Name, errText(errs))
		}
	}
}

func TestAPIObjectsCreate(t *testing.T) {
	objs := apiObjects(t)
	mut := func(kind string, f func(runtime.Object)) runtime.Object {
		o := objs[kind].DeepCopyObject()
		f(o)
		return o
	}
	tests := []struct {
		name string
		obj  runtime.Object
		typ  field.ErrorType
		path string
		msg  string
	}{
		{"runtimeclass handler", mut("RuntimeClass", func(o runtime.Object) { o.(*nodev1.RuntimeClass).Handler = "Bad_Handler" }), field.ErrorTypeInvalid, "handler", "RFC 1123 label"},
		{"runtimeclass overhead", mut("RuntimeClass", func(o runtime.Object) {
			o.(*nodev1.RuntimeClass).Overhead.PodFixed[corev1.ResourceCPU] = resource.MustParse("-1")
		}), field.ErrorTypeInvalid, "overhead.limits[cpu]", "must be greater than or equal to 0"},
		{"runtimeclass duplicate toleration", mut("RuntimeClass", func(o runtime.Object) {
			s := o.(*nodev1.RuntimeClass).Scheduling
			s.Tolerations = append(s.Tolerations, s.Tolerations[0])
		}), field.ErrorTypeDuplicate, "scheduling.tolerations[1]", ""},
		{"runtimeclass toleration", mut("RuntimeClass", func(o runtime.Object) {
			o.(*nodev1.RuntimeClass).Scheduling.Tolerations[0].Operator = "Maybe"
		}), field.ErrorTypeNotSupported, "scheduling.tolerations.tolerations[0].operator", ""},
		{"ingressclass controller", mut("IngressClass", func(o runtime.Object) { o.(*networkingv1.IngressClass).Spec.Controller = "nginx" }), field.ErrorTypeInvalid, "spec.controller", "must be a domain-prefixed path"},
		{"ingressclass scope", mut("IngressClass", func(o runtime.Object) {
			o.(*networkingv1.IngressClass).Spec.Parameters.Namespace = ptr("default")
		}), field.ErrorTypeForbidden, "spec.parameters.namespace", "`parameters.scope` is set to 'Cluster'"},
		{"ingress needs backend or rules", mut("Ingress", func(o runtime.Object) { o.(*networkingv1.Ingress).Spec.Rules = nil }), field.ErrorTypeInvalid, "spec", "either `defaultBackend` or `rules` must be specified"},
		{"ingress host is no IP", mut("Ingress", func(o runtime.Object) { o.(*networkingv1.Ingress).Spec.Rules[0].Host = "10.0.0.1" }), field.ErrorTypeInvalid, "spec.rules[0].host", "must be a DNS name, not an IP address"},
		{"ingress pathType", mut("Ingress", func(o runtime.Object) {
			o.(*networkingv1.Ingress).Spec.Rules[0].HTTP.Paths[0].PathType = nil
		}), field.ErrorTypeRequired, "spec.rules[0].http.paths[0].pathType", "pathType must be specified"},
		{"ingress prefix path", mut("Ingress", func(o runtime.Object) { o.(*networkingv1.Ingress).Spec.Rules[0].HTTP.Paths[0].Path = "/a/../b" }),
			field.ErrorTypeInvalid, "spec.rules[0].http.paths[0].path", "must not contain '/../'"},
		{"ingress port", mut("Ingress", func(o runtime.Object) {
			o.(*networkingv1.Ingress).Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{}
		}), field.ErrorTypeRequired, "spec.rules[0].http.paths[0].backend", "port name or number is required"},
		{"ingress class annotation", mut("Ingress", func(o runtime.Object) {
			ing := o.(*networkingv1.Ingress)
			ing.Annotations = map[string]string{"kubernetes.io/ingress.class": "a"}
			ing.Spec.IngressClassName = ptr("b")
		}), field.ErrorTypeInvalid, "annotations.kubernetes.io/ingress.class", "must match `ingressClassName` when both are specified"},
		{"csidriver attachRequired", mut("CSIDriver", func(o runtime.Object) { o.(*storagev1.CSIDriver).Spec.AttachRequired = nil }), field.ErrorTypeRequired, "spec.attachedRequired", ""},
		{"csidriver mode", mut("CSIDriver", func(o runtime.Object) {
			o.(*storagev1.CSIDriver).Spec.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{"Forever"}
		}), field.ErrorTypeNotSupported, "spec.volumeLifecycleModes", ""},
		{"csidriver token expiry", mut("CSIDriver", func(o runtime.Object) {
			o.(*storagev1.CSIDriver).Spec.TokenRequests[0].ExpirationSeconds = ptr(int64(60))
		}), field.ErrorTypeInvalid, "spec.tokenRequests[0].expirationSeconds", "may not specify a duration less than 10 minutes"},
		{"csinode nodeID", mut("CSINode", func(o runtime.Object) { o.(*storagev1.CSINode).Spec.Drivers[0].NodeID = "" }), field.ErrorTypeRequired, "spec.drivers[0].nodeID", ""},
		{"csinode duplicate driver", mut("CSINode", func(o runtime.Object) {
			n := o.(*storagev1.CSINode)
			n.Spec.Drivers = append(n.Spec.Drivers, n.Spec.Drivers[0])
		}), field.ErrorTypeDuplicate, "spec.drivers[1].name", ""},
		{"csistoragecapacity class", mut("CSIStorageCapacity", func(o runtime.Object) { o.(*storagev1.CSIStorageCapacity).StorageClassName = "" }), field.ErrorTypeInvalid, "storageClassName", ""},
		{"csistoragecapacity negative", mut("CSIStorageCapacity", func(o runtime.Object) {
			o.(*storagev1.CSIStorageCapacity).Capacity = ptr(resource.MustParse("-1"))
		}), field.ErrorTypeInvalid, "capacity", "must be greater than or equal to 0"},
		{"volumeattachment source", mut("VolumeAttachment", func(o runtime.Object) {
			o.(*storagev1.VolumeAttachment).Spec.Source = storagev1.VolumeAttachmentSource{}
		}), field.ErrorTypeRequired, "spec.source", "must specify exactly one of inlineVolumeSpec and persistentVolumeName"},
		{"volumeattachment inline spec", mut("VolumeAttachment", func(o runtime.Object) {
			o.(*storagev1.VolumeAttachment).Spec.Source = storagev1.VolumeAttachmentSource{InlineVolumeSpec: &corev1.PersistentVolumeSpec{}}
		}), field.ErrorTypeRequired, "spec.source.inlineVolumeSpec.capacity", ""},
		{"volumeattachment attacher", mut("VolumeAttachment", func(o runtime.Object) { o.(*storagev1.VolumeAttachment).Spec.Attacher = "" }), field.ErrorTypeRequired, "spec.attacher", ""},
		{"csr request", mut("CertificateSigningRequest", func(o runtime.Object) {
			o.(*certificatesv1.CertificateSigningRequest).Spec.Request = []byte("junk")
		}), field.ErrorTypeInvalid, "spec.request", "PEM block type must be CERTIFICATE REQUEST"},
		{"csr usages", mut("CertificateSigningRequest", func(o runtime.Object) { o.(*certificatesv1.CertificateSigningRequest).Spec.Usages = nil }), field.ErrorTypeRequired, "spec.usages", ""},
		{"csr unknown usage", mut("CertificateSigningRequest", func(o runtime.Object) {
			o.(*certificatesv1.CertificateSigningRequest).Spec.Usages = []certificatesv1.KeyUsage{"flying"}
		}), field.ErrorTypeNotSupported, "spec.usages[0]", ""},
		{"csr signer", mut("CertificateSigningRequest", func(o runtime.Object) { o.(*certificatesv1.CertificateSigningRequest).Spec.SignerName = "example" }),
			field.ErrorTypeInvalid, "spec.signerName", "must be a fully qualified domain and path of the form 'example.com/signer-name'"},
		{"csr legacy signer", mut("CertificateSigningRequest", func(o runtime.Object) {
			o.(*certificatesv1.CertificateSigningRequest).Spec.SignerName = "kubernetes.io/legacy-unknown"
		}), field.ErrorTypeInvalid, "spec.signerName", "the legacy signerName is not allowed via this API version"},
		{"csr expiration", mut("CertificateSigningRequest", func(o runtime.Object) {
			o.(*certificatesv1.CertificateSigningRequest).Spec.ExpirationSeconds = ptr(int32(60))
		}), field.ErrorTypeInvalid, "spec.expirationSeconds", "may not specify a duration less than 600 seconds (10 minutes)"},
		{"csr approved and denied", mut("CertificateSigningRequest", func(o runtime.Object) {
			o.(*certificatesv1.CertificateSigningRequest).Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{
				{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}, {Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue}}
		}), field.ErrorTypeInvalid, "status.conditions[1].type", "Approved and Denied conditions are mutually exclusive"},
		{"csr approved false", mut("CertificateSigningRequest", func(o runtime.Object) {
			o.(*certificatesv1.CertificateSigningRequest).Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionFalse}}
		}), field.ErrorTypeNotSupported, "status.conditions[0].status", `supported values: "True"`},
		{"flowschema precedence", mut("FlowSchema", func(o runtime.Object) { o.(*flowcontrolv1.FlowSchema).Spec.MatchingPrecedence = 1 }),
			field.ErrorTypeInvalid, "spec.matchingPrecedence", "only the schema named 'exempt' may have matchingPrecedence 1"},
		{"flowschema level", mut("FlowSchema", func(o runtime.Object) { o.(*flowcontrolv1.FlowSchema).Spec.PriorityLevelConfiguration.Name = "" }),
			field.ErrorTypeRequired, "spec.priorityLevelConfiguration.name", "must reference a priority level"},
		{"flowschema subject", mut("FlowSchema", func(o runtime.Object) {
			o.(*flowcontrolv1.FlowSchema).Spec.Rules[0].Subjects[0].Group = &flowcontrolv1.GroupSubject{Name: "g"}
		}), field.ErrorTypeForbidden, "spec.rules[0].subjects[0].group", "group is forbidden when subject kind is not 'Group'"},
		{"flowschema url", mut("FlowSchema", func(o runtime.Object) {
			o.(*flowcontrolv1.FlowSchema).Spec.Rules[0].NonResourceRules[0].NonResourceURLs = []string{"/a*"}
		}), field.ErrorTypeInvalid, "spec.rules[0].nonResourceRules[0].nonResourceURLs[0]", "wildcard can only do suffix matching"},
		{"flowschema verbs", mut("FlowSchema", func(o runtime.Object) {
			o.(*flowcontrolv1.FlowSchema).Spec.Rules[0].ResourceRules[0].Verbs = []string{"fly"}
		}),
			field.ErrorTypeNotSupported, "spec.rules[0].resourceRules[0].verbs", ""},
		{"flowschema mandatory", mut("FlowSchema", func(o runtime.Object) {
			fs := o.(*flowcontrolv1.FlowSchema)
			fs.Name = "catch-all"
		}), field.ErrorTypeInvalid, "spec", "spec of 'catch-all' must equal the fixed value"},
		{"prioritylevel exempt type", mut("PriorityLevelConfiguration", func(o runtime.Object) {
			o.(*flowcontrolv1.PriorityLevelConfiguration).Spec.Type = flowcontrolv1.PriorityLevelEnablementExempt
		}), field.ErrorTypeInvalid, "spec.type", "type must be 'Exempt' if and only if name is 'exempt'"},
		{"prioritylevel hand size", mut("PriorityLevelConfiguration", func(o runtime.Object) {
			o.(*flowcontrolv1.PriorityLevelConfiguration).Spec.Limited.LimitResponse.Queuing.HandSize = 65
		}), field.ErrorTypeInvalid, "spec.limited.limitResponse.queuing.handSize", "should not be greater than queues (64)"},
		{"prioritylevel entropy", mut("PriorityLevelConfiguration", func(o runtime.Object) {
			q := o.(*flowcontrolv1.PriorityLevelConfiguration).Spec.Limited.LimitResponse.Queuing
			q.Queues, q.HandSize = 1000000, 10
		}), field.ErrorTypeInvalid, "spec.limited.limitResponse.queuing.handSize", "required entropy bits of deckSize 1000000 and handSize 10 should not be greater than 60"},
		{"prioritylevel lendable", mut("PriorityLevelConfiguration", func(o runtime.Object) {
			o.(*flowcontrolv1.PriorityLevelConfiguration).Spec.Limited.LendablePercent = ptr(int32(101))
		}), field.ErrorTypeInvalid, "spec.limited.lendablePercent", "must be between 0 and 100, inclusive"},
		{"prioritylevel duplicate condition", mut("PriorityLevelConfiguration", func(o runtime.Object) {
			o.(*flowcontrolv1.PriorityLevelConfiguration).Status.Conditions = []flowcontrolv1.PriorityLevelConfigurationCondition{{Type: "A"}, {Type: "A"}}
		}), field.ErrorTypeDuplicate, "status.conditions[1].type", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectErr(t, ValidateCreate(tc.obj), tc.typ, tc.path, tc.msg)
		})
	}
}

func TestAPIObjectsUpdate(t *testing.T) {
	objs := apiObjects(t)
	_, cert := testCSR(t)
	update := func(kind string, f func(runtime.Object)) field.ErrorList {
		old := objs[kind]
		o := old.DeepCopyObject()
		f(o)
		return ValidateUpdate(o, old)
	}
	expectErr(t, update("RuntimeClass", func(o runtime.Object) { o.(*nodev1.RuntimeClass).Handler = "runc" }), field.ErrorTypeInvalid, "handler", "field is immutable")
	expectErr(t, update("IngressClass", func(o runtime.Object) { o.(*networkingv1.IngressClass).Spec.Controller = "example.com/other" }), field.ErrorTypeInvalid, "spec.controller", "field is immutable")
	expectErr(t, update("CSIDriver", func(o runtime.Object) { o.(*storagev1.CSIDriver).Spec.AttachRequired = ptr(false) }), field.ErrorTypeInvalid, "spec.attachedRequired", "field is immutable")
	expectErr(t, update("CSINode", func(o runtime.Object) { o.(*storagev1.CSINode).Spec.Drivers[0].NodeID = "other" }), field.ErrorTypeInvalid, "CSINodeDriver", "field is immutable")
	expectErr(t, update("CSIStorageCapacity", func(o runtime.Object) { o.(*storagev1.CSIStorageCapacity).StorageClassName = "other" }), field.ErrorTypeInvalid, "storageClassName", "field is immutable")
	expectErr(t, update("VolumeAttachment", func(o runtime.Object) { o.(*storagev1.VolumeAttachment).Spec.NodeName = "node-2" }), field.ErrorTypeInvalid, "spec", "field is immutable")
	// A PriorityLevelConfiguration's and a FlowSchema's spec may change.
	if errs := update("FlowSchema", func(o runtime.Object) { o.(*flowcontrolv1.FlowSchema).Spec.MatchingPrecedence = 9000 }); len(errs) > 0 {
		t.Errorf("flow schema update: %s", errText(errs))
	}

	// A CSR is approved through /approval only, gets its certificate
	// through /status only, and keeps what it was given.
	csr := objs["CertificateSigningRequest"].(*certificatesv1.CertificateSigningRequest)
	approved := csr.DeepCopy()
	approved.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	expectErr(t, ValidateSubresourceUpdate("status", approved, csr), field.ErrorTypeForbidden, "status.conditions", `updates may not add a condition of type "Approved"`)
	expectErr(t, ValidateUpdate(approved, csr), field.ErrorTypeForbidden, "status.conditions", `updates may not add a condition of type "Approved"`)
	if errs := ValidateSubresourceUpdate("approval", approved, csr); len(errs) > 0 {
		t.Errorf("approval: %s", errText(errs))
	}
	unapproved := csr.DeepCopy()
	expectErr(t, ValidateSubresourceUpdate("approval", unapproved, approved), field.ErrorTypeForbidden, "status.conditions", `updates may not remove a condition of type "Approved"`)
	issued := approved.DeepCopy()
	issued.Status.Certificate = cert
	if errs := ValidateSubresourceUpdate("status", issued, approved); len(errs) > 0 {
		t.Errorf("issuing: %s", errText(errs))
	}
	expectErr(t, ValidateSubresourceUpdate("approval", issued, approved), field.ErrorTypeForbidden, "status.certificate", "updates may not set certificate content")
	reissued := issued.DeepCopy()
	reissued.Status.Certificate = append([]byte(nil), cert...)
	reissued.Status.Certificate[len(cert)-40] ^= 1
	expectErr(t, ValidateSubresourceUpdate("status", reissued, issued), field.ErrorTypeForbidden, "status.certificate", "")
	bad := approved.DeepCopy()
	bad.Status.Certificate = []byte("not a certificate")
	expectErr(t, ValidateSubresourceUpdate("status", bad, approved), field.ErrorTypeInvalid, "status.certificate", "must contain at least one CERTIFICATE PEM block")

	// Ingress status: load balancer addresses.
	ing := objs["Ingress"].(*networkingv1.Ingress)
	st := ing.DeepCopy()
	st.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "1.2.3"}, {Hostname: "10.0.0.1"}}
	errs := ValidateSubresourceUpdate("status", st, ing)
	expectErr(t, errs, field.ErrorTypeInvalid, "status.loadBalancer.ingress[0].ip", "must be a valid IP address")
	expectErr(t, errs, field.ErrorTypeInvalid, "status.loadBalancer.ingress[1].hostname", "must be a DNS name, not an IP address")
}
