package registry

import (
	"context"
	"reflect"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
