package statefulset

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/pkg/controller/history"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestParseOrdinal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		parent  string
		ordinal int
		ok      bool
	}{
		{"web-0", "web", 0, true},
		{"web-12", "web", 12, true},
		{"my-web-3", "my-web", 3, true},
		{"web-", "", -1, false},
		{"web", "", -1, false},
		{"-1", "", -1, false},
		{"web-1a", "", -1, false},
		{"web-+1", "", -1, false},
		{"web-99999999999", "", -1, false}, // beyond int32
		{"web-2147483647", "web", 2147483647, true},
	} {
		parent, ord, ok := parseOrdinal(tc.name)
		if parent != tc.parent || ord != tc.ordinal || ok != tc.ok {
			t.Errorf("parseOrdinal(%q) = %q, %d, %v; want %q, %d, %v", tc.name, parent, ord, ok, tc.parent, tc.ordinal, tc.ok)
		}
	}
}

func testSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](3),
			ServiceName: "nginx",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "c", Image: "nginx"}},
					Volumes: []corev1.Volume{
						{Name: "www", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "conf", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www", Labels: map[string]string{"tier": "data"}},
			}},
		},
	}
}

func TestNewPod(t *testing.T) {
	set := testSet()
	pod := newPod(set, 2, "web-abc")
	if pod.Name != "web-2" || pod.Namespace != "ns" {
		t.Fatalf("name %s/%s", pod.Namespace, pod.Name)
	}
	for k, v := range map[string]string{"app": "web", PodNameLabel: "web-2", PodIndexLabel: "2", RevisionLabel: "web-abc"} {
		if pod.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, pod.Labels[k], v)
		}
	}
	if pod.Spec.Hostname != "web-2" || pod.Spec.Subdomain != "nginx" {
		t.Errorf("hostname %q subdomain %q", pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != "set-uid" || ref.Kind != "StatefulSet" {
		t.Errorf("controller ref %+v", ref)
	}
	if len(pod.Spec.Volumes) != 2 || pod.Spec.Volumes[0].PersistentVolumeClaim == nil ||
		pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "www-web-2" || pod.Spec.Volumes[1].Name != "conf" {
		t.Errorf("volumes %+v", pod.Spec.Volumes)
	}
	if set.Spec.Template.Labels[PodNameLabel] != "" {
		t.Error("template modified")
	}
	claim := newClaim(set, &set.Spec.VolumeClaimTemplates[0], 2)
	if claim.Name != "www-web-2" || claim.Labels["tier"] != "data" || claim.Labels["app"] != "web" {
		t.Errorf("claim %s labels %v", claim.Name, claim.Labels)
	}
}

func TestRevisionData(t *testing.T) {
	set := testSet()
	data, err := history.TemplatePatch(&set.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Spec struct {
			Template map[string]any `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(data, &shape); err != nil {
		t.Fatal(err)
	}
	if shape.Spec.Template["$patch"] != "replace" {
		t.Errorf("data %s lacks $patch: replace", data)
	}
	rev := newRevision(set, data, 1, 0)
	back, err := templateOf(rev)
	if err != nil || back.Spec.Containers[0].Image != "nginx" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	if rev.Name != "web-"+rev.Labels[revisionHashLabel] || rev.Labels["app"] != "web" {
		t.Errorf("revision %s labels %v", rev.Name, rev.Labels)
	}
	if revisionHash(data, 0) == revisionHash(data, 1) {
		t.Error("collision count does not change the hash")
	}
	set.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	other, _ := history.TemplatePatch(&set.Spec.Template)
	if revisionHash(data, 0) == revisionHash(other, 0) {
		t.Error("different templates hash alike")
	}
}

func TestNewVersionedPod(t *testing.T) {
	cur, upd := testSet(), testSet()
	upd.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	for _, tc := range []struct {
		name     string
		strategy appsv1.StatefulSetUpdateStrategy
		ordinal  int
		wantRev  string
	}{
		{"partition below", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}}, 1, "cur"},
		{"partition at", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}}, 2, "upd"},
		{"partition 0", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}}, 0, "upd"},
		{"on delete", appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}, 0, "upd"},
	} {
		cur.Spec.UpdateStrategy = tc.strategy
		pod := newVersionedPod(cur, upd, "cur", "upd", tc.ordinal, 0)
		if got := revisionOf(pod); got != tc.wantRev {
			t.Errorf("%s: revision %s, want %s", tc.name, got, tc.wantRev)
		}
	}
}

func TestFixClaimOwners(t *testing.T) {
	set := testSet()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-2", UID: "pod-uid"}}
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "x"}
	for _, tc := range []struct {
		name         string
		in           []metav1.OwnerReference
		toSet, toPod bool
		want         int
	}{
		{"add both", nil, true, true, 2},
		{"keep others", []metav1.OwnerReference{other}, true, false, 2},
		{"drop set", []metav1.OwnerReference{other, ownerRef("web", "StatefulSet", "apps/v1", "set-uid")}, false, false, 1},
		{"drop stale pod", []metav1.OwnerReference{ownerRef("web-2", "Pod", "v1", "old")}, false, true, 1},
	} {
		out := fixClaimOwners(tc.in, set, pod, tc.toSet, tc.toPod)
		if len(out) != tc.want {
			t.Errorf("%s: %d refs %+v, want %d", tc.name, len(out), out, tc.want)
		}
	}
}

func TestRecreateBackoff(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	failed := func(uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ss-0", UID: types.UID(uid)}, Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	}
	var r recreations
	// The first failed pod is replaced at once.
	if d := r.delay("ns/ss", 0, failed("a"), now); d != 0 {
		t.Fatalf("first recreation waits %v", d)
	}
	// Its replacement fails too: 1 s, counted from when it was seen.
	if d := r.delay("ns/ss", 0, failed("b"), now); d != time.Second {
		t.Fatalf("second recreation waits %v, want 1s", d)
	}
	if d := r.delay("ns/ss", 0, failed("b"), now.Add(400*time.Millisecond)); d != 600*time.Millisecond {
		t.Fatalf("same pod later waits %v, want the rest (600ms)", d)
	}
	if d := r.delay("ns/ss", 0, failed("b"), now.Add(time.Second)); d != 0 {
		t.Fatalf("after the back-off: %v", d)
	}
	// Other ordinals and sets have their own count.
	if d := r.delay("ns/ss", 1, failed("x"), now); d != 0 {
		t.Fatalf("ordinal 1 waits %v", d)
	}
	if d := r.delay("ns/other", 0, failed("y"), now); d != 0 {
		t.Fatalf("other set waits %v", d)
	}
	// Doubling up to 30 s.
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if d := r.delay("ns/ss", 0, failed(fmt.Sprint("c", i)), now); d != w {
			t.Fatalf("recreation %d waits %v, want %v", i+3, d, w)
		}
	}
	// A running pod starts the count again.
	r.running("ns/ss", 0)
	if d := r.delay("ns/ss", 0, failed("d"), now); d != 0 {
		t.Fatalf("after running: %v", d)
	}
	// So does a long quiet spell.
	r.delay("ns/ss", 0, failed("e"), now)
	if d := r.delay("ns/ss", 0, failed("f"), now.Add(recreateForget+time.Minute)); d != 0 {
		t.Fatalf("after %v quiet: %v", recreateForget, d)
	}
	r.forget("ns/ss")
	if d := r.delay("ns/ss", 0, failed("g"), now); d != 0 {
		t.Fatalf("after forget: %v", d)
	}
}
