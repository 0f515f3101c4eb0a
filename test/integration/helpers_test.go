package integration

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// rootCA is the ConfigMap the control plane puts in every namespace.
const rootCA = "kube-root-ca.crt"

// settled waits until the controllers have put into ns what they put in
// every namespace (the default ServiceAccount, the root CA ConfigMap), so
// tests that count objects count them deterministically.
func settled(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err1 := cs.CoreV1().ConfigMaps(ns).Get(ctx, rootCA, metav1.GetOptions{})
		_, err2 := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err1 == nil && err2 == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s not settled: %v %v", ns, err1, err2)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
