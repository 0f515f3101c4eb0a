package quota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	quota "k8s.io/apiserver/pkg/quota/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func pod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: containers}}
}

func ctr(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func TestPodUsage(t *testing.T) {
	t.Parallel()
	e := NewPodEvaluator(nil, clocktesting.NewFakeClock(now))
	running := pod(ctr("a", rl("cpu", "100m", "memory", "1Gi"), rl("cpu", "200m")), ctr("b", rl("cpu", "300m", "example.com/gpu", "1"), nil))
	running.Spec.InitContainers = []corev1.Container{ctr("init", rl("cpu", "1"), nil)}
	done := running.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	deleted := running.DeepCopy()
	deleted.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Minute)}
	deleted.DeletionGracePeriodSeconds = ptr.To[int64](30)
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want corev1.ResourceList
	}{
		// the init container's 1 cpu exceeds the 400m of a and b together
		{"running", running, rl("pods", "1", "count/pods", "1", "cpu", "1", "requests.cpu", "1", "memory", "1Gi", "requests.memory", "1Gi",
			"limits.cpu", "200m", "requests.example.com/gpu", "1")},
		{"terminal phase", done, rl("count/pods", "1")},
		{"deleted past its grace period", deleted, rl("count/pods", "1")},
	} {
		got, err := e.Usage(tc.pod)
		if err != nil || !quota.Equals(got, tc.want) {
			t.Errorf("%s: usage %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestPodConstraints(t *testing.T) {
	t.Parallel()
	e := NewPodEvaluator(nil, clocktesting.NewFakeClock(now))
	p := pod(ctr("a", rl("cpu", "1"), nil), ctr("b", nil, nil))
	p.Spec.InitContainers = []corev1.Container{ctr("i", nil, rl("memory", "1Gi"))}
	err := e.Constraints([]corev1.ResourceName{"limits.cpu", "requests.cpu", "pods", "requests.storage"}, p)
	want := "must specify limits.cpu for: a,b,i; requests.cpu for: b,i"
	if err == nil || err.Error() != want {
		t.Errorf("constraints: %v, want %q", err, want)
	}
	if err := e.Constraints([]corev1.ResourceName{"pods", "count/pods"}, p); err != nil {
		t.Errorf("pods only: %v", err)
	}
}

func TestPodScopes(t *testing.T) {
	t.Parallel()
	best := pod(ctr("a", nil, nil))
	burst := pod(ctr("a", rl("cpu", "1"), nil))
	burst.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
	burst.Spec.PriorityClassName = "high"
	exists := func(s corev1.ResourceQuotaScope) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists}
	}
	in := func(vals ...string) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: vals}
	}
	for _, tc := range []struct {
		scope      corev1.ScopedResourceSelectorRequirement
		best, burs bool
	}{
		{exists(corev1.ResourceQuotaScopeBestEffort), true, false},
		{exists(corev1.ResourceQuotaScopeNotBestEffort), false, true},
		{exists(corev1.ResourceQuotaScopeTerminating), false, true},
		{exists(corev1.ResourceQuotaScopeNotTerminating), true, false},
		{exists(corev1.ResourceQuotaScopePriorityClass), false, true},
		{in("high", "mid"), false, true},
		{in("low"), false, false},
	} {
		for _, c := range []struct {
			p    *corev1.Pod
			want bool
		}{{best, tc.best}, {burst, tc.burs}} {
			got, err := podMatchesScope(tc.scope, c.p)
			if err != nil || got != c.want {
				t.Errorf("scope %v on %v: %v (%v), want %v", tc.scope, c.p.Spec, got, err, c.want)
			}
		}
	}
	q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}},
		Status: corev1.ResourceQuotaStatus{Hard: rl("pods", "1")}}
	e := NewPodEvaluator(nil, clocktesting.NewFakeClock(now))
	if ok, _ := e.Matches(q, best); !ok {
		t.Error("a BestEffort quota does not match a best-effort pod")
	}
	if ok, _ := e.Matches(q, burst); ok {
		t.Error("a BestEffort quota matches a burstable pod")
	}
}

func TestServiceAndPVCUsage(t *testing.T) {
	t.Parallel()
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}}
	got, _ := NewServiceEvaluator(nil).Usage(svc)
	if want := rl("services", "1", "count/services", "1", "services.loadbalancers", "1", "services.nodeports", "2"); !quota.Equals(got, want) {
		t.Errorf("load balancer usage %v, want %v", got, want)
	}
	svc.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
	got, _ = NewServiceEvaluator(nil).Usage(svc)
	if want := rl("services", "1", "count/services", "1", "services.loadbalancers", "1", "services.nodeports", "0"); !quota.Equals(got, want) {
		t.Errorf("load balancer without node ports %v, want %v", got, want)
	}
	pvc := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gold"),
		Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "1Gi")}}}
	got, _ = NewPVCEvaluator(nil).Usage(pvc)
	want := rl("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi",
		"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1", "gold.storageclass.storage.k8s.io/requests.storage", "1Gi")
	if !quota.Equals(got, want) {
		t.Errorf("claim usage %v, want %v", got, want)
	}
	names := NewPVCEvaluator(nil).MatchingResources([]corev1.ResourceName{"gold.storageclass.storage.k8s.io/requests.storage", "pods", "requests.storage"})
	if len(names) != 2 {
		t.Errorf("claim matching resources %v, want the class and requests.storage", names)
	}
}

// FuzzPodUsage: any quantities in a pod's resources give a usage without
// panics, and never a negative pods count.
func FuzzPodUsage(f *testing.F) {
	f.Add("100m", "1Gi", "2", "example.com/gpu")
	f.Add("1e3", "0", "-1", "hugepages-2Mi")
	e := NewPodEvaluator(nil, clocktesting.NewFakeClock(now))
	f.Fuzz(func(t *testing.T, cpu, mem, ext, extName string) {
		list := corev1.ResourceList{}
		for name, v := range map[string]string{"cpu": cpu, "memory": mem, extName: ext} {
			if q, err := resource.ParseQuantity(v); err == nil {
				list[corev1.ResourceName(name)] = q
			}
		}
		p := pod(ctr("a", list, list), ctr("b", list, nil))
		got, err := e.Usage(p)
		if err != nil {
			t.Fatal(err)
		}
		if n := got[corev1.ResourcePods]; n.Value() != 1 {
			t.Fatalf("pods %v, want 1", n.String())
		}
		_ = e.Constraints([]corev1.ResourceName{"cpu", "limits.memory"}, p)
	})
}
