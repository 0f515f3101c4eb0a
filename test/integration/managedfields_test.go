package integration

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// entry is the managedFields entry of manager, failing the test when there
// is not exactly one.
func entry(t *testing.T, m metav1.Object, manager string) metav1.ManagedFieldsEntry {
	t.Helper()
	var found []metav1.ManagedFieldsEntry
	for _, e := range m.GetManagedFields() {
		if e.Manager == manager {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one managedFields entry of %q, got %d in %s", manager, len(found), dumpFields(m))
	}
	return found[0]
}

func dumpFields(m metav1.Object) string {
	b, _ := json.MarshalIndent(m.GetManagedFields(), "", "  ")
	return string(b)
}

// fieldsOf is an entry's field set as JSON.
func fieldsOf(e metav1.ManagedFieldsEntry) string {
	if e.FieldsV1 == nil {
		return ""
	}
	return string(e.FieldsV1.Raw)
}

// Writes through the status and scale subresources are recorded in
// managedFields with their subresource, as upstream records them: a scale
// write owns the parent's spec.replicas (taken from the applier), so a
// later apply of another replica count conflicts with it by name.
func TestManagedFieldsOfSubresources(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"deployment", "replicaset", "replicationcontroller"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	deploys := cs.AppsV1().Deployments("default")

	apply := func(replicas int, force bool) (*appsv1.Deployment, error) {
		manifest := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":` + strconv.Itoa(replicas) +
			`,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`
		return deploys.Patch(ctx, "web", types.ApplyPatchType, []byte(manifest), metav1.PatchOptions{FieldManager: "applier", Force: ptr.To(force)})
	}
	d, err := apply(1, false)
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, d, "applier"); e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" || !strings.Contains(fieldsOf(e), `"f:replicas"`) {
		t.Fatalf("apply entry: %s", dumpFields(d))
	}

	// Status.
	d.Status.ObservedGeneration = d.Generation
	d.Status.Replicas = 1
	d, err = deploys.UpdateStatus(ctx, d, metav1.UpdateOptions{FieldManager: "status-writer"})
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, d, "status-writer"); e.Operation != metav1.ManagedFieldsOperationUpdate || e.Subresource != "status" || e.APIVersion != "apps/v1" ||
		!strings.Contains(fieldsOf(e), `"f:status"`) || strings.Contains(fieldsOf(e), `"f:spec"`) {
		t.Fatalf("status entry: %s", dumpFields(d))
	}
	d, err = deploys.Patch(ctx, "web", types.MergePatchType, []byte(`{"status":{"readyReplicas":1}}`), metav1.PatchOptions{FieldManager: "status-patcher"}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, d, "status-patcher"); e.Subresource != "status" || !strings.Contains(fieldsOf(e), `"f:readyReplicas"`) {
		t.Fatalf("status patch entry: %s", dumpFields(d))
	}

	// Scale, as `kubectl scale` writes it: a merge patch of the Scale.
	if _, err := deploys.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{FieldManager: "kubectl"}, "scale"); err != nil {
		t.Fatal(err)
	}
	d, err = deploys.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 3 {
		t.Fatalf("replicas after scale: %d", *d.Spec.Replicas)
	}
	e := entry(t, d, "kubectl")
	if e.Operation != metav1.ManagedFieldsOperationUpdate || e.Subresource != "scale" || e.APIVersion != "apps/v1" || fieldsOf(e) != `{"f:spec":{"f:replicas":{}}}` {
		t.Fatalf("scale entry: %s", dumpFields(d))
	}
	if a := entry(t, d, "applier"); strings.Contains(fieldsOf(a), `"f:replicas"`) || !strings.Contains(fieldsOf(a), `"f:template"`) {
		t.Fatalf("the applier still owns spec.replicas after a scale: %s", dumpFields(d))
	}

	// Applying another count conflicts with the scale's writer, named with
	// its subresource; applying the same count shares the field.
	_, err = apply(1, false)
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas`) {
		t.Fatalf("apply over a scale: %v", err)
	}
	if d, err = apply(3, false); err != nil {
		t.Fatalf("apply of the scaled count: %v", err)
	}
	if a := entry(t, d, "applier"); !strings.Contains(fieldsOf(a), `"f:replicas"`) {
		t.Fatalf("the applier does not share spec.replicas: %s", dumpFields(d))
	}
	entry(t, d, "kubectl")

	// A full Scale (PUT), and server-side apply of a Scale.
	sc, err := deploys.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Spec.Replicas = 4
	if _, err := deploys.UpdateScale(ctx, "web", sc, metav1.UpdateOptions{FieldManager: "scaler"}); err != nil {
		t.Fatal(err)
	}
	scaleApply := `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":5}}`
	if _, err := deploys.Patch(ctx, "web", types.ApplyPatchType, []byte(scaleApply), metav1.PatchOptions{FieldManager: "autoscaler"}, "scale"); !apierrors.IsConflict(err) ||
		!strings.Contains(err.Error(), `conflict with "scaler" with subresource "scale"`) {
		t.Fatalf("scale apply over a scale update: %v", err)
	}
	sc2, err := deploys.Patch(ctx, "web", types.ApplyPatchType, []byte(scaleApply), metav1.PatchOptions{FieldManager: "autoscaler", Force: ptr.To(true)}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	var got autoscalingv1.Scale
	if err := cs.AppsV1().RESTClient().Get().AbsPath("/apis/apps/v1/namespaces/default/deployments/web/scale").Do(ctx).Into(&got); err != nil || got.Spec.Replicas != 5 {
		t.Fatalf("scale after apply: %v %+v (patch returned %+v)", err, got.Spec, sc2)
	}
	d, err = deploys.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, d, "autoscaler"); e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "scale" || e.APIVersion != "apps/v1" || fieldsOf(e) != `{"f:spec":{"f:replicas":{}}}` {
		t.Fatalf("scale apply entry: %s", dumpFields(d))
	}
	for _, m := range []string{"kubectl", "scaler"} {
		for _, e := range d.ManagedFields {
			if e.Manager == m && strings.Contains(fieldsOf(e), `"f:replicas"`) {
				t.Fatalf("%s kept spec.replicas after a forced apply: %s", m, dumpFields(d))
			}
		}
	}

	// The core group's ReplicationController records its scale too.
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc"},
		Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](1), Selector: map[string]string{"app": "rc"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rc"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
	}
	if _, err := cs.CoreV1().ReplicationControllers("default").Create(ctx, rc, metav1.CreateOptions{FieldManager: "creator"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ReplicationControllers("default").Patch(ctx, "rc", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{FieldManager: "kubectl"}, "scale"); err != nil {
		t.Fatal(err)
	}
	got2, err := cs.CoreV1().ReplicationControllers("default").Get(ctx, "rc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, got2, "kubectl"); e.Subresource != "scale" || e.APIVersion != "v1" || fieldsOf(e) != `{"f:spec":{"f:replicas":{}}}` {
		t.Fatalf("replication controller scale entry: %s", dumpFields(got2))
	}
	if c := entry(t, got2, "creator"); strings.Contains(fieldsOf(c), `"f:replicas"`) {
		t.Fatalf("the creator still owns spec.replicas: %s", dumpFields(got2))
	}
}

// A Deployment's status write changes its status and annotations, never
// its labels (upstream's status strategy; conformance's Deployment
// lifecycle spec checks it).
func TestDeploymentStatusKeepsLabels(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"deployment"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	replicas := int32(1)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Labels: map[string]string{"test-deployment": "updated"}},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"metadata":{"labels":{"test-deployment":"patched-status"},"annotations":{"a":"b"}},"status":{"readyReplicas":1}}`)
	got, err := cs.AppsV1().Deployments("default").Patch(ctx, "d", types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels["test-deployment"] != "updated" || got.Annotations["a"] != "b" || got.Status.ReadyReplicas != 1 {
		t.Fatalf("after the status patch: labels %v annotations %v readyReplicas %d", got.Labels, got.Annotations, got.Status.ReadyReplicas)
	}
}
