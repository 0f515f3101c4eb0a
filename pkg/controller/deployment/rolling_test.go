package deployment

import (
	"context"
	"io"
	"log/slog"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestRollingSteps drives rolloutRolling step by step against a fake
// clientset, with every ReplicaSet reported fully available between steps
// (a test double for the ReplicaSet controller), and checks each step
// against maxSurge and maxUnavailable.
func TestRollingSteps(t *testing.T) {
	i, s := intstr.FromInt32, intstr.FromString
	cases := []struct {
		name           string
		n              int32
		surge, unavail intstr.IntOrString
		hi, lo         int32 // allowed total spec.replicas
	}{
		{"4 at 25%/25%", 4, s("25%"), s("25%"), 5, 3},
		{"10 at 3/2", 10, i(3), i(2), 13, 8},
		{"5 surge only", 5, i(1), i(0), 6, 5},
		{"5 unavailable only", 5, i(0), i(1), 5, 4},
		{"3 all at once", 3, s("100%"), i(0), 6, 3},
		{"10 at 50%/50%", 10, s("50%"), s("50%"), 15, 5},
		{"1 replica 0/0 means 1 unavailable", 1, i(0), i(0), 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs := fake.NewClientset()
			cs.PrependReactor("create", "replicasets", func(a k8stesting.Action) (bool, runtime.Object, error) {
				rs := a.(k8stesting.CreateAction).GetObject().(*appsv1.ReplicaSet)
				rs.UID = types.UID("uid-" + rs.Name) // the fake assigns none
				return false, nil, nil
			})
			c := New(cs, informers.NewSharedInformerFactory(cs, 0), slog.New(slog.NewTextHandler(io.Discard, nil)))
			defer c.queue.ShutDown()
			d := rolling(tc.n, &tc.surge, &tc.unavail)
			d.ObjectMeta = metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1}
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
			d.Spec.Template = template("v1")
			d.Spec.ProgressDeadlineSeconds, d.Spec.RevisionHistoryLimit = ptr(int32(600)), ptr(int32(10))
			if _, err := cs.AppsV1().Deployments("ns").Create(ctx, d, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			step := func() (total int32, done bool) {
				t.Helper()
				cur, err := cs.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				list, err := cs.AppsV1().ReplicaSets("ns").List(ctx, metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var rsList []*appsv1.ReplicaSet
				for k := range list.Items {
					rs := &list.Items[k]
					n := rsReplicas(rs)
					if rs.Status.Replicas != n || rs.Status.AvailableReplicas != n { // the ReplicaSet double
						rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n}
						if rs, err = cs.AppsV1().ReplicaSets("ns").UpdateStatus(ctx, rs, metav1.UpdateOptions{}); err != nil {
							t.Fatal(err)
						}
					}
					rsList = append(rsList, rs)
				}
				if err := c.rolloutRolling(ctx, cur, rsList); err != nil {
					t.Fatal(err)
				}
				list, _ = cs.AppsV1().ReplicaSets("ns").List(ctx, metav1.ListOptions{})
				newOnly := true
				for _, rs := range list.Items {
					total += rsReplicas(&rs)
					if rs.Spec.Template.Spec.Containers[0].Image != cur.Spec.Template.Spec.Containers[0].Image && rsReplicas(&rs) > 0 {
						newOnly = false
					}
				}
				return total, newOnly && deploymentComplete(cur, &cur.Status)
			}
			for range 5 { // settle v1
				step()
			}
			d, _ = cs.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
			d.Spec.Template = template("v2")
			d.Generation = 2
			if _, err := cs.AppsV1().Deployments("ns").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			steps := 0
			for ; steps < 100; steps++ {
				total, done := step()
				if total > tc.hi || total < tc.lo {
					t.Fatalf("step %d: total %d outside [%d,%d]", steps, total, tc.lo, tc.hi)
				}
				if done {
					break
				}
			}
			if steps == 100 {
				t.Fatal("rollout did not finish")
			}
			final, _ := cs.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
			if final.Annotations[RevisionAnnotation] != "2" || final.Status.UpdatedReplicas != tc.n || final.Status.AvailableReplicas != tc.n {
				t.Fatalf("final %v %+v", final.Annotations, final.Status)
			}
			if c := condition(final.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != NewRSAvailableReason || c.Status != corev1.ConditionTrue {
				t.Fatalf("progressing %+v", final.Status.Conditions)
			}
		})
	}
}
