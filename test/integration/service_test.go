package integration

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/registry"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func service(name string, typ corev1.ServiceType, ip string, nodePort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: typ, ClusterIP: ip, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: nodePort}}},
	}
}

// Services get a cluster IP (and node ports when asked) that no other
// Service holds; deletion gives them back.
func TestServiceAddressAllocation(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	svcs := srv.Clientset(t).CoreV1().Services("default")
	ctx := context.Background()

	k, err := svcs.Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || k.Spec.ClusterIP != registry.KubernetesServiceIP.String() {
		t.Fatalf("built-in kubernetes service: %v %v", k, err)
	}
	a, err := svcs.Create(ctx, service("a", "", "", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(a.Spec.ClusterIP)
	if err != nil || !registry.ServiceCIDR.Contains(ip) || ip == registry.KubernetesServiceIP {
		t.Fatalf("allocated %q", a.Spec.ClusterIP)
	}
	if len(a.Spec.ClusterIPs) != 1 || a.Spec.ClusterIPs[0] != a.Spec.ClusterIP || a.Spec.IPFamilyPolicy == nil {
		t.Fatalf("clusterIPs/family not filled: %+v", a.Spec)
	}
	// The same address asked for explicitly is refused with upstream's words.
	_, err = svcs.Create(ctx, service("b", "", a.Spec.ClusterIP, 0), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided IP is already allocated") {
		t.Fatalf("duplicate IP: %v", err)
	}
	if _, err := svcs.Create(ctx, service("c", "", "192.168.0.1", 0), metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "not in the valid range") {
		t.Fatalf("out-of-range IP: %v", err)
	}
	// An update that omits the address keeps it.
	a.Spec.ClusterIP, a.Spec.ClusterIPs = "", nil
	if a2, err := svcs.Update(ctx, a, metav1.UpdateOptions{}); err != nil || a2.Spec.ClusterIP != ip.String() {
		t.Fatalf("update kept %q (%v), want %s", a2.Spec.ClusterIP, err, ip)
	}
	// Node ports.
	np, err := svcs.Create(ctx, service("np", corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := np.Spec.Ports[0].NodePort
	if port < 30000 || port > 32767 {
		t.Fatalf("node port %d", port)
	}
	if _, err := svcs.Create(ctx, service("np2", corev1.ServiceTypeNodePort, "", port), metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided port is already allocated") {
		t.Fatalf("duplicate node port: %v", err)
	}
	// Headless services get no address.
	h, err := svcs.Create(ctx, service("headless", "", corev1.ClusterIPNone, 0), metav1.CreateOptions{})
	if err != nil || h.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("headless: %v %v", h, err)
	}
	// Deleting gives the address and port back.
	if err := svcs.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := svcs.Delete(ctx, "np", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, service("b", "", ip.String(), 0), metav1.CreateOptions{}); err != nil {
		t.Fatalf("released IP not reusable: %v", err)
	}
	if _, err := svcs.Create(ctx, service("np2", corev1.ServiceTypeNodePort, "", port), metav1.CreateOptions{}); err != nil {
		t.Fatalf("released node port not reusable: %v", err)
	}
}

// Changing a Service's type drops what the new type does not use when
// the client sent it back unchanged, as upstream: `kubectl edit` of the
// type alone works in both directions.
func TestServiceTypeChanges(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	svcs := srv.Clientset(t).CoreV1().Services("default")
	ctx := context.Background()
	update := func(name string, mutate func(*corev1.Service)) *corev1.Service {
		t.Helper()
		s, err := svcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mutate(s)
		s, err = svcs.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update %s: %v", name, err)
		}
		return s
	}

	// ClusterIP → ExternalName: the address goes (and is free again).
	a, err := svcs.Create(ctx, service("to-external", "", "", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := a.Spec.ClusterIP
	a = update("to-external", func(s *corev1.Service) {
		s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "foo.example.com"
	})
	if a.Spec.ClusterIP != "" || len(a.Spec.ClusterIPs) != 0 || a.Spec.IPFamilyPolicy != nil || len(a.Spec.IPFamilies) != 0 {
		t.Fatalf("ExternalName kept its cluster IP fields: %+v", a.Spec)
	}
	if _, err := svcs.Create(ctx, service("takes-ip", "", ip, 0), metav1.CreateOptions{}); err != nil {
		t.Fatalf("the released address %s: %v", ip, err)
	}
	// ... and back: a new address.
	a = update("to-external", func(s *corev1.Service) {
		s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeClusterIP, ""
	})
	if a.Spec.ClusterIP == "" || a.Spec.ClusterIP == ip {
		t.Fatalf("back to ClusterIP: address %q", a.Spec.ClusterIP)
	}

	// NodePort → ClusterIP: node ports and the external traffic policy go.
	np, err := svcs.Create(ctx, service("np", corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if np.Spec.Ports[0].NodePort == 0 || np.Spec.ExternalTrafficPolicy == "" {
		t.Fatalf("NodePort service: %+v", np.Spec)
	}
	np = update("np", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP })
	if np.Spec.Ports[0].NodePort != 0 || np.Spec.ExternalTrafficPolicy != "" {
		t.Fatalf("ClusterIP kept node port %d / policy %q", np.Spec.Ports[0].NodePort, np.Spec.ExternalTrafficPolicy)
	}

	// A value changed together with the type is the client's: refused.
	_, err = svcs.Create(ctx, service("np2", corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := svcs.Get(ctx, "np2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Type = corev1.ServiceTypeClusterIP
	s.Spec.Ports[0].NodePort = 30999
	if _, err := svcs.Update(ctx, s, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.ports[0].nodePort") {
		t.Fatalf("new node port on a ClusterIP Service: %v", err)
	}
}
