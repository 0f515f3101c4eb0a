package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// The API groups beyond the workloads: node.k8s.io, networking.k8s.io,
// storage.k8s.io's CSI kinds and VolumeAttachments, certificates.k8s.io
// and flowcontrol.apiserver.k8s.io, through the operations of upstream's
// conformance specs and the rules of their strategies.

func TestNodeAPIGroup(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	exerciseKind(t, srv, apiKind{
		gvr: schema.GroupVersionResource{Group: "node.k8s.io", Version: "v1", Resource: "runtimeclasses"}, kind: "RuntimeClass",
		new:     func(name string) map[string]any { return map[string]any{"handler": name + "-handler"} },
		columns: []string{"Name", "Handler", "Age"},
	}, "")

	// A PUT creates a missing RuntimeClass; an update must carry the
	// resourceVersion it replaces.
	rcs := cs.NodeV1().RuntimeClasses()
	put, err := rcs.Update(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "put"}, Handler: "put"}, metav1.UpdateOptions{})
	if err != nil || put.UID == "" {
		t.Fatalf("create by PUT: %v %v", put, err)
	}
	put.ResourceVersion = ""
	put.Labels = map[string]string{"a": "b"}
	if _, err := rcs.Update(ctx, put, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), `runtimeclasses.node.k8s.io "put" is invalid: metadata.resourceVersion: Invalid value: `) ||
		!strings.Contains(err.Error(), "must be specified for an update") {
		t.Errorf("update without resourceVersion: %v", err)
	}
	if _, err := rcs.Patch(ctx, "put", types.MergePatchType, []byte(`{"metadata":{"labels":{"a":"c"}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("patch: %v", err)
	}

	// RuntimeClass admission of pods.
	pods := cs.CoreV1().Pods("default")
	newPod := func(name, class string) *corev1.Pod {
		p := pod(name, nil)
		p.Spec.RuntimeClassName = &class
		return p
	}
	if _, err := pods.Create(ctx, newPod("missing", "nope"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), `pods "missing" is forbidden: pod rejected: RuntimeClass "nope" not found`) {
		t.Fatalf("pod of a missing class: %v", err)
	}
	overhead := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("1Mi")}
	_, err = rcs.Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "sandboxed"}, Handler: "test-handler",
		Overhead: &nodev1.Overhead{PodFixed: overhead},
		Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{"sandbox": "yes"},
			Tolerations: []corev1.Toleration{{Key: "sandbox", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pods.Create(ctx, newPod("sandboxed", "sandboxed"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !equalResources(p.Spec.Overhead, overhead) || p.Spec.NodeSelector["sandbox"] != "yes" ||
		!slices.ContainsFunc(p.Spec.Tolerations, func(t corev1.Toleration) bool { return t.Key == "sandbox" }) {
		t.Errorf("class not applied: overhead %v, selector %v, tolerations %v", p.Spec.Overhead, p.Spec.NodeSelector, p.Spec.Tolerations)
	}
	other := newPod("other-overhead", "sandboxed")
	other.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	if _, err := pods.Create(ctx, other, metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "Pod's Overhead doesn't match RuntimeClass's defined Overhead") {
		t.Errorf("pod with another overhead: %v", err)
	}
	conflict := newPod("conflict", "sandboxed")
	conflict.Spec.NodeSelector = map[string]string{"sandbox": "no"}
	if _, err := pods.Create(ctx, conflict, metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "conflict: runtimeClass.scheduling.nodeSelector[sandbox] = yes") {
		t.Errorf("pod with a conflicting selector: %v", err)
	}
	// The handler may not change; a deleted class refuses new pods.
	rc, _ := rcs.Get(ctx, "sandboxed", metav1.GetOptions{})
	rc.Handler = "runc"
	if _, err := rcs.Update(ctx, rc, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("handler change: want Invalid, got %v", err)
	}
	if err := rcs.Delete(ctx, "sandboxed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Admission reads classes from its informer, as upstream's: the
	// refusal comes once the cache has seen the delete.
	testserver.Eventually(t, 10*time.Second, "pod of a deleted class refused", func() (bool, string) {
		_, err := pods.Create(ctx, newPod("deleted", "sandboxed"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsForbidden(err), fmt.Sprint(err)
	})
}

func equalResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

func TestNetworkingAPIGroup(t *testing.T) {
	// Without the built-in ingress: its default class and status writes
	// would change what this test checks of the bare API.
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"ingress"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	exerciseKind(t, srv, apiKind{
		gvr: schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingressclasses"}, kind: "IngressClass",
		new: func(string) map[string]any {
			return map[string]any{"spec": map[string]any{"controller": "example.com/ingress"}}
		},
		columns: []string{"Name", "Controller", "Parameters", "Age"},
	}, "")
	ingressSpec := func(host string) map[string]any {
		return map[string]any{"spec": map[string]any{
			"defaultBackend": map[string]any{"service": map[string]any{"name": "default-backend", "port": map[string]any{"number": int64(8080)}}},
			"rules": []any{map[string]any{"host": host, "http": map[string]any{"paths": []any{map[string]any{
				"path": "/", "pathType": "ImplementationSpecific",
				"backend": map[string]any{"service": map[string]any{"name": "test-backend", "port": map[string]any{"number": int64(8080)}}}}}}}},
		}}
	}
	exerciseKind(t, srv, apiKind{
		gvr: schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}, kind: "Ingress", namespaced: true,
		new:          func(name string) map[string]any { return ingressSpec(name + ".example.com") },
		columns:      []string{"Name", "Class", "Hosts", "Address", "Ports", "Age"},
		subresources: []string{"status"},
	}, "default")

	// Status: only through /status; a spec change moves the generation.
	ings := cs.NetworkingV1().Ingresses("default")
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.example.com",
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
		Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.9"}}}}}
	created, err := ings.Create(ctx, ing, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Status.LoadBalancer.Ingress) != 0 || created.Generation != 1 || created.Spec.IngressClassName != nil {
		t.Errorf("new ingress: status %v, generation %d, class %v", created.Status, created.Generation, created.Spec.IngressClassName)
	}
	patched, err := ings.Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"annotations":{"patchedstatus":"true"}},"status":{"loadBalancer":{"ingress":[{"ip":"169.1.1.1"}]}},"spec":{"ingressClassName":"x"}}`), metav1.PatchOptions{}, "status")
	if err != nil || patched.Status.LoadBalancer.Ingress[0].IP != "169.1.1.1" || patched.Annotations["patchedstatus"] != "true" || patched.Spec.IngressClassName != nil || patched.Generation != 1 {
		t.Fatalf("status patch: %+v %v", patched, err)
	}
	patched.Status.LoadBalancer.Ingress[0].IP = "not-an-ip"
	if _, err := ings.UpdateStatus(ctx, patched, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.loadBalancer.ingress[0].ip") {
		t.Errorf("bad status: %v", err)
	}
	spec, err := ings.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"ingressClassName":"y"},"status":{"loadBalancer":null}}`), metav1.PatchOptions{})
	if err != nil || spec.Generation != 2 || len(spec.Status.LoadBalancer.Ingress) != 1 {
		t.Fatalf("spec patch: generation %d, status %v, %v", spec.Generation, spec.Status, err)
	}

	// The default IngressClass fills in a new Ingress's class.
	ics := cs.NetworkingV1().IngressClasses()
	for _, n := range []string{"b-default", "a-default"} {
		if _, err := ics.Create(ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: n,
			Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}}, Spec: networkingv1.IngressClassSpec{Controller: "example.com/x"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Both were created within the same second: the newer wins, then the
	// lower name.
	a, _ := ics.Get(ctx, "a-default", metav1.GetOptions{})
	b, _ := ics.Get(ctx, "b-default", metav1.GetOptions{})
	want := "a-default"
	if b.CreationTimestamp.After(a.CreationTimestamp.Time) {
		want = "b-default"
	}
	// Admission reads the classes from its informer, as upstream's: the
	// choice is checked once the cache holds both (dry runs until then).
	defaulted := ing.DeepCopy()
	defaulted.Name = "defaulted"
	testserver.Eventually(t, 10*time.Second, "the default class chosen among both", func() (bool, string) {
		out, err := ings.Create(ctx, defaulted, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil || out.Spec.IngressClassName == nil {
			return false, fmt.Sprint(out, err)
		}
		return *out.Spec.IngressClassName == want, "class " + *out.Spec.IngressClassName + ", want " + want
	})
	out, err := ings.Create(ctx, defaulted, metav1.CreateOptions{})
	if err != nil || out.Spec.IngressClassName == nil || *out.Spec.IngressClassName != want {
		t.Fatalf("defaulted ingress: %v %v, want class %s", out, err, want)
	}
	annotated := ing.DeepCopy()
	annotated.Name, annotated.Annotations = "annotated", map[string]string{"kubernetes.io/ingress.class": "legacy"}
	if out, err := ings.Create(ctx, annotated, metav1.CreateOptions{}); err != nil || out.Spec.IngressClassName != nil {
		t.Errorf("an ingress naming its class by annotation keeps it: %v %v", out.Spec.IngressClassName, err)
	}
}

func TestStorageAPIGroup(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	storage := func(res string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "storage.k8s.io", Version: "v1", Resource: res}
	}
	exerciseKind(t, srv, apiKind{gvr: storage("csidrivers"), kind: "CSIDriver",
		new: func(string) map[string]any {
			return map[string]any{"spec": map[string]any{"volumeLifecycleModes": []any{"Ephemeral"}, "fsGroupPolicy": "ReadWriteOnceWithFSType"}}
		},
		columns: []string{"Name", "AttachRequired", "PodInfoOnMount", "StorageCapacity", "TokenRequests", "RequiresRepublish", "Modes", "Age"},
	}, "")
	exerciseKind(t, srv, apiKind{gvr: storage("csinodes"), kind: "CSINode",
		new: func(name string) map[string]any {
			return map[string]any{"spec": map[string]any{"drivers": []any{map[string]any{"name": "csi.example.com", "nodeID": name}}}}
		},
		columns: []string{"Name", "Drivers", "Age"},
	}, "")
	exerciseKind(t, srv, apiKind{gvr: storage("csistoragecapacities"), kind: "CSIStorageCapacity", namespaced: true,
		new: func(string) map[string]any {
			return map[string]any{"storageClassName": "e2e.example.com", "capacity": "1Gi"}
		},
		columns: []string{"Name", "StorageClassName", "Capacity"},
	}, "default")
	exerciseKind(t, srv, apiKind{gvr: storage("volumeattachments"), kind: "VolumeAttachment",
		new: func(name string) map[string]any {
			return map[string]any{"spec": map[string]any{"attacher": "e2e-test.storage.k8s.io", "nodeName": "node-1", "source": map[string]any{"persistentVolumeName": "pv-" + name}},
				"status": map[string]any{"attached": true}}
		},
		columns:      []string{"Name", "Attacher", "PV", "Node", "Attached", "Age"},
		subresources: []string{"status"},
	}, "")

	// CSIDrivers: defaults, generation of spec changes, immutable fields.
	drivers := cs.StorageV1().CSIDrivers()
	d, err := drivers.Create(ctx, &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "inline.example.com"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !*d.Spec.AttachRequired || *d.Spec.PodInfoOnMount || len(d.Spec.VolumeLifecycleModes) != 1 || *d.Spec.FSGroupPolicy != storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy {
		t.Errorf("CSIDriver defaults: %+v", d.Spec)
	}
	d.Spec.PodInfoOnMount = ptr.To(true)
	if d2, err := drivers.Update(ctx, d, metav1.UpdateOptions{}); err != nil || d2.Generation != d.Generation+1 {
		t.Errorf("spec change: generation %d -> %v, %v", d.Generation, d2, err)
	}
	d, _ = drivers.Get(ctx, d.Name, metav1.GetOptions{})
	unversioned := d.DeepCopy()
	unversioned.ResourceVersion = ""
	if _, err := drivers.Update(ctx, unversioned, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("update without resourceVersion: want Invalid, got %v", err)
	}
	if _, err := drivers.Update(ctx, &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "missing.example.com"}}, metav1.UpdateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("PUT of a missing CSIDriver: want NotFound, got %v", err)
	}
	d.Spec.AttachRequired = ptr.To(false)
	if _, err := drivers.Update(ctx, d, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("attachRequired change: want Invalid, got %v", err)
	}

	// VolumeAttachments: status only through /status, which keeps the
	// stored metadata.
	vas := cs.StorageV1().VolumeAttachments()
	pv := "pv-x"
	va, err := vas.Create(ctx, &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: "va-x"}, Spec: storagev1.VolumeAttachmentSpec{
		Attacher: "e2e-test.storage.k8s.io", NodeName: "node-1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}},
		Status: storagev1.VolumeAttachmentStatus{Attached: true}}, metav1.CreateOptions{})
	if err != nil || va.Status.Attached {
		t.Fatalf("create: %v %v", va, err)
	}
	st, err := vas.Patch(ctx, "va-x", types.MergePatchType, []byte(`{"metadata":{"labels":{"via":"status"}},"status":{"attached":true}}`), metav1.PatchOptions{}, "status")
	if err != nil || !st.Status.Attached || st.Labels["via"] != "" {
		t.Fatalf("status patch: %+v %v", st, err)
	}
	st.Status.Attached = false
	if st, err = vas.UpdateStatus(ctx, st, metav1.UpdateOptions{}); err != nil || st.Status.Attached {
		t.Fatalf("status update: %v", err)
	}
	st.Spec.NodeName = "node-2"
	if _, err := vas.Update(ctx, st, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("spec change: want Invalid, got %v", err)
	}

	// Pods with CSI inline volumes are accepted (CSIInlineVolumes spec).
	p := pod("csi-inline", nil)
	p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "e2e.example.com", FSType: ptr.To("ext4"), ReadOnly: ptr.To(true)}}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/mnt"}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Errorf("pod with a CSI volume: %v", err)
	}
}

// csrRequest is a PEM certificate request and a self-signed certificate.
func csrRequest(t *testing.T) (req, cert []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "e2e.example.com"}, DNSNames: []string{"e2e.example.com"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "e2e.example.com"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
}

func TestCertificatesAPIGroup(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	req, cert := csrRequest(t)
	exerciseKind(t, srv, apiKind{
		gvr: schema.GroupVersionResource{Group: "certificates.k8s.io", Version: "v1", Resource: "certificatesigningrequests"}, kind: "CertificateSigningRequest",
		new: func(string) map[string]any {
			return map[string]any{"spec": map[string]any{"request": base64.StdEncoding.EncodeToString(req), "signerName": "example.com/e2e",
				"usages": []any{"digital signature", "server auth"}}}
		},
		columns:      []string{"Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"},
		subresources: []string{"approval", "status"},
	}, "")

	csrs := cs.CertificatesV1().CertificateSigningRequests()
	tmpl := &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-example-csr-"}, Spec: certificatesv1.CertificateSigningRequestSpec{
		Request: req, SignerName: "example.com/e2e-signer", ExpirationSeconds: ptr.To(int32(3600)), Username: "forged", Groups: []string{"forged"},
		Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth}}}
	var created *certificatesv1.CertificateSigningRequest
	for range 3 {
		c, err := csrs.Create(ctx, tmpl, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created = c
	}
	// The requester is the caller, whatever the request says.
	if created.Spec.Username == "forged" || created.Spec.Username == "" || !slices.Contains(created.Spec.Groups, "system:authenticated") {
		t.Errorf("requester: %q %v", created.Spec.Username, created.Spec.Groups)
	}
	list, err := csrs.List(ctx, metav1.ListOptions{FieldSelector: "spec.signerName=example.com/e2e-signer"})
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("list by signer: %v %v", list, err)
	}
	// The spec never changes; status and approval only through theirs.
	upd := created.DeepCopy()
	upd.Spec.SignerName = "example.com/other"
	upd.Status.Certificate = cert
	if out, err := csrs.Update(ctx, upd, metav1.UpdateOptions{}); err != nil || out.Spec.SignerName != "example.com/e2e-signer" || len(out.Status.Certificate) > 0 {
		t.Errorf("update of spec/status through the object: %v %v", out, err)
	}
	dc := dynamicClient(t, srv)
	gvr := certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests")
	for _, sub := range []string{"approval", "status"} {
		u, err := dc.Resource(gvr).Get(ctx, created.Name, metav1.GetOptions{}, sub)
		if err != nil || u.GetUID() != created.UID || u.GetKind() != "CertificateSigningRequest" {
			t.Fatalf("get /%s: %v %v", sub, u, err)
		}
	}
	approval, err := csrs.Patch(ctx, created.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"patchedapproval":"true"}},"status":{"conditions":[{"type":"ApprovalPatch","status":"True","reason":"e2e"}]}}`), metav1.PatchOptions{}, "approval")
	if err != nil || len(approval.Status.Conditions) != 1 || approval.Annotations["patchedapproval"] != "true" || approval.Status.Conditions[0].LastUpdateTime.IsZero() {
		t.Fatalf("approval patch: %+v %v", approval, err)
	}
	approval.Status.Conditions = append(approval.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "E2E"})
	approval.Status.Certificate = cert // not through /approval
	approved, err := csrs.UpdateApproval(ctx, approval.Name, approval, metav1.UpdateOptions{})
	if err != nil || len(approved.Status.Conditions) != 2 || len(approved.Status.Certificate) > 0 {
		t.Fatalf("approval update: %+v %v", approved, err)
	}
	// /status sets the certificate but cannot approve or deny.
	certJSON := `"` + base64.StdEncoding.EncodeToString(cert) + `"`
	status, err := csrs.Patch(ctx, created.Name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"patchedstatus":"true"}},"status":{"certificate":`+certJSON+`}}`), metav1.PatchOptions{}, "status")
	if err != nil || string(status.Status.Certificate) != string(cert) || status.Annotations["patchedstatus"] != "true" {
		t.Fatalf("status patch: %v", err)
	}
	status.Status.Conditions = append(status.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue})
	if _, err := csrs.UpdateStatus(ctx, status, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("denial through /status: want Invalid, got %v", err)
	}
	status.Status.Conditions[len(status.Status.Conditions)-1].Type = "StatusUpdate"
	out, err := csrs.UpdateStatus(ctx, status, metav1.UpdateOptions{})
	if err != nil || len(out.Status.Conditions) != 3 || out.Status.Conditions[2].Type != "StatusUpdate" {
		t.Fatalf("status update: %+v %v", out, err)
	}
	if err := csrs.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{FieldSelector: "spec.signerName=example.com/e2e-signer"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := csrs.List(ctx, metav1.ListOptions{FieldSelector: "spec.signerName=example.com/e2e-signer"}); len(l.Items) != 0 {
		t.Errorf("left after deletecollection: %d", len(l.Items))
	}
}

func TestFlowControlAPIGroup(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	fc := cs.FlowcontrolV1()

	// The objects every upstream server keeps.
	for _, n := range []string{"exempt", "catch-all", "system", "node-high", "leader-election", "workload-high", "workload-low", "global-default"} {
		if _, err := fc.PriorityLevelConfigurations().Get(ctx, n, metav1.GetOptions{}); err != nil {
			t.Errorf("priority level %s: %v", n, err)
		}
	}
	for _, n := range []string{"exempt", "catch-all", "probes", "system-leader-election", "workload-leader-election", "endpoint-controller",
		"kube-controller-manager", "kube-scheduler", "kube-system-service-accounts", "service-accounts", "global-default", "system-nodes", "system-node-high"} {
		if _, err := fc.FlowSchemas().Get(ctx, n, metav1.GetOptions{}); err != nil {
			t.Errorf("flow schema %s: %v", n, err)
		}
	}
	// Mandatory specs are fixed.
	catchAll, err := fc.FlowSchemas().Get(ctx, "catch-all", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	catchAll.Spec.MatchingPrecedence = 9000
	if _, err := fc.FlowSchemas().Update(ctx, catchAll, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec of 'catch-all' must equal the fixed value") {
		t.Errorf("mandatory spec change: %v", err)
	}

	// Each schema says whether its level exists.
	dangling := func(name string) flowcontrolv1.ConditionStatus {
		fs, err := fc.FlowSchemas().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "error: " + flowcontrolv1.ConditionStatus(err.Error())
		}
		for _, c := range fs.Status.Conditions {
			if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
				return c.Status
			}
		}
		return ""
	}
	testserver.Eventually(t, 30*time.Second, "global-default not dangling", func() (bool, string) {
		d := dangling("global-default")
		return d == flowcontrolv1.ConditionFalse, string(d)
	})
	orphan := &flowcontrolv1.FlowSchema{ObjectMeta: metav1.ObjectMeta{Name: "orphan"}, Spec: flowcontrolv1.FlowSchemaSpec{
		MatchingPrecedence: 5000, PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "later"}}}
	if _, err := fc.FlowSchemas().Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Eventually(t, 30*time.Second, "orphan dangling", func() (bool, string) {
		d := dangling("orphan")
		return d == flowcontrolv1.ConditionTrue, string(d)
	})
	if _, err := fc.PriorityLevelConfigurations().Create(ctx, &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "later"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Eventually(t, 30*time.Second, "orphan's level found", func() (bool, string) {
		d := dangling("orphan")
		return d == flowcontrolv1.ConditionFalse, string(d)
	})

	flow := schema.GroupVersionResource{Group: "flowcontrol.apiserver.k8s.io", Version: "v1"}
	fsGVR, plGVR := flow, flow
	fsGVR.Resource, plGVR.Resource = "flowschemas", "prioritylevelconfigurations"
	exerciseKind(t, srv, apiKind{gvr: fsGVR, kind: "FlowSchema",
		new: func(string) map[string]any {
			return map[string]any{"spec": map[string]any{"matchingPrecedence": int64(10000), "priorityLevelConfiguration": map[string]any{"name": "global-default"},
				"distinguisherMethod": map[string]any{"type": "ByUser"},
				"rules": []any{map[string]any{"subjects": []any{map[string]any{"kind": "User", "user": map[string]any{"name": "example-e2e-non-existent-user"}}},
					"nonResourceRules": []any{map[string]any{"verbs": []any{"*"}, "nonResourceURLs": []any{"*"}}}}}}}
		},
		columns:      []string{"Name", "PriorityLevel", "MatchingPrecedence", "DistinguisherMethod", "Age", "MissingPL"},
		subresources: []string{"status"},
	}, "")
	exerciseKind(t, srv, apiKind{gvr: plGVR, kind: "PriorityLevelConfiguration",
		new: func(string) map[string]any {
			return map[string]any{"spec": map[string]any{"type": "Limited", "limited": map[string]any{"nominalConcurrencyShares": int64(2), "limitResponse": map[string]any{"type": "Reject"}}}}
		},
		columns:      []string{"Name", "Type", "NominalConcurrencyShares", "Queues", "HandSize", "QueueLengthLimit", "Age"},
		subresources: []string{"status"},
	}, "")

	// Generation counts spec changes; /status writes conditions only.
	pls := fc.PriorityLevelConfigurations()
	pl, err := pls.Create(ctx, &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-example-pl-"}, Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
		Type: flowcontrolv1.PriorityLevelEnablementLimited, Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
			NominalConcurrencyShares: ptr.To(int32(2)), LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}}}}, metav1.CreateOptions{})
	if err != nil || pl.Generation != 1 || *pl.Spec.Limited.LendablePercent != 0 {
		t.Fatalf("create: %+v %v", pl, err)
	}
	pl, err = pls.Patch(ctx, pl.Name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"patched":"true"}},"spec":{"limited":{"nominalConcurrencyShares":4}}}`), metav1.PatchOptions{})
	if err != nil || pl.Generation != 2 || *pl.Spec.Limited.NominalConcurrencyShares != 4 {
		t.Fatalf("spec patch: %+v %v", pl, err)
	}
	st, err := pls.Patch(ctx, pl.Name, types.MergePatchType, []byte(`{"metadata":{"labels":{"via":"status"}},"status":{"conditions":[{"type":"PatchStatusFailed","status":"False","reason":"e2e"}]}}`), metav1.PatchOptions{}, "status")
	if err != nil || len(st.Status.Conditions) != 1 || st.Labels["via"] != "" || st.Generation != 2 {
		t.Fatalf("status patch: %+v %v", st, err)
	}
	st.Status.Conditions = append(st.Status.Conditions, flowcontrolv1.PriorityLevelConfigurationCondition{Type: "PatchStatusFailed"})
	if _, err := pls.UpdateStatus(ctx, st, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("duplicate condition: want Invalid, got %v", err)
	}
}
