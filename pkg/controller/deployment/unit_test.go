package deployment

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

func rolling(n int32, surge, unavail *intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: &n,
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: surge, MaxUnavailable: unavail}},
	}}
}

func TestResolveFenceposts(t *testing.T) {
	i, s := intstr.FromInt32, intstr.FromString
	cases := []struct {
		name           string
		surge, unavail *intstr.IntOrString
		desired        int32
		wantS, wantU   int32
		wantErr        bool
	}{
		{"defaults on 4", nil, nil, 4, 1, 1, false},
		{"defaults on 10: surge up, unavailable down", nil, nil, 10, 3, 2, false},
		{"defaults on 1", nil, nil, 1, 1, 0, false},
		{"ints", ptr(i(2)), ptr(i(3)), 10, 2, 3, false},
		{"percent rounding", ptr(s("33%")), ptr(s("33%")), 10, 4, 3, false},
		{"both zero becomes one unavailable", ptr(i(0)), ptr(i(0)), 5, 0, 1, false},
		{"both zero percent", ptr(s("0%")), ptr(s("0%")), 5, 0, 1, false},
		{"surge zero", ptr(i(0)), ptr(s("25%")), 3, 0, 0 + 1, false}, // 0 and 0 → 1
		{"100 percent", ptr(s("100%")), ptr(s("100%")), 7, 7, 7, false},
		{"zero replicas", nil, nil, 0, 0, 1, false},
		{"bad percent", ptr(s("lots")), nil, 4, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gs, gu, err := resolveFenceposts(tc.surge, tc.unavail, tc.desired)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (gs != tc.wantS || gu != tc.wantU) {
				t.Fatalf("got surge %d unavailable %d, want %d %d", gs, gu, tc.wantS, tc.wantU)
			}
		})
	}
}

func TestMaxUnavailableCapsAndRecreate(t *testing.T) {
	d := rolling(2, ptr(intstr.FromInt32(0)), ptr(intstr.FromInt32(5)))
	if got := maxUnavailable(d); got != 2 {
		t.Fatalf("maxUnavailable capped = %d, want 2", got)
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if maxSurge(d) != 0 || maxUnavailable(d) != 0 {
		t.Fatalf("recreate fenceposts = %d %d", maxSurge(d), maxUnavailable(d))
	}
}

func rsOf(name string, size int32, avail int32, maxAnn int32, age time.Duration) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age))},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr(size)},
		Status:     appsv1.ReplicaSetStatus{Replicas: size, AvailableReplicas: avail},
	}
	if maxAnn >= 0 {
		rs.Annotations = map[string]string{MaxReplicasAnnotation: strconv.Itoa(int(maxAnn))}
	}
	return rs
}

func TestNewRSNewReplicas(t *testing.T) {
	i := intstr.FromInt32
	cases := []struct {
		name         string
		d            *appsv1.Deployment
		old, newSize int32
		want         int32
	}{
		{"fresh rollout surges by one", rolling(4, ptr(i(1)), ptr(i(1))), 4, 0, 1},
		{"at the surge limit", rolling(4, ptr(i(1)), ptr(i(1))), 4, 1, 1},
		{"room after old shrank", rolling(4, ptr(i(1)), ptr(i(1))), 2, 1, 3},
		{"never past spec", rolling(4, ptr(i(3)), ptr(i(1))), 0, 3, 4},
		{"big surge", rolling(10, ptr(i(3)), ptr(i(2))), 10, 0, 3},
		{"zero surge waits", rolling(4, ptr(i(0)), ptr(i(1))), 4, 0, 0},
		{"recreate takes all", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(5)), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}, 0, 0, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old, nrs := rsOf("old", tc.old, tc.old, -1, time.Hour), rsOf("new", tc.newSize, 0, -1, 0)
			if got := newRSNewReplicas(tc.d, []*appsv1.ReplicaSet{old, nrs}, nrs); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestProportionalSizes(t *testing.T) {
	i := intstr.FromInt32
	type rsSpec struct {
		name      string
		size, max int32
		age       time.Duration
	}
	cases := []struct {
		name   string
		d      *appsv1.Deployment
		status int32 // d.Status.Replicas, used when an annotation is missing
		rss    []rsSpec
		want   map[string]int32
		op     string
	}{
		{
			// Upstream's e2e case: 10 → 30 mid-rollout with maxSurge 3.
			name: "scale up 10 to 30", d: rolling(30, ptr(i(3)), ptr(i(2))),
			rss:  []rsSpec{{"old", 8, 13, time.Hour}, {"new", 5, 13, 0}},
			want: map[string]int32{"old": 20, "new": 13}, op: "up",
		},
		{
			name: "scale down 10 to 5", d: rolling(5, ptr(i(3)), ptr(i(2))),
			rss:  []rsSpec{{"old", 8, 13, time.Hour}, {"new", 5, 13, 0}},
			want: map[string]int32{"old": 5, "new": 3}, op: "down",
		},
		{
			name: "scale to zero", d: rolling(0, ptr(i(3)), ptr(i(2))),
			rss:  []rsSpec{{"old", 8, 13, time.Hour}, {"new", 5, 13, 0}},
			want: map[string]int32{"old": 0, "new": 0}, op: "down",
		},
		{
			name: "three replica sets, newer first, last capped", d: rolling(20, ptr(i(1)), ptr(i(1))),
			rss:  []rsSpec{{"a", 3, 11, 2 * time.Hour}, {"b", 3, 11, time.Hour}, {"c", 5, 11, 0}},
			want: map[string]int32{"a": 5, "b": 6, "c": 10}, op: "up",
		},
		{
			name: "missing annotation uses status replicas", d: rolling(12, ptr(i(0)), ptr(i(1))), status: 6,
			rss:  []rsSpec{{"old", 3, -1, time.Hour}, {"new", 3, -1, 0}},
			want: map[string]int32{"old": 6, "new": 6}, op: "up",
		},
		{
			name: "no change", d: rolling(10, ptr(i(3)), ptr(i(2))),
			rss:  []rsSpec{{"old", 8, 13, time.Hour}, {"new", 5, 13, 0}},
			want: map[string]int32{"old": 8, "new": 5}, op: "",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.Status.Replicas = tc.status
			var all []*appsv1.ReplicaSet
			for _, r := range tc.rss {
				all = append(all, rsOf(r.name, r.size, r.size, r.max, r.age))
			}
			got, op := proportionalSizes(tc.d, all)
			if op != tc.op {
				t.Fatalf("op = %q, want %q", op, tc.op)
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Fatalf("sizes = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
}

func TestComputeHash(t *testing.T) {
	one, two := int32(1), int32(2)
	v1, v2 := template("nginx:1"), template("nginx:2")
	annotated := template("nginx:1")
	annotated.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": "now"}
	safe := regexp.MustCompile(`^[bcdfghjklmnpqrstvwxz2456789]+$`)
	cases := []struct {
		name  string
		a, b  corev1.PodTemplateSpec
		ca    *int32
		cb    *int32
		equal bool
	}{
		{"same template", v1, template("nginx:1"), nil, nil, true},
		{"image change", v1, v2, nil, nil, false},
		{"template annotation (rollout restart)", v1, annotated, nil, nil, false},
		{"collision count", v1, v1, nil, &one, false},
		{"collision counts differ", v1, v1, &one, &two, false},
		{"same collision count", v1, v1, &two, &two, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ha, hb := ComputeHash(&tc.a, tc.ca), ComputeHash(&tc.b, tc.cb)
			if (ha == hb) != tc.equal {
				t.Fatalf("hashes %q %q, equal want %v", ha, hb, tc.equal)
			}
			if !safe.MatchString(ha) || ComputeHash(&tc.a, tc.ca) != ha {
				t.Fatalf("hash %q not stable or not safe-encoded", ha)
			}
		})
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a := template("x")
	b := template("x")
	b.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = "abc"
	if !equalIgnoreHash(&a, &b) {
		t.Fatal("hash label should be ignored")
	}
	if _, ok := b.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; !ok {
		t.Fatal("equalIgnoreHash mutated its argument")
	}
	c := template("y")
	if equalIgnoreHash(&a, &c) {
		t.Fatal("different images compare equal")
	}
}

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := rolling(4, nil, nil)
	d.Annotations = map[string]string{ChangeCauseAnnotation: "set image", lastAppliedAnnotation: "{}", RevisionAnnotation: "7"}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{RevisionAnnotation: "1"}}}
	if !setNewReplicaSetAnnotations(d, rs, "3", true) {
		t.Fatal("no change reported")
	}
	a := rs.Annotations
	if a[RevisionAnnotation] != "3" || a[RevisionHistoryAnnotation] != "1" || a[ChangeCauseAnnotation] != "set image" {
		t.Fatalf("annotations %v", a)
	}
	if _, ok := a[lastAppliedAnnotation]; ok {
		t.Fatal("last-applied copied")
	}
	if _, ok := a[DesiredReplicasAnnotation]; ok {
		t.Fatal("replica annotations set on an existing replica set")
	}
	if setNewReplicaSetAnnotations(d, rs, "3", true) {
		t.Fatal("second pass reported a change")
	}
	fresh := &appsv1.ReplicaSet{}
	setNewReplicaSetAnnotations(d, fresh, "1", false)
	if fresh.Annotations[DesiredReplicasAnnotation] != "4" || fresh.Annotations[MaxReplicasAnnotation] != "5" || fresh.Annotations[RevisionAnnotation] != "1" {
		t.Fatalf("new replica set annotations %v", fresh.Annotations)
	}
}

func TestActiveOrLatest(t *testing.T) {
	old1, old2 := rsOf("old1", 0, 0, -1, 2*time.Hour), rsOf("old2", 0, 0, -1, time.Hour)
	if got := activeOrLatest(nil, []*appsv1.ReplicaSet{old2, old1}); got != old2 {
		t.Fatalf("latest = %v", got)
	}
	nrs := rsOf("new", 3, 0, -1, 0)
	if got := activeOrLatest(nrs, []*appsv1.ReplicaSet{old1, old2}); got != nrs {
		t.Fatalf("only active = %v", got)
	}
	old1.Spec.Replicas = ptr(int32(1))
	if got := activeOrLatest(nrs, []*appsv1.ReplicaSet{old1, old2}); got != nil {
		t.Fatalf("two active = %v", got)
	}
}
