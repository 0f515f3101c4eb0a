package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/dynamic"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func debugContainer(name string) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: name, Image: "busybox", Command: []string{"sh"}, Stdin: true, TTY: true,
	}}
}

// wantInvalid checks that err is a 422 Invalid Status naming field with a
// cause whose message contains msg.
func wantInvalid(t *testing.T, err error, field, msg string) {
	t.Helper()
	se, ok := err.(*apierrors.StatusError)
	if !ok || !apierrors.IsInvalid(err) {
		t.Fatalf("want 422 Invalid, got %v", err)
	}
	d := se.ErrStatus.Details
	if d == nil || d.Kind != "Pod" {
		t.Fatalf("status details: %+v", d)
	}
	for _, c := range d.Causes {
		if c.Field == field && strings.Contains(c.Message, msg) {
			return
		}
	}
	t.Fatalf("no cause at %s containing %q: %v (%+v)", field, msg, err, d.Causes)
}

// pods/NAME/ephemeralcontainers, as upstream serves it: it reads and
// writes the Pod, only spec.ephemeralContainers changes through it,
// entries are added (update, strategic merge, merge and JSON patches) but
// never removed or changed, each is validated with field paths, and the
// write is recorded in managedFields with its subresource.
func TestEphemeralContainersSubresource(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")

	// Not on create, not through the pod itself.
	withEC := pod("born-with", nil)
	withEC.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("dbg")}
	_, err := pods.Create(ctx, withEC, metav1.CreateOptions{})
	wantInvalid(t, err, "spec.ephemeralContainers", "cannot be set on create")

	p, err := pods.Create(ctx, pod("target", map[string]string{"app": "t"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	direct := p.DeepCopy()
	direct.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("dbg")}
	_, err = pods.Update(ctx, direct, metav1.UpdateOptions{})
	wantInvalid(t, err, "spec", "pod updates may not change fields")

	// GET returns the Pod.
	dc, err := dynamic.NewForConfig(srv.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	dyn := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace("default")
	u, err := dyn.Get(ctx, "target", metav1.GetOptions{}, "ephemeralcontainers")
	if err != nil {
		t.Fatal(err)
	}
	if u.GetKind() != "Pod" || u.GetName() != "target" {
		t.Fatalf("GET ephemeralcontainers: %s %s", u.GetKind(), u.GetName())
	}

	// Update: the first one, with defaults; labels, status and other spec
	// changes sent along are ignored.
	sent := p.DeepCopy()
	sent.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("dbg")}
	sent.Labels = map[string]string{"app": "changed"}
	sent.Spec.Containers[0].Image = "busybox:2"
	sent.Status.Phase = corev1.PodSucceeded
	got, err := pods.UpdateEphemeralContainers(ctx, "target", sent, metav1.UpdateOptions{FieldManager: "debugger"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.EphemeralContainers) != 1 {
		t.Fatalf("ephemeral containers after update: %+v", got.Spec.EphemeralContainers)
	}
	ec := got.Spec.EphemeralContainers[0]
	if ec.TerminationMessagePath != corev1.TerminationMessagePathDefault || ec.TerminationMessagePolicy != corev1.TerminationMessageReadFile || ec.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("defaults: %q %q %q", ec.TerminationMessagePath, ec.TerminationMessagePolicy, ec.ImagePullPolicy)
	}
	if got.Labels["app"] != "t" || got.Spec.Containers[0].Image != "busybox" || got.Status.Phase != corev1.PodPending {
		t.Errorf("more than ephemeral containers changed: labels %v, image %s, phase %s", got.Labels, got.Spec.Containers[0].Image, got.Status.Phase)
	}
	if e := entry(t, got, "debugger"); e.Operation != metav1.ManagedFieldsOperationUpdate || e.Subresource != "ephemeralcontainers" || e.APIVersion != "v1" ||
		!strings.Contains(fieldsOf(e), `"f:ephemeralContainers"`) || !strings.Contains(fieldsOf(e), `k:{\"name\":\"dbg\"}`) || strings.Contains(fieldsOf(e), `"f:labels"`) {
		t.Errorf("managedFields entry: %s", dumpFields(got))
	}

	// A stale resourceVersion conflicts.
	stale := sent.DeepCopy()
	stale.Spec.EphemeralContainers = append(stale.Spec.EphemeralContainers, debugContainer("late"))
	if _, err := pods.UpdateEphemeralContainers(ctx, "target", stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v", err)
	}

	// Strategic merge patch, as kubectl debug and the e2e framework send it.
	before, _ := json.Marshal(got)
	next := got.DeepCopy()
	next.Spec.EphemeralContainers = append(next.Spec.EphemeralContainers, debugContainer("smp"))
	after, _ := json.Marshal(next)
	patch, err := strategicpatch.CreateTwoWayMergePatch(before, after, &corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err = pods.Patch(ctx, "target", types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-debug"}, "ephemeralcontainers"); err != nil {
		t.Fatal(err)
	}
	if e := entry(t, got, "kubectl-debug"); e.Subresource != "ephemeralcontainers" || !strings.Contains(fieldsOf(e), `k:{\"name\":\"smp\"}`) {
		t.Errorf("patch entry: %s", dumpFields(got))
	}
	// Merge patch (the whole list) and JSON patch (append).
	if got, err = pods.Patch(ctx, "target", types.MergePatchType, []byte(`{"spec":{"ephemeralContainers":[
		{"name":"dbg","image":"busybox","command":["sh"],"stdin":true,"tty":true,"imagePullPolicy":"Always","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"},
		{"name":"smp","image":"busybox","command":["sh"],"stdin":true,"tty":true,"imagePullPolicy":"Always","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"},
		{"name":"merge","image":"busybox"}]}}`), metav1.PatchOptions{}, "ephemeralcontainers"); err != nil {
		t.Fatal(err)
	}
	if got, err = pods.Patch(ctx, "target", types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"json","image":"busybox","targetContainerName":"c"}}]`),
		metav1.PatchOptions{}, "ephemeralcontainers"); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ec := range got.Spec.EphemeralContainers {
		names = append(names, ec.Name)
	}
	if strings.Join(names, ",") != "dbg,smp,merge,json" || got.Spec.EphemeralContainers[3].TargetContainerName != "c" {
		t.Fatalf("ephemeral containers: %v", names)
	}

	// Dry run: validated, not written.
	if _, err := pods.Patch(ctx, "target", types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"dry","image":"busybox"}}]`),
		metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}, "ephemeralcontainers"); err != nil {
		t.Fatal(err)
	}

	// Never removed, never changed; each entry valid.
	refused := []struct {
		name  string
		pt    types.PatchType
		patch string
		field string
		msg   string
	}{
		{"remove one (JSON)", types.JSONPatchType, `[{"op":"remove","path":"/spec/ephemeralContainers/0"}]`, "spec.ephemeralContainers", `existing ephemeral containers "dbg" may not be removed`},
		{"remove all (JSON)", types.JSONPatchType, `[{"op":"remove","path":"/spec/ephemeralContainers"}]`, "spec.ephemeralContainers", "may not be removed"},
		{"remove all (merge)", types.MergePatchType, `{"spec":{"ephemeralContainers":[]}}`, "spec.ephemeralContainers", "may not be removed"},
		{"change image (strategic)", types.StrategicMergePatchType, `{"spec":{"ephemeralContainers":[{"name":"smp","image":"busybox:2"}]}}`, "spec.ephemeralContainers", `existing ephemeral containers "smp" may not be changed`},
		{"duplicate of an app container", types.JSONPatchType, `[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"c","image":"busybox"}}]`, "spec.ephemeralContainers[4].name", `Duplicate value: "c"`},
		{"ports", types.JSONPatchType, `[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"web","image":"busybox","ports":[{"containerPort":80}]}}]`, "spec.ephemeralContainers[4].ports", "cannot be set for an Ephemeral Container"},
		{"probe", types.JSONPatchType, `[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"p","image":"busybox","readinessProbe":{"exec":{"command":["true"]}}}}]`, "spec.ephemeralContainers[4].readinessProbe", "cannot be set for an Ephemeral Container"},
		{"resources", types.JSONPatchType, `[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"r","image":"busybox","resources":{"limits":{"cpu":"1"}}}}]`, "spec.ephemeralContainers[4].resources", "cannot be set for an Ephemeral Container"},
		{"unknown target", types.JSONPatchType, `[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"t","image":"busybox","targetContainerName":"nope"}}]`, "spec.ephemeralContainers[4].targetContainerName", `Not found: "nope"`},
		{"no name", types.JSONPatchType, `[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"image":"busybox"}}]`, "spec.ephemeralContainers[4].name", "Required value"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pods.Patch(ctx, "target", tt.pt, []byte(tt.patch), metav1.PatchOptions{}, "ephemeralcontainers")
			wantInvalid(t, err, tt.field, tt.msg)
		})
	}
	cur, err := pods.Get(ctx, "target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.EphemeralContainers = cur.Spec.EphemeralContainers[1:]
	_, err = pods.UpdateEphemeralContainers(ctx, "target", cur, metav1.UpdateOptions{})
	wantInvalid(t, err, "spec.ephemeralContainers", `existing ephemeral containers "dbg" may not be removed`)
	if !strings.Contains(err.Error(), `Pod "target" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be removed`) {
		t.Errorf("message: %v", err)
	}

	// Nothing refused (nor the dry run) was written.
	cur, err = pods.Get(ctx, "target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.Spec.EphemeralContainers) != 4 || cur.Spec.EphemeralContainers[1].Image != "busybox" {
		t.Fatalf("after refusals: %+v", cur.Spec.EphemeralContainers)
	}

	// A pod that is not there is a 404 naming it.
	_, err = pods.Patch(ctx, "ghost", types.StrategicMergePatchType, []byte(`{}`), metav1.PatchOptions{}, "ephemeralcontainers")
	if se, ok := err.(*apierrors.StatusError); !ok || !apierrors.IsNotFound(err) || se.ErrStatus.Details == nil || se.ErrStatus.Details.Name != "ghost" {
		t.Fatalf("missing pod: %v", err)
	}
}
