package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func quotaNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	settled(t, cs, name)
}

// createQuota creates a quota, waits until the controller has filled in
// its status (admission refuses what a quota without status counts) and
// then until admission sees that status.
func createQuota(t *testing.T, cs kubernetes.Interface, ns, name string, hard corev1.ResourceList) {
	t.Helper()
	ctx := context.Background()
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	if _, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(t, cs, ns, name, func(used corev1.ResourceList) bool { return len(used) == len(hard) })
	admissionCaughtUp(t, cs, ns)
}

// admissionCaughtUp waits until the ResourceQuota admission plugin has
// seen every quota write made in ns so far. The plugin reads quotas from
// the API server's informer, which may lag behind a write under load (and
// upstream's plugin caches an empty live lookup for 30 s), so a create
// right after a quota's status appears can be judged without the quota
// (make test at 627f78a admitted a pod that way). An informer delivers a
// namespace's events in order: once admission refuses a PodTemplate
// because of a sentinel quota created now, it has seen everything
// written before the sentinel. PodTemplates are counted by no test's
// quota.
func admissionCaughtUp(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	sentinel := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "admission-sentinel-"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/podtemplates": resource.MustParse("0")}},
	}
	if _, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, sentinel, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	probe := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Template: corev1.PodTemplateSpec{Spec: quotaPod("probe", corev1.ResourceRequirements{}).Spec}}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = cs.CoreV1().PodTemplates(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsForbidden(last), nil
	})
	if err != nil {
		t.Fatalf("quota admission never saw the sentinel quota in %s: last dry-run create: %v", ns, last)
	}
}

// waitUsed polls the quota's status.used until ok holds.
func waitUsed(t *testing.T, cs kubernetes.Interface, ns, name string, ok func(corev1.ResourceList) bool) *corev1.ResourceQuota {
	t.Helper()
	var last *corev1.ResourceQuota
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = q
		return q.Status.Used != nil && ok(q.Status.Used), nil
	})
	if err != nil {
		t.Fatalf("quota %s/%s: status.used %v never as expected: %v", ns, name, last.Status.Used, err)
	}
	return last
}

func usedIs(name corev1.ResourceName, want string) func(corev1.ResourceList) bool {
	return func(used corev1.ResourceList) bool {
		q, ok := used[name]
		return ok && q.Cmp(resource.MustParse(want)) == 0
	}
}

func quotaPod(name string, res corev1.ResourceRequirements) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: res}}}}
}

// TestResourceQuota: admission refuses what exceeds a quota with
// upstream's 403 messages, status.used follows creates and deletes, and
// concurrent creates never overshoot.
func TestResourceQuota(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()

	t.Run("pods count and replenish", func(t *testing.T) {
		ns := "quota-pods"
		quotaNamespace(t, cs, ns)
		createQuota(t, cs, ns, "q", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")})
		pods := cs.CoreV1().Pods(ns)
		for _, n := range []string{"a", "b"} {
			if _, err := pods.Create(ctx, quotaPod(n, corev1.ResourceRequirements{}), metav1.CreateOptions{}); err != nil {
				t.Fatalf("pod %s within quota: %v", n, err)
			}
		}
		waitUsed(t, cs, ns, "q", usedIs(corev1.ResourcePods, "2"))
		_, err := pods.Create(ctx, quotaPod("c", corev1.ResourceRequirements{}), metav1.CreateOptions{})
		want := `pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Fatalf("third pod: got %v, want 403 %q", err, want)
		}
		if err := pods.Delete(ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, cs, ns, "q", usedIs(corev1.ResourcePods, "1"))
		if _, err := pods.Create(ctx, quotaPod("c", corev1.ResourceRequirements{}), metav1.CreateOptions{}); err != nil {
			t.Fatalf("pod after a delete freed quota: %v", err)
		}
		waitUsed(t, cs, ns, "q", usedIs(corev1.ResourcePods, "2"))
	})

	t.Run("compute resources", func(t *testing.T) {
		ns := "quota-compute"
		quotaNamespace(t, cs, ns)
		createQuota(t, cs, ns, "compute", corev1.ResourceList{
			corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourceLimitsMemory: resource.MustParse("1Gi"),
		})
		pods := cs.CoreV1().Pods(ns)
		_, err := pods.Create(ctx, quotaPod("bare", corev1.ResourceRequirements{}), metav1.CreateOptions{})
		want := `pods "bare" is forbidden: failed quota: compute: must specify limits.memory for: c; requests.cpu for: c`
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Fatalf("pod without resources: got %v, want 403 %q", err, want)
		}
		res := corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("600m")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		}
		if _, err := pods.Create(ctx, quotaPod("one", res), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = pods.Create(ctx, quotaPod("two", res), metav1.CreateOptions{})
		want = `pods "two" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1`
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Fatalf("second pod: got %v, want 403 %q", err, want)
		}
		q := waitUsed(t, cs, ns, "compute", usedIs(corev1.ResourceLimitsMemory, "512Mi"))
		if got := q.Status.Used[corev1.ResourceRequestsCPU]; got.Cmp(resource.MustParse("600m")) != 0 {
			t.Errorf("requests.cpu used %s, want 600m", got.String())
		}
		if got := q.Status.Hard[corev1.ResourceLimitsMemory]; got.Cmp(resource.MustParse("1Gi")) != 0 {
			t.Errorf("status.hard limits.memory %s, want 1Gi", got.String())
		}
	})

	t.Run("object counts", func(t *testing.T) {
		ns := "quota-objects"
		quotaNamespace(t, cs, ns)
		createQuota(t, cs, ns, "objects", corev1.ResourceList{
			corev1.ResourceServices: resource.MustParse("1"), "count/deployments.apps": resource.MustParse("0"),
		})
		svc := func(name string) *corev1.Service {
			return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
		}
		if _, err := cs.CoreV1().Services(ns).Create(ctx, svc("one"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := cs.CoreV1().Services(ns).Create(ctx, svc("two"), metav1.CreateOptions{})
		want := `services "two" is forbidden: exceeded quota: objects, requested: services=1, used: services=1, limited: services=1`
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Fatalf("second service: got %v, want 403 %q", err, want)
		}
		if err := cs.CoreV1().Services(ns).Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, cs, ns, "objects", usedIs(corev1.ResourceServices, "0"))

		// A count/<resource>.<group> quota gives a deleted object back
		// (upstream's conformance spec "capture the life of a replica
		// set" waits for it).
		createQuota(t, cs, ns, "replicasets", corev1.ResourceList{"count/replicasets.apps": resource.MustParse("2")})
		waitUsed(t, cs, ns, "replicasets", usedIs("count/replicasets.apps", "0"))
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs"}, Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rs"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rs"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
		}}
		if _, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, cs, ns, "replicasets", usedIs("count/replicasets.apps", "1"))
		if err := cs.AppsV1().ReplicaSets(ns).Delete(ctx, "rs", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, cs, ns, "replicasets", usedIs("count/replicasets.apps", "0"))
	})

	t.Run("controller recounts and scopes", func(t *testing.T) {
		ns := "quota-recount"
		quotaNamespace(t, cs, ns)
		// Objects from before the quota are counted when it is created
		// (kube-root-ca.crt is the third ConfigMap).
		for _, n := range []string{"one", "two"} {
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		createQuota(t, cs, ns, "objects", corev1.ResourceList{corev1.ResourceConfigMaps: resource.MustParse("10")})
		waitUsed(t, cs, ns, "objects", usedIs(corev1.ResourceConfigMaps, "3"))

		scoped := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "scoped"}, Spec: corev1.ResourceQuotaSpec{
			Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}, Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}}}
		if _, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, scoped, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, cs, ns, "scoped", usedIs(corev1.ResourcePods, "0"))
		admissionCaughtUp(t, cs, ns)
		pods := cs.CoreV1().Pods(ns)
		if _, err := pods.Create(ctx, quotaPod("best", corev1.ResourceRequirements{}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		burstable := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
		if _, err := pods.Create(ctx, quotaPod("burstable", burstable), metav1.CreateOptions{}); err != nil {
			t.Fatalf("a burstable pod is outside a BestEffort quota: %v", err)
		}
		_, err := pods.Create(ctx, quotaPod("best2", corev1.ResourceRequirements{}), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota: scoped, requested: pods=1, used: pods=1, limited: pods=1") {
			t.Fatalf("second best-effort pod: %v", err)
		}
		// A pod that finished frees what it held. The scheduler may write
		// the pod (its PodScheduled condition) between the read and the
		// write: retried on conflict.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p, err := pods.Get(ctx, "best", metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Status.Phase = corev1.PodSucceeded
			_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		waitUsed(t, cs, ns, "scoped", usedIs(corev1.ResourcePods, "0"))
	})

	t.Run("concurrent creates", func(t *testing.T) {
		ns := "quota-race"
		quotaNamespace(t, cs, ns)
		createQuota(t, cs, ns, "q", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")})
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = cs.CoreV1().Pods(ns).Create(ctx, quotaPod(fmt.Sprintf("p%d", i), corev1.ResourceRequirements{}), metav1.CreateOptions{})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3"):
				t.Errorf("unexpected refusal: %v", err)
			}
		}
		if ok != 3 {
			t.Fatalf("%d of 10 concurrent creates succeeded against pods=3, want exactly 3", ok)
		}
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 3 {
			t.Fatalf("pods stored: %v %v, want 3", len(list.Items), err)
		}
		waitUsed(t, cs, ns, "q", usedIs(corev1.ResourcePods, "3"))
	})
}
