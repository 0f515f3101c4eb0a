package integration

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func pod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func TestCRUDAndConcurrency(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()

	cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if cm.UID == "" || cm.ResourceVersion == "" || cm.CreationTimestamp.IsZero() {
		t.Fatalf("system metadata missing: %+v", cm.ObjectMeta)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) && !apierrors.IsBadRequest(err) && !apierrors.IsInvalid(err) {
		t.Fatalf("second create: want AlreadyExists or rejection, got %v", err)
	}
	dup := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, dup, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("duplicate create: want AlreadyExists, got %v", err)
	}

	// An update from a stale read loses with 409.
	stale := cm.DeepCopy()
	cm.Data["a"] = "2"
	updated, err := cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.ResourceVersion == cm.ResourceVersion {
		t.Fatal("resourceVersion did not move on update")
	}
	stale.Data["a"] = "3"
	if _, err := cs.CoreV1().ConfigMaps("default").Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: want Conflict, got %v", err)
	}

	// generateName yields a fresh name with the prefix.
	gen, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
	if err != nil || len(gen.Name) != len("gen-")+5 {
		t.Fatalf("generateName: %v %q", err, gen.GetName())
	}

	// Namespaced objects need an existing namespace.
	if _, err := cs.CoreV1().ConfigMaps("nosuch").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("create in missing namespace: want NotFound, got %v", err)
	}

	if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "one", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: want NotFound, got %v", err)
	}
}

func TestDryRunPersistsNothing(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run create persisted: %v", err)
	}
	cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "real"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Patch(ctx, "real", types.MergePatchType, []byte(`{"data":{"k":"changed"}}`), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run patch: %v", err)
	}
	if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, "real", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run delete: %v", err)
	}
	got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "real", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" || got.ResourceVersion != cm.ResourceVersion {
		t.Fatalf("dry-run changed the object: %v %+v", err, got)
	}
}

func TestPatchTypes(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod("p", map[string]string{"app": "a"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		pt    types.PatchType
		patch string
		check func(*corev1.Pod) bool
	}{
		{"merge", types.MergePatchType, `{"metadata":{"labels":{"tier":"web"}}}`, func(p *corev1.Pod) bool { return p.Labels["tier"] == "web" && p.Labels["app"] == "a" }},
		{"json", types.JSONPatchType, `[{"op":"replace","path":"/metadata/labels/app","value":"b"}]`, func(p *corev1.Pod) bool { return p.Labels["app"] == "b" }},
		{"strategic image", types.StrategicMergePatchType, `{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}`, func(p *corev1.Pod) bool {
			return len(p.Spec.Containers) == 1 && p.Spec.Containers[0].Image == "busybox:2"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cs.CoreV1().Pods("default").Patch(ctx, "p", tc.pt, []byte(tc.patch), metav1.PatchOptions{})
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if !tc.check(got) {
				t.Fatalf("unexpected result: %+v", got.ObjectMeta.Labels)
			}
		})
	}
	// A pod's spec is immutable apart from images and a few fields.
	_, err := cs.CoreV1().Pods("default").Patch(ctx, "p", types.MergePatchType, []byte(`{"spec":{"restartPolicy":"Never"}}`), metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("forbidden pod update: want Invalid, got %v", err)
	}
}

func TestStatusAndGeneration(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
		Status: appsv1.DeploymentStatus{Replicas: 99},
	}
	got, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != 1 || got.Status.Replicas != 0 {
		t.Fatalf("create: generation %d status %+v", got.Generation, got.Status)
	}
	// Status writes ignore the spec...
	got.Status.Replicas = 1
	got.Spec.Replicas = ptr.To[int32](5)
	st, err := cs.AppsV1().Deployments("default").UpdateStatus(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Replicas != 1 || *st.Spec.Replicas != 1 || st.Generation != 1 {
		t.Fatalf("status update: spec %d status %d gen %d", *st.Spec.Replicas, st.Status.Replicas, st.Generation)
	}
	// ...and spec writes ignore the status, bumping the generation.
	st.Spec.Replicas = ptr.To[int32](3)
	st.Status.Replicas = 42
	up, err := cs.AppsV1().Deployments("default").Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *up.Spec.Replicas != 3 || up.Status.Replicas != 1 || up.Generation != 2 {
		t.Fatalf("spec update: spec %d status %d gen %d", *up.Spec.Replicas, up.Status.Replicas, up.Generation)
	}
	// The scale subresource reads and writes replicas.
	sc, err := cs.AppsV1().Deployments("default").GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 3 {
		t.Fatalf("get scale: %v %+v", err, sc)
	}
	sc.Spec.Replicas = 4
	if _, err := cs.AppsV1().Deployments("default").UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update scale: %v", err)
	}
	final, _ := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if *final.Spec.Replicas != 4 || final.Generation != 3 {
		t.Fatalf("after scale: replicas %d generation %d", *final.Spec.Replicas, final.Generation)
	}
}

func TestGracefulPodDeletion(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	p := pod("bound", nil)
	p.Spec.NodeName = "node-a"
	if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A pod on a node is only marked: the node agent finishes the deletion.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().Pods("default").Get(ctx, "bound", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("graceful delete removed the pod at once: %v", err)
	}
	if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("deletion not marked with a 30s grace period: %+v", got.ObjectMeta)
	}
	// Force deletion removes it now.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "bound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("force delete left the pod: %v", err)
	}
	// Finalizers hold an object until they are removed.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	held, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "held", metav1.GetOptions{})
	if err != nil || held.DeletionTimestamp == nil {
		t.Fatalf("finalizer did not hold the object: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("object stayed after its last finalizer went: %v", err)
	}
}

func TestBindingAndNamespaceDeletion(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("doomed").Create(ctx, pod("p", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}
	if err := cs.CoreV1().Pods("doomed").Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := cs.CoreV1().Pods("doomed").Bind(ctx, b, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("second bind: want Conflict, got %v", err)
	}
	got, _ := cs.CoreV1().Pods("doomed").Get(ctx, "p", metav1.GetOptions{})
	if got.Spec.NodeName != "n1" {
		t.Fatalf("binding did not set nodeName: %q", got.Spec.NodeName)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	if err == nil && ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("deleted namespace phase %q", ns.Status.Phase)
	}
	if _, err := cs.CoreV1().ConfigMaps("doomed").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{}); err == nil {
		t.Fatal("created content in a terminating namespace")
	}
	// The bound pod gets its grace period; force it so the namespace can go.
	_ = cs.CoreV1().Pods("doomed").Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	waitFor(t, 30*time.Second, func() bool {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

func TestUnauthenticatedIsRejected(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, path := range []string{"/api/v1/pods", "/version", "/apis", "/metrics"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", path, resp.StatusCode)
		}
	}
	resp, err := client.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %d", resp.StatusCode)
	}
	var _ kubernetes.Interface
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("condition not met within %v", timeout)
}
