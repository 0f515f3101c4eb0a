package registry

import (
	"context"
	"reflect"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMergeTolerations(t *testing.T) {
	secs := func(s int64) *int64 { return &s }
	exists := func(key string, effect corev1.TaintEffect) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect}
	}
	tests := []struct {
		name          string
		first, second []corev1.Toleration
		want          []corev1.Toleration
	}{
		{"disjoint", []corev1.Toleration{exists("a", "")}, []corev1.Toleration{exists("b", corev1.TaintEffectNoSchedule)},
			[]corev1.Toleration{exists("a", ""), exists("b", corev1.TaintEffectNoSchedule)}},
		{"duplicate", []corev1.Toleration{exists("a", "")}, []corev1.Toleration{exists("a", "")}, []corev1.Toleration{exists("a", "")}},
		{"covered by a later, wider one", []corev1.Toleration{exists("a", corev1.TaintEffectNoSchedule)}, []corev1.Toleration{exists("a", "")},
			[]corev1.Toleration{exists("a", "")}},
		{"tolerate everything", []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpEqual, Value: "x"}}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			[]corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{"a shorter NoExecute window is covered by a longer one",
			[]corev1.Toleration{{Key: "n", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(300)}},
			[]corev1.Toleration{{Key: "n", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(30)}},
			[]corev1.Toleration{{Key: "n", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(300)}}},
		{"values differ", []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpEqual, Value: "x"}}, []corev1.Toleration{{Key: "a", Value: "y"}},
			[]corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpEqual, Value: "x"}, {Key: "a", Value: "y"}}},
	}
	for _, tc := range tests {
		if got := mergeTolerations(tc.first, tc.second); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func condition(t certificatesv1.RequestConditionType, reason string) certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason}
}

func TestCSRCreate(t *testing.T) {
	csr := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{Username: "forged", Groups: []string{"system:masters"}},
		Status: certificatesv1.CertificateSigningRequestStatus{Certificate: []byte("x"), Conditions: []certificatesv1.CertificateSigningRequestCondition{condition(certificatesv1.CertificateApproved, "self")}}}
	prepareCSR(csr)
	ctx := WithUser(context.Background(), User{Name: "alice", UID: "1", Groups: []string{"dev", AllAuthenticated}, Extra: map[string][]string{"scope": {"a"}}})
	if err := admitCSR(ctx, csr); err != nil {
		t.Fatal(err)
	}
	s := csr.Spec
	if s.Username != "alice" || s.UID != "1" || !reflect.DeepEqual(s.Groups, []string{"dev", AllAuthenticated}) || !reflect.DeepEqual(s.Extra["scope"], certificatesv1.ExtraValue{"a"}) {
		t.Errorf("requester not recorded from the caller: %+v", s)
	}
	if len(csr.Status.Conditions) > 0 || len(csr.Status.Certificate) > 0 {
		t.Errorf("status kept on create: %+v", csr.Status)
	}
}

func TestCSRStatusKeepsApproval(t *testing.T) {
	stored := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: "example.com/a"}}
	stored.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{condition(certificatesv1.CertificateApproved, "Admin")}
	stored.Status.Conditions[0].LastTransitionTime = metav1.Unix(100, 0)
	sent := stored.DeepCopy()
	sent.Spec.SignerName = "example.com/b"
	sent.Labels = map[string]string{"l": "1"}
	sent.Status.Certificate = []byte("cert")
	sent.Status.Conditions[0].Reason = "Changed"
	sent.Status.Conditions = append(sent.Status.Conditions, condition("Issued", "Signer"))
	out := stored.DeepCopy()
	prepareCSRStatus(sent, out)
	if out.Spec.SignerName != "example.com/a" {
		t.Error("status write changed the spec")
	}
	if out.Labels["l"] != "1" || string(out.Status.Certificate) != "cert" {
		t.Errorf("status write lost labels or certificate: %+v", out)
	}
	if c := out.Status.Conditions[0]; c.Reason != "Admin" || !c.LastTransitionTime.Equal(&stored.Status.Conditions[0].LastTransitionTime) {
		t.Errorf("approval changed through status: %+v", c)
	}
	if c := out.Status.Conditions[1]; c.LastUpdateTime.IsZero() || c.LastTransitionTime.IsZero() {
		t.Errorf("new condition not stamped: %+v", c)
	}
}

func TestCSRApprovalWritesConditionsOnly(t *testing.T) {
	stored := &certificatesv1.CertificateSigningRequest{}
	stored.Status.Certificate = []byte("cert")
	sent := stored.DeepCopy()
	sent.Status.Certificate = []byte("other")
	sent.Annotations = map[string]string{"a": "1"}
	sent.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{condition(certificatesv1.CertificateApproved, "Admin")}
	out := stored.DeepCopy()
	prepareCSRApproval(sent, out)
	if string(out.Status.Certificate) != "cert" {
		t.Error("approval changed the certificate")
	}
	if len(out.Status.Conditions) != 1 || out.Status.Conditions[0].LastUpdateTime.IsZero() || out.Annotations["a"] != "1" {
		t.Errorf("approval not written: %+v", out)
	}
}
