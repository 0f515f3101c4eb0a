package printers

import (
	"reflect"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// TestAPIKindRows pins rows of the node, networking, storage (CSI),
// certificates and flowcontrol kinds, written from upstream's printers.
func TestAPIKindRows(t *testing.T) {
	rule := func(host string) networkingv1.IngressRule { return networkingv1.IngressRule{Host: host} }
	tests := []struct {
		name string
		list runtime.Object
		want []any
	}{
		{"runtimeclass", &nodev1.RuntimeClassList{Items: []nodev1.RuntimeClass{{ObjectMeta: om("gvisor"), Handler: "runsc"}}}, []any{"gvisor", "runsc", "5m"}},
		{"ingress", &networkingv1.IngressList{Items: []networkingv1.Ingress{{ObjectMeta: om("web"),
			Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"), Rules: []networkingv1.IngressRule{rule("a.io"), rule(""), rule("b.io")},
				TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.io"}}}},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.2"}, {Hostname: "lb.io"}, {IP: "10.0.0.2"}}}}}}},
			[]any{"web", "nginx", "a.io,b.io", "10.0.0.2,lb.io", "80, 443", "5m"}},
		{"ingress without class or hosts", &networkingv1.IngressList{Items: []networkingv1.Ingress{{ObjectMeta: om("any")}}}, []any{"any", "<none>", "*", "", "80", "5m"}},
		{"ingress with more hosts", &networkingv1.IngressList{Items: []networkingv1.Ingress{{ObjectMeta: om("many"),
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("a"), rule("b"), rule("c"), rule("d"), rule("e")}}}}},
			[]any{"many", "<none>", "a,b,c + 2 more...", "", "80", "5m"}},
		{"ingressclass", &networkingv1.IngressClassList{Items: []networkingv1.IngressClass{{ObjectMeta: om("nginx"), Spec: networkingv1.IngressClassSpec{
			Controller: "k8s.io/ingress-nginx", Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("k8s.example.com"), Kind: "IngressParameters", Name: "p"}}}}},
			[]any{"nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/p", "5m"}},
		{"csidriver", &storagev1.CSIDriverList{Items: []storagev1.CSIDriver{{ObjectMeta: om("d"), Spec: storagev1.CSIDriverSpec{AttachRequired: ptr.To(false),
			VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent, storagev1.VolumeLifecycleEphemeral}}}}},
			[]any{"d", false, false, false, "<unset>", false, "Persistent,Ephemeral", "5m"}},
		{"csinode", &storagev1.CSINodeList{Items: []storagev1.CSINode{{ObjectMeta: om("n"), Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: "d"}}}}}},
			[]any{"n", int64(1), "5m"}},
		{"csistoragecapacity", &storagev1.CSIStorageCapacityList{Items: []storagev1.CSIStorageCapacity{{ObjectMeta: om("c"), StorageClassName: "fast", Capacity: ptr.To(resource.MustParse("10Gi"))}, {ObjectMeta: om("u"), StorageClassName: "slow"}}},
			[]any{"c", "fast", "10Gi"}},
		{"volumeattachment", &storagev1.VolumeAttachmentList{Items: []storagev1.VolumeAttachment{{ObjectMeta: om("va"), Spec: storagev1.VolumeAttachmentSpec{Attacher: "csi.io",
			NodeName: "n1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv")}}, Status: storagev1.VolumeAttachmentStatus{Attached: true}}}},
			[]any{"va", "csi.io", "pv", "n1", true, "5m"}},
		{"csr", &certificatesv1.CertificateSigningRequestList{Items: []certificatesv1.CertificateSigningRequest{{ObjectMeta: om("csr"),
			Spec:   certificatesv1.CertificateSigningRequestSpec{SignerName: "example.com/s", Username: "alice", ExpirationSeconds: ptr.To(int32(3600))},
			Status: certificatesv1.CertificateSigningRequestStatus{Certificate: []byte("c"), Conditions: []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved}, {Type: certificatesv1.CertificateFailed}}}}}},
			[]any{"csr", "5m", "example.com/s", "alice", "60m", "Approved,Failed,Issued"}},
		{"csr pending", &certificatesv1.CertificateSigningRequestList{Items: []certificatesv1.CertificateSigningRequest{{ObjectMeta: om("p")}}},
			[]any{"p", "5m", "<none>", "", "<none>", "Pending"}},
		{"flowschema", &flowcontrolv1.FlowSchemaList{Items: []flowcontrolv1.FlowSchema{{ObjectMeta: om("fs"), Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "pl"}, MatchingPrecedence: 500,
			DistinguisherMethod: &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType}},
			Status: flowcontrolv1.FlowSchemaStatus{Conditions: []flowcontrolv1.FlowSchemaCondition{{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse}}}}}},
			[]any{"fs", "pl", int64(500), "ByUser", "5m", "False"}},
		{"prioritylevel limited", &flowcontrolv1.PriorityLevelConfigurationList{Items: []flowcontrolv1.PriorityLevelConfiguration{{ObjectMeta: om("pl"), Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited, Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr.To(int32(30)),
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue, Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 64, HandSize: 6, QueueLengthLimit: 50}}}}}}},
			[]any{"pl", "Limited", int64(30), int64(64), int64(6), int64(50), "5m"}},
		{"prioritylevel exempt", &flowcontrolv1.PriorityLevelConfigurationList{Items: []flowcontrolv1.PriorityLevelConfiguration{{ObjectMeta: om("exempt"),
			Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt}}}},
			[]any{"exempt", "Exempt", "<none>", "<none>", "<none>", "<none>", "5m"}},
	}
	for _, tc := range tests {
		cols, ok := Columns(tc.list)
		if !ok {
			t.Errorf("%s: no columns", tc.name)
			continue
		}
		rows, err := Rows(tc.list, testNow)
		if err != nil || len(rows) == 0 {
			t.Errorf("%s: rows %v, %v", tc.name, rows, err)
			continue
		}
		for _, r := range rows {
			if len(r.Cells) != len(cols) {
				t.Errorf("%s: %d cells for %d columns", tc.name, len(r.Cells), len(cols))
			}
		}
		if !reflect.DeepEqual(rows[0].Cells, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.name, rows[0].Cells, tc.want)
		}
	}
}
