package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// Whether a pod gets its ServiceAccount's token volume: the pod's
// automountServiceAccountToken wins, then the account's, then yes — the
// matrix of upstream's "should allow opting out of API token automount".
func TestServiceAccountAutomountOptOut(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ns := "automount"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Settled(t, cs, ns)
	yes, no := true, false
	for _, sa := range []*corev1.ServiceAccount{
		{ObjectMeta: metav1.ObjectMeta{Name: "mount"}, AutomountServiceAccountToken: &yes},
		{ObjectMeta: metav1.ObjectMeta{Name: "nomount"}, AutomountServiceAccountToken: &no},
	} {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range []struct {
		account string
		pod     *bool
		want    bool
	}{
		{"default", nil, true}, {"mount", nil, true}, {"nomount", nil, false},
		{"default", &yes, true}, {"mount", &yes, true}, {"nomount", &yes, true},
		{"default", &no, false}, {"mount", &no, false}, {"nomount", &no, false},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)}, Spec: corev1.PodSpec{
			ServiceAccountName: tc.account, AutomountServiceAccountToken: tc.pod,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		}}
		got, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mounted := false
		for _, v := range got.Spec.Volumes {
			mounted = mounted || strings.HasPrefix(v.Name, "kube-api-access-")
		}
		if mounted != tc.want {
			t.Errorf("account %s, pod automount %v: token volume %v, want %v", tc.account, tc.pod, mounted, tc.want)
		}
	}
}
