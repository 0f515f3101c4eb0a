package testserver

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Eventually polls cond until it holds, failing the test with what and
// cond's last state once timeout has passed.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last state: %s", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Settled waits until the controllers have put into ns what every
// namespace gets (the default ServiceAccount, which pods need, and the
// kube-root-ca.crt ConfigMap).
func Settled(t testing.TB, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	Eventually(t, 20*time.Second, "namespace "+ns+" settled", func() (bool, string) {
		_, err1 := cs.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		_, err2 := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err1 != nil {
			return false, err1.Error()
		}
		if err2 != nil {
			return false, err2.Error()
		}
		return true, ""
	})
}
