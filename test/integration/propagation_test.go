package integration

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// Foreground and Orphan deletions are kept, marked with upstream's
// finalizers, for the garbage collector; Background deletes at once. The
// test plays the collector itself: a running one may finish a deletion
// before the test reads it back.
func TestPropagationPolicyIsStored(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"garbagecollector"}})
	cms := srv.Clientset(t).CoreV1().ConfigMaps("default")
	ctx := context.Background()
	cases := []struct {
		name      string
		opts      metav1.DeleteOptions
		finalizer string
	}{
		{"fg", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}, metav1.FinalizerDeleteDependents},
		{"orphan", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}, metav1.FinalizerOrphanDependents},
		{"legacy-orphan", metav1.DeleteOptions{OrphanDependents: ptr.To(true)}, metav1.FinalizerOrphanDependents},
		{"bg", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}, ""},
	}
	for _, tc := range cases {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: tc.name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, tc.name, tc.opts); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		cm, err := cms.Get(ctx, tc.name, metav1.GetOptions{})
		if tc.finalizer == "" {
			if !apierrors.IsNotFound(err) {
				t.Fatalf("%s: background delete left %v (%v)", tc.name, cm, err)
			}
			continue
		}
		if err != nil || cm.DeletionTimestamp == nil || len(cm.Finalizers) != 1 || cm.Finalizers[0] != tc.finalizer {
			t.Fatalf("%s: want terminating with %s, got %+v (%v)", tc.name, tc.finalizer, cm, err)
		}
		// What the garbage collector will do when it is done: drop the finalizer.
		if _, err := cms.Patch(ctx, tc.name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Get(ctx, tc.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("%s: still there after its finalizer went: %v", tc.name, err)
		}
	}
	bad := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletionPropagation("Sideways"))}
	if err := cms.Delete(ctx, "whatever", bad); !apierrors.IsBadRequest(err) {
		t.Fatalf("unknown policy: %v", err)
	}
}
