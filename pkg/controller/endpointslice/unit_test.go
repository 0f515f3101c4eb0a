package endpointslice

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/endpointutil"
)

var testSvc = &corev1.Service{
	ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "svc-uid", Labels: map[string]string{"tier": "front"}},
	Spec:       corev1.ServiceSpec{ClusterIP: "10.43.0.10", Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
}

func testPod(i int, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	ip := fmt.Sprintf("10.42.%d.%d", i/200, i%200+1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("p%03d", i), UID: types.UID(fmt.Sprintf("uid-%d", i))},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func testReconciler(t *testing.T) *reconciler {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := idx.Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	return &reconciler{nodes: listersv1.NewNodeLister(idx), max: 100, tracker: &endpointutil.SliceTracker{}}
}

// apply turns a plan into the slices a server would then hold, naming
// the new ones.
func apply(existing []*discoveryv1.EndpointSlice, ch *changes) []*discoveryv1.EndpointSlice {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range ch.delete {
		delete(byName, s.Name)
	}
	for _, s := range ch.update {
		byName[s.Name] = s
	}
	for i, s := range ch.create {
		c := s.DeepCopy()
		c.Name = fmt.Sprintf("new-%d-%d", len(byName), i)
		byName[c.Name] = c
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sizes(slices []*discoveryv1.EndpointSlice) string {
	var n []string
	for _, s := range slices {
		n = append(n, fmt.Sprint(len(s.Endpoints)))
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

func TestPlanSplitsAndKeepsChurnLow(t *testing.T) {
	r := testReconciler(t)
	var pods []*corev1.Pod
	for i := range 250 {
		pods = append(pods, testPod(i, true))
	}
	ch, err := r.plan(testSvc, pods, nil, discoveryv1.AddressTypeIPv4)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.create) != 3 || len(ch.update) != 0 || len(ch.delete) != 0 {
		t.Fatalf("fresh: %d creates %d updates %d deletes, want 3 creates", len(ch.create), len(ch.update), len(ch.delete))
	}
	slices := apply(nil, ch)
	if got := sizes(slices); got != "100,100,50" {
		t.Fatalf("sizes %s", got)
	}
	for _, s := range slices {
		s.ResourceVersion = "1"
	}

	// Nothing changed: nothing to write.
	ch, _ = r.plan(testSvc, pods, slices, discoveryv1.AddressTypeIPv4)
	if len(ch.create)+len(ch.update)+len(ch.delete) != 0 {
		t.Fatalf("steady state: %d/%d/%d writes", len(ch.create), len(ch.update), len(ch.delete))
	}

	// One pod turns unready: one slice updated in place.
	pods[3] = testPod(3, false)
	ch, _ = r.plan(testSvc, pods, slices, discoveryv1.AddressTypeIPv4)
	if len(ch.create) != 0 || len(ch.update) != 1 || len(ch.delete) != 0 {
		t.Fatalf("readiness: %d/%d/%d writes, want one update", len(ch.create), len(ch.update), len(ch.delete))
	}

	pods[3] = testPod(3, true)

	// Ten new pods go into the slice with room (the 50), not a new one.
	more := append([]*corev1.Pod(nil), pods...)
	for i := 250; i < 260; i++ {
		more = append(more, testPod(i, true))
	}
	ch, _ = r.plan(testSvc, more, slices, discoveryv1.AddressTypeIPv4)
	if len(ch.create) != 0 || len(ch.delete) != 0 || len(ch.update) != 1 {
		t.Fatalf("growth: %d/%d/%d writes, want one update", len(ch.create), len(ch.update), len(ch.delete))
	}
	if got := sizes(apply(slices, ch)); got != "100,100,60" {
		t.Errorf("sizes after growth %s", got)
	}

	// The pods of one slice all go: that slice goes.
	var rest []*corev1.Pod
	gone := map[string]bool{}
	for _, e := range slices[0].Endpoints {
		gone[e.TargetRef.Name] = true
	}
	for _, p := range pods {
		if !gone[p.Name] {
			rest = append(rest, p)
		}
	}
	ch, _ = r.plan(testSvc, rest, slices, discoveryv1.AddressTypeIPv4)
	if len(ch.create) != 0 || len(ch.update) != 0 || len(ch.delete) != 1 || ch.delete[0].Name != slices[0].Name {
		t.Errorf("shrink: %d/%d/%d writes, want slice %s deleted", len(ch.create), len(ch.update), len(ch.delete), slices[0].Name)
	}

	// The Service's labels change: every slice is relabelled, endpoints kept.
	relabelled := testSvc.DeepCopy()
	relabelled.Labels["tier"] = "back"
	ch, _ = r.plan(relabelled, pods, slices, discoveryv1.AddressTypeIPv4)
	if len(ch.update) != 3 || ch.update[0].Labels["tier"] != "back" || ch.update[0].Labels[discoveryv1.LabelManagedBy] != ControllerName {
		t.Errorf("relabel: %d updates, labels %v", len(ch.update), ch.update[0].Labels)
	}
}

func TestPlanPlaceholderAndStrangers(t *testing.T) {
	r := testReconciler(t)
	ch, _ := r.plan(testSvc, nil, nil, discoveryv1.AddressTypeIPv4)
	if len(ch.create) != 1 || len(ch.create[0].Endpoints) != 0 || len(ch.create[0].Ports) != 0 {
		t.Fatalf("no pods: want one empty slice, got %d creates", len(ch.create))
	}
	placeholder := ch.create[0]
	placeholder.Name = "web-abc"
	ch, _ = r.plan(testSvc, nil, []*discoveryv1.EndpointSlice{placeholder}, discoveryv1.AddressTypeIPv4)
	if len(ch.create)+len(ch.update)+len(ch.delete) != 0 {
		t.Errorf("placeholder in place: %d/%d/%d writes", len(ch.create), len(ch.update), len(ch.delete))
	}
	// A slice of an earlier Service of the same name is deleted.
	stranger := placeholder.DeepCopy()
	stranger.Name, stranger.OwnerReferences[0].UID = "web-old", "old-uid"
	ch, _ = r.plan(testSvc, []*corev1.Pod{testPod(1, true)}, []*discoveryv1.EndpointSlice{placeholder, stranger}, discoveryv1.AddressTypeIPv4)
	// The placeholder (no ports) is recycled for the slice with ports.
	recycle(testSvc, ch)
	if len(ch.delete) != 1 || ch.delete[0].Name != "web-old" || len(ch.update) != 1 || ch.update[0].Name != "web-abc" {
		t.Errorf("stranger: deletes %v updates %v creates %d", sliceNames(ch.delete), sliceNames(ch.update), len(ch.create))
	}
}

func TestPlanSkipsPodsOnUnknownNodes(t *testing.T) {
	r := testReconciler(t)
	p := testPod(1, true)
	p.Spec.NodeName = "nowhere"
	ch, err := r.plan(testSvc, []*corev1.Pod{p, testPod(2, true)}, nil, discoveryv1.AddressTypeIPv4)
	if err == nil || len(ch.create) != 1 || len(ch.create[0].Endpoints) != 1 {
		t.Errorf("err %v, creates %d", err, len(ch.create))
	}
	all := testSvc.DeepCopy()
	all.Spec.PublishNotReadyAddresses = true
	ch, err = r.plan(all, []*corev1.Pod{p, testPod(2, true)}, nil, discoveryv1.AddressTypeIPv4)
	if err != nil || len(ch.create) != 1 || len(ch.create[0].Endpoints) != 2 {
		t.Errorf("publishing all: err %v, creates %d", err, len(ch.create))
	}
}

func sliceNames(s []*discoveryv1.EndpointSlice) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Name)
	}
	return out
}

func TestAddressTypes(t *testing.T) {
	for _, c := range []struct {
		spec corev1.ServiceSpec
		want string
	}{
		{corev1.ServiceSpec{IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}}, "[IPv4 IPv6]"},
		{corev1.ServiceSpec{ClusterIP: "fd00::10"}, "[IPv6]"},
		{corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}, "[IPv4]"},
	} {
		if got := fmt.Sprint(addressTypes(&corev1.Service{Spec: c.spec})); got != c.want {
			t.Errorf("%+v: %s, want %s", c.spec, got, c.want)
		}
	}
}
