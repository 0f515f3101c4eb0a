package integration

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// ServiceAccount admission as upstream: a pod naming an account that
// does not exist is refused with upstream's message and nothing is
// stored; once the account exists the same pod is admitted; and a pod
// created the moment its namespace is (before the serviceaccount
// controller has made "default") is admitted, because the default
// account is waited for briefly.
func TestServiceAccountAdmissionMissingAccount(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()

	t.Run("default account of a new namespace", func(t *testing.T) {
		ns := "sa-fresh"
		mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		got, err := cs.CoreV1().Pods(ns).Create(ctx, podFor("first", ""), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("pod created with its namespace: %v", err)
		}
		if got.Spec.ServiceAccountName != "default" {
			t.Errorf("serviceAccountName %q, want default", got.Spec.ServiceAccountName)
		}
	})

	ns := "sa-missing"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	testserver.Settled(t, cs, ns)

	_, err := cs.CoreV1().Pods(ns).Create(ctx, podFor("x", "ghost"), metav1.CreateOptions{})
	want := `pods "x" is forbidden: error looking up service account sa-missing/ghost: serviceaccount "ghost" not found`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Fatalf("pod naming a missing account: %v\nwant 403 %s", err, want)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, "x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("refused pod was stored: %v", err)
	}
	_, err = cs.CoreV1().Pods(ns).Create(ctx, podFor("x", "ghost"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("dry-run pod naming a missing account: %v, want 403", err)
	}

	mustCreate(t, cs.CoreV1().ServiceAccounts(ns).Create, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ghost"}})
	got, err := cs.CoreV1().Pods(ns).Create(ctx, podFor("x", "ghost"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("pod after its account was created: %v", err)
	}
	if got.Spec.ServiceAccountName != "ghost" {
		t.Errorf("serviceAccountName %q, want ghost", got.Spec.ServiceAccountName)
	}
}
