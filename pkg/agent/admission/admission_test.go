package admission

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testNode() *corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("2"),
		corev1.ResourceMemory:           resource.MustParse("4Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("10Gi"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1", "disk": "ssd"}},
		Status:     corev1.NodeStatus{Capacity: res, Allocatable: res},
	}
}

// testPod is a pod bound to n1, created sec seconds after t0.
func testPod(name string, sec int, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(sec) * time.Second))},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func hostPort(port int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "conflict", ContainerPort: port, HostPort: port, Protocol: corev1.ProtocolTCP})
	}
}

func requests(cpu, mem string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		r := corev1.ResourceList{}
		if cpu != "" {
			r[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			r[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		p.Spec.Containers[0].Resources.Requests = r
	}
}

func phase(ph corev1.PodPhase) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}

func static(p *corev1.Pod) {
	p.Annotations = map[string]string{configSource: "file"}
}

func TestCheck(t *testing.T) {
	tainted := testNode()
	tainted.Spec.Taints = []corev1.Taint{
		{Key: "maintenance", Effect: corev1.TaintEffectNoSchedule},
		{Key: "evict", Value: "yes", Effect: corev1.TaintEffectNoExecute},
	}
	wrongOS := "windows"
	if runtime.GOOS == wrongOS {
		wrongOS = "linux"
	}
	cases := []struct {
		name         string
		node         *corev1.Node
		others       []*corev1.Pod
		pod          *corev1.Pod
		reason, msg  string // "" admits
		wantAdmitted bool
	}{
		{name: "plain pod", pod: testPod("p", 0)},
		{name: "host port taken", others: []*corev1.Pod{testPod("a", 0, hostPort(21017))}, pod: testPod("p", 1, hostPort(21017)),
			reason: "NodePorts", msg: "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"},
		{name: "host port of a finished pod is free", others: []*corev1.Pod{testPod("a", 0, hostPort(21017), phase(corev1.PodSucceeded))}, pod: testPod("p", 1, hostPort(21017))},
		{name: "other host port", others: []*corev1.Pod{testPod("a", 0, hostPort(21017))}, pod: testPod("p", 1, hostPort(21018))},
		{name: "out of cpu", others: []*corev1.Pod{testPod("a", 0, requests("1500m", ""))}, pod: testPod("p", 1, requests("1", "")),
			reason: "OutOfcpu", msg: "Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000"},
		{name: "out of memory", pod: testPod("p", 1, requests("", "5Gi")),
			reason: "OutOfmemory", msg: "Node didn't have enough resource: memory, requested: 5368709120, used: 0, capacity: 4294967296"},
		{name: "resources are reported before ports", others: []*corev1.Pod{testPod("a", 0, hostPort(80), requests("2", ""))}, pod: testPod("p", 1, hostPort(80), requests("1", "")),
			reason: "OutOfcpu", msg: "Node didn't have enough resource: cpu, requested: 1000, used: 2000, capacity: 2000"},
		{name: "node selector", pod: testPod("p", 0, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "hdd"} }),
			reason: "NodeAffinity", msg: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"},
		{name: "required node affinity", pod: testPod("p", 0, func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"ssd"}}}}},
			}}}
		}), reason: "NodeAffinity", msg: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"},
		{name: "matching selector", pod: testPod("p", 0, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })},
		{name: "untolerated NoExecute taint", node: tainted, pod: testPod("p", 0),
			reason: "TaintToleration", msg: "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"},
		{name: "tolerated NoExecute taint, NoSchedule ignored", node: tainted, pod: testPod("p", 0, func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "evict", Operator: corev1.TolerationOpExists}}
		})},
		{name: "static pods ignore taints", node: tainted, pod: testPod("p", 0, static)},
		{name: "os label", pod: testPod("p", 0, func(p *corev1.Pod) { p.Labels = map[string]string{corev1.LabelOSStable: wrongOS} }),
			reason: "PodOSSelectorNodeLabelDoesNotMatch", msg: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"},
		{name: "os field", pod: testPod("p", 0, func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: corev1.OSName(wrongOS)} }),
			reason: "PodOSNotSupported", msg: "Failed to admit pod as the OS field doesn't match node OS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			node := tc.node
			if node == nil {
				node = testNode()
			}
			got := Check(tc.pod, node, tc.others)
			want := Result{Admit: tc.reason == "", Reason: tc.reason, Message: tc.msg}
			if got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestCheckPodCount(t *testing.T) {
	node := testNode()
	node.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("2")
	others := []*corev1.Pod{testPod("a", 0), testPod("b", 0), testPod("done", 0, phase(corev1.PodFailed))}
	got := Check(testPod("p", 1), node, others)
	want := Result{Reason: "OutOfpods", Message: "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// fakeNode is the node and pods an admitter reads.
type fakeNode struct {
	mu   sync.Mutex
	node *corev1.Node
	pods []*corev1.Pod
}

func (f *fakeNode) admitter() *Admitter {
	return New(func() *corev1.Node {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.node
	}, func() []*corev1.Pod {
		f.mu.Lock()
		defer f.mu.Unlock()
		return append([]*corev1.Pod(nil), f.pods...)
	})
}

func (f *fakeNode) set(pods ...*corev1.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods = pods
}

func TestAdmitterCreationOrder(t *testing.T) {
	// b was created before c; c is synced first, yet b gets the port.
	b, c := testPod("b", 1, hostPort(80)), testPod("c", 2, hostPort(80))
	f := &fakeNode{node: testNode()}
	f.set(b, c)
	ad := f.admitter()
	res, first := ad.Admit(c)
	if res.Admit || res.Reason != "NodePorts" || !first {
		t.Fatalf("c: %+v first=%v", res, first)
	}
	if res, first := ad.Admit(c); res.Admit || first {
		t.Fatalf("c again: %+v first=%v, want the same rejection, not reported again", res, first)
	}
	if res, first := ad.Admit(b); !res.Admit || !first {
		t.Fatalf("b: %+v first=%v", res, first)
	}
}

func TestAdmitterSameSecond(t *testing.T) {
	// Pods of the same second go by name, whichever is synced first.
	for _, syncFirst := range []string{"x", "y"} {
		x, y := testPod("x", 0, requests("2", "")), testPod("y", 0, requests("2", ""))
		f := &fakeNode{node: testNode()}
		f.set(y, x)
		ad := f.admitter()
		p := map[string]*corev1.Pod{"x": x, "y": y}[syncFirst]
		ad.Admit(p)
		if res, _ := ad.Admit(x); !res.Admit {
			t.Fatalf("synced %s first: x %+v", syncFirst, res)
		}
		if res, _ := ad.Admit(y); res.Admit || res.Reason != "OutOfcpu" {
			t.Fatalf("synced %s first: y %+v", syncFirst, res)
		}
	}
}

func TestAdmitterConcurrent(t *testing.T) {
	// Many pods asking for the same port at once: exactly one runs.
	const n = 20
	f := &fakeNode{node: testNode()}
	var pods []*corev1.Pod
	for i := range n {
		pods = append(pods, testPod(fmt.Sprintf("p%02d", i), i%3, hostPort(8080)))
	}
	f.set(pods...)
	ad := f.admitter()
	var wg sync.WaitGroup
	results := make([]Result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[n-1-i], _ = ad.Admit(pods[n-1-i])
		}()
	}
	wg.Wait()
	admitted := 0
	for i, r := range results {
		if r.Admit {
			admitted++
			if pods[i].Name != "p00" {
				t.Errorf("%s admitted; the oldest (p00) should be", pods[i].Name)
			}
		}
	}
	if admitted != 1 {
		t.Fatalf("%d pods admitted with the same host port", admitted)
	}
}

func TestAdmitterDecisionsStick(t *testing.T) {
	a, b := testPod("a", 0, hostPort(80)), testPod("b", 1, hostPort(80))
	f := &fakeNode{node: testNode()}
	f.set(a, b)
	ad := f.admitter()
	if res, _ := ad.Admit(a); !res.Admit {
		t.Fatalf("a: %+v", res)
	}
	if res, _ := ad.Admit(b); res.Admit {
		t.Fatalf("b: %+v", res)
	}
	// The node changes under a: a is not checked again.
	f.mu.Lock()
	f.node = testNode()
	f.node.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoExecute}}
	f.mu.Unlock()
	if res, _ := ad.Admit(a); !res.Admit {
		t.Fatalf("a re-checked: %+v", res)
	}
	// a goes: b stays rejected, a new pod with the port runs.
	b.Status.Phase = corev1.PodFailed
	c := testPod("b", 5, hostPort(80))
	c.UID = "uid-b2"
	f.set(b, c)
	f.mu.Lock()
	f.node = testNode()
	f.mu.Unlock()
	if res, _ := ad.Admit(b); res.Admit {
		t.Fatalf("rejected b admitted later: %+v", res)
	}
	if res, _ := ad.Admit(c); !res.Admit {
		t.Fatalf("new pod after the conflicting one went: %+v", res)
	}
}

func TestAdmitterRunningAndTerminal(t *testing.T) {
	// A pod found running is admitted unchecked and holds its port; one
	// that finished or is being deleted before its turn is not decided.
	run := testPod("run", 5, hostPort(80), requests("3", "")) // too big, but already running
	done := testPod("done", 0, hostPort(81), phase(corev1.PodSucceeded))
	gone := testPod("gone", 0, hostPort(82))
	gone.DeletionTimestamp = &metav1.Time{Time: t0}
	p := testPod("p", 6, hostPort(80), requests("1", ""))
	q := testPod("q", 7, hostPort(81), hostPort(82))
	f := &fakeNode{node: testNode()}
	f.set(run, done, gone, p, q)
	ad := f.admitter()
	ad.Running(run.UID)
	if res, _ := ad.Admit(run); !res.Admit {
		t.Fatalf("running pod: %+v", res)
	}
	if res, _ := ad.Admit(p); res.Admit || res.Reason != "OutOfcpu" {
		t.Fatalf("p: %+v, want OutOfcpu (the running pod holds 3 cpus)", res)
	}
	if res, _ := ad.Admit(q); !res.Admit {
		t.Fatalf("q: %+v; ports of finished and deleted pods are free", res)
	}
}

// Under pressure the kubelet refuses pods as upstream's eviction manager:
// memory pressure alone refuses only BestEffort pods that do not
// tolerate it, disk or pid pressure every pod; static pods always pass.
func TestCheckPressure(t *testing.T) {
	under := func(conds ...corev1.NodeConditionType) *corev1.Node {
		n := testNode()
		for _, c := range conds {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: c, Status: corev1.ConditionTrue})
		}
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse})
		return n
	}
	tolerant := func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		node *corev1.Node
		msg  string // "" = admitted
	}{
		{"no pressure", testPod("a", 1), under(), ""},
		{"memory, besteffort", testPod("a", 1), under(corev1.NodeMemoryPressure), "The node had condition: [MemoryPressure]. "},
		{"memory, burstable", testPod("a", 1, requests("100m", "10Mi")), under(corev1.NodeMemoryPressure), ""},
		{"memory, tolerating", testPod("a", 1, tolerant), under(corev1.NodeMemoryPressure), ""},
		{"disk, burstable", testPod("a", 1, requests("100m", "10Mi")), under(corev1.NodeDiskPressure), "The node had condition: [DiskPressure]. "},
		{"memory and disk, burstable", testPod("a", 1, requests("100m", "10Mi")), under(corev1.NodeMemoryPressure, corev1.NodeDiskPressure), "The node had condition: [MemoryPressure DiskPressure]. "},
		{"disk, static", testPod("a", 1, static), under(corev1.NodeDiskPressure), ""},
	}
	for _, tc := range cases {
		r := Check(tc.pod, tc.node, nil)
		if tc.msg == "" {
			if !r.Admit {
				t.Errorf("%s: refused %+v", tc.name, r)
			}
			continue
		}
		if r.Admit || r.Reason != "Evicted" || r.Message != tc.msg {
			t.Errorf("%s: %+v, want refused Evicted %q", tc.name, r, tc.msg)
		}
	}
}
