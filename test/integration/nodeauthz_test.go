package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestNodeAuthorizer: node agents act with their own certificates
// (system:node:NAME in system:nodes). Node A cannot read the Secret of a
// pod bound to node B, change node B or its Lease, or write B's pod's
// status; node B can read it; each registers only its own Node and Lease.
// The refusals read as upstream's.
func TestNodeAuthorizer(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	ctx := context.Background()
	admin := in.Clientset(t)
	nodeA := clientFor(t, in.UserConfig(t, "system:node:a", "system:nodes"))
	nodeB := clientFor(t, in.UserConfig(t, "system:node:b", "system:nodes"))

	// Each node registers itself and its Lease; not the other's.
	if _, err := nodeA.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node a registers itself: %v", err)
	}
	_, err := nodeA.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{})
	wantForbidden(t, "node a registers b", err, `nodes "b" is forbidden: node "a" is not allowed to modify node "b"`)
	if _, err := nodeB.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node b registers itself: %v", err)
	}
	lease := func(name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease}}
	}
	if _, err := nodeA.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease("a"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("node a creates its lease: %v", err)
	}
	_, err = nodeA.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease("b"), metav1.CreateOptions{})
	wantForbidden(t, "node a creates b's lease", err, `leases.coordination.k8s.io "b" is forbidden: can only access node lease with the same name as the requesting node`)

	// A pod bound to b uses a Secret.
	if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "b-secret"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "on-b", Namespace: "default"}, Spec: corev1.PodSpec{
		NodeName:   "b",
		Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		Volumes:    []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "b-secret"}}}},
	}}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Node b reads it once the authorizer's graph has the pod.
	waitUntil(t, 10*time.Second, func() (bool, string) {
		_, err := nodeB.CoreV1().Secrets("default").Get(ctx, "b-secret", metav1.GetOptions{})
		return err == nil, fmt.Sprintf("node b reads its pod's secret: %v", err)
	})
	_, err = nodeA.CoreV1().Secrets("default").Get(ctx, "b-secret", metav1.GetOptions{})
	wantForbidden(t, "node a reads b's pod's secret", err, `secrets "b-secret" is forbidden: User "system:node:a" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'a' and this object`)
	_, err = nodeA.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "node a lists secrets", err, `secrets is forbidden: User "system:node:a" cannot list resource "secrets" in API group "" in the namespace "default": no relationship found between node 'a' and this object`)

	// Node a changes nothing of b's.
	_, err = nodeA.CoreV1().Nodes().Patch(ctx, "b", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
	wantForbidden(t, "node a labels b", err, `nodes "b" is forbidden: User "system:node:a" cannot patch resource "nodes" in API group "" at the cluster scope: node "a" may not patch this object`)
	_, err = nodeA.CoreV1().Pods("default").Patch(ctx, "on-b", types.MergePatchType, []byte(`{"status":{"phase":"Failed"}}`), metav1.PatchOptions{}, "status")
	wantForbidden(t, "node a writes b's pod status", err, `pods "on-b" is forbidden: node "a" can only update pod status for pods with spec.nodeName set to itself`)
	err = nodeA.CoreV1().Pods("default").Delete(ctx, "on-b", metav1.DeleteOptions{})
	wantForbidden(t, "node a deletes b's pod", err, `pods "on-b" is forbidden: node "a" can only delete pods with spec.nodeName set to itself`)
	// Node b writes its own pod's status.
	if _, err := nodeB.CoreV1().Pods("default").Patch(ctx, "on-b", types.MergePatchType, []byte(`{"status":{"phase":"Running"}}`), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("node b writes its pod's status: %v", err)
	}
	// A node cannot create an ordinary pod (only mirror pods of itself).
	_, err = nodeB.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sneaky"}, Spec: corev1.PodSpec{NodeName: "b", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	wantForbidden(t, "node b creates a pod", err, `pods "sneaky" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "b" can only create mirror pods`)
}
