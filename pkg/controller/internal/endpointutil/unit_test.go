package endpointutil

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func addr(ip, uid string) corev1.EndpointAddress {
	a := corev1.EndpointAddress{IP: ip}
	if uid != "" {
		a.TargetRef = &corev1.ObjectReference{UID: types.UID(uid)}
	}
	return a
}

func TestRepack(t *testing.T) {
	http := corev1.EndpointPort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}
	dns := corev1.EndpointPort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}
	got := Repack([]corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.2", "b")}, Ports: []corev1.EndpointPort{http}},
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: []corev1.EndpointPort{http}},
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: []corev1.EndpointPort{dns}},
		{NotReadyAddresses: []corev1.EndpointAddress{addr("10.0.0.2", "b")}, Ports: []corev1.EndpointPort{dns}},
		// Ready for http elsewhere, not ready here: not ready wins.
		{NotReadyAddresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: []corev1.EndpointPort{http}},
		// Same IP, another pod: a separate address.
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "z")}, Ports: []corev1.EndpointPort{dns}},
	})
	want := []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a"), addr("10.0.0.1", "z")}, NotReadyAddresses: []corev1.EndpointAddress{addr("10.0.0.2", "b")}, Ports: []corev1.EndpointPort{dns}},
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.2", "b")}, NotReadyAddresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: []corev1.EndpointPort{http}},
	}
	if !equalSubsets(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// Ports with the same addresses share a subset; port-less subsets
	// keep their addresses without ports.
	got = Repack([]corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: []corev1.EndpointPort{http}},
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: []corev1.EndpointPort{dns}},
	})
	want = []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: []corev1.EndpointPort{dns, http}}}
	if !equalSubsets(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	got = Repack([]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.0.0.2", ""), addr("10.0.0.1", "")}}})
	want = []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", ""), addr("10.0.0.2", "")}}}
	if !equalSubsets(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// A subset with ports but no addresses vanishes.
	if got := Repack([]corev1.EndpointSubset{{Ports: []corev1.EndpointPort{http}}}); len(got) != 0 {
		t.Errorf("empty subset kept: %+v", got)
	}
}

func equalSubsets(a, b []corev1.EndpointSubset) bool {
	if len(a) != len(b) {
		return false
	}
	eqAddrs := func(x, y []corev1.EndpointAddress) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i].IP != y[i].IP || (x[i].TargetRef == nil) != (y[i].TargetRef == nil) || (x[i].TargetRef != nil && x[i].TargetRef.UID != y[i].TargetRef.UID) {
				return false
			}
		}
		return true
	}
	for i := range a {
		if !eqAddrs(a[i].Addresses, b[i].Addresses) || !eqAddrs(a[i].NotReadyAddresses, b[i].NotReadyAddresses) || len(a[i].Ports) != len(b[i].Ports) {
			return false
		}
		for j := range a[i].Ports {
			if a[i].Ports[j] != b[i].Ports[j] {
				return false
			}
		}
	}
	return true
}

func TestFindPort(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP},
		}}},
		InitContainers: []corev1.Container{
			{Ports: []corev1.ContainerPort{{Name: "init-only", ContainerPort: 1, Protocol: corev1.ProtocolTCP}}},
			{RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "sidecar", ContainerPort: 9000, Protocol: corev1.ProtocolTCP}}},
		},
	}}
	for _, c := range []struct {
		target intstr.IntOrString
		proto  corev1.Protocol
		want   int32
		ok     bool
	}{
		{intstr.FromInt32(81), corev1.ProtocolTCP, 81, true},
		{intstr.FromString("http"), corev1.ProtocolTCP, 8080, true},
		{intstr.FromString("http"), corev1.ProtocolUDP, 0, false}, // the name's protocol must match
		{intstr.FromString("dns"), corev1.ProtocolUDP, 5353, true},
		{intstr.FromString("sidecar"), corev1.ProtocolTCP, 9000, true},
		{intstr.FromString("init-only"), corev1.ProtocolTCP, 0, false},
		{intstr.FromString("nope"), corev1.ProtocolTCP, 0, false},
	} {
		got, ok := FindPort(pod, &corev1.ServicePort{TargetPort: c.target, Protocol: c.proto})
		if got != c.want || ok != c.ok {
			t.Errorf("%v/%s: %d %v, want %d %v", c.target.String(), c.proto, got, ok, c.want, c.ok)
		}
	}
}

func TestShouldPodBeInEndpoints(t *testing.T) {
	now := metav1.Now()
	ip := corev1.PodStatus{PodIP: "10.0.0.1", Phase: corev1.PodRunning}
	for _, c := range []struct {
		name        string
		pod         corev1.Pod
		terminating bool
		want        bool
	}{
		{"running", corev1.Pod{Status: ip}, false, true},
		{"no ip", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, true, false},
		{"succeeded", corev1.Pod{Status: corev1.PodStatus{PodIP: "10.0.0.1", Phase: corev1.PodSucceeded}}, true, false},
		{"failed", corev1.Pod{Status: corev1.PodStatus{PodIP: "10.0.0.1", Phase: corev1.PodFailed}}, true, false},
		{"deleting", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: ip}, false, false},
		{"deleting, terminating wanted", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: ip}, true, true},
	} {
		if got := ShouldPodBeInEndpoints(&c.pod, c.terminating); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestTriggerTimes(t *testing.T) {
	var tt TriggerTimes
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", CreationTimestamp: metav1.NewTime(created)}}
	pod := func(name string, at time.Time) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}}}
	}
	t1, t2 := created.Add(time.Minute), created.Add(2*time.Minute)
	if got := tt.Compute(svc, []*corev1.Pod{pod("a", t1)}); !got.Equal(created) {
		t.Errorf("first sync: %v, want the Service's creation", got)
	}
	if got := tt.Compute(svc, []*corev1.Pod{pod("a", t1)}); !got.IsZero() {
		t.Errorf("nothing changed: %v, want none", got)
	}
	if got := tt.Compute(svc, []*corev1.Pod{pod("a", t2), pod("b", t1)}); !got.Equal(t1) {
		t.Errorf("two changes: %v, want the earlier %v", got, t1)
	}
	tt.Forget("ns", "s")
	if got := tt.Compute(svc, nil); !got.Equal(created) {
		t.Errorf("after Forget: %v, want the creation again", got)
	}
}

func TestEndpointSetAndPorts(t *testing.T) {
	ref := &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "p", ResourceVersion: "1"}
	e1 := &discoveryv1.Endpoint{Addresses: []string{"10.0.0.2", "10.0.0.1"}, TargetRef: ref, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}
	e2 := &discoveryv1.Endpoint{Addresses: []string{"10.0.0.1", "10.0.0.2"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "p", ResourceVersion: "2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}}
	s := EndpointSet{}
	s.Insert(e1)
	if s.Get(e2) != e1 {
		t.Error("same addresses and target, another readiness: the same endpoint")
	}
	if EndpointsEqualBeyondKey(e1, e2) {
		t.Error("readiness differs")
	}
	e2.Conditions.Ready = ptr.To(true)
	if !EndpointsEqualBeyondKey(e1, e2) {
		t.Error("only the target's resourceVersion differs")
	}
	if e1.Addresses[0] != "10.0.0.2" {
		t.Error("EndpointKey must not reorder the endpoint's addresses")
	}
	p := func(name string, port int32) discoveryv1.EndpointPort {
		return discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: ptr.To(corev1.ProtocolTCP)}
	}
	a, b := []discoveryv1.EndpointPort{p("b", 2), p("a", 1)}, []discoveryv1.EndpointPort{p("a", 1), p("b", 2)}
	if PortsKey(a) != PortsKey(b) || *a[0].Name != "b" {
		t.Error("PortsKey: any order, and the ports left as they were")
	}
	SortPorts(a)
	if *a[0].Name != "a" {
		t.Error("SortPorts")
	}
	if PortsKey([]discoveryv1.EndpointPort{{Port: ptr.To[int32](1)}}) == PortsKey([]discoveryv1.EndpointPort{{Name: ptr.To(""), Port: ptr.To[int32](1)}}) {
		t.Error("an unset name is not an empty one")
	}
}

func TestSliceTracker(t *testing.T) {
	var tr SliceTracker
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", UID: "svc-1"}}
	slice := func(uid string, gen int64) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", UID: types.UID(uid), Generation: gen,
			Labels: map[string]string{discoveryv1.LabelServiceName: "s"}}}
	}
	tr.Update(slice("a", 2))
	if tr.ShouldSync(slice("a", 2)) || !tr.ShouldSync(slice("a", 3)) || !tr.ShouldSync(slice("b", 1)) {
		t.Error("ShouldSync: own write no, newer or unknown yes")
	}
	if !tr.Stale(svc, []*discoveryv1.EndpointSlice{slice("a", 1)}) {
		t.Error("an older generation in the cache is stale")
	}
	if !tr.Stale(svc, nil) {
		t.Error("a written slice missing from the cache is stale")
	}
	if tr.Stale(svc, []*discoveryv1.EndpointSlice{slice("a", 2)}) {
		t.Error("caught up")
	}
	tr.ExpectDeletion(slice("a", 2))
	if !tr.Stale(svc, []*discoveryv1.EndpointSlice{slice("a", 2)}) {
		t.Error("a deleted slice still cached is stale")
	}
	if !tr.HandleDeletion(slice("a", 2)) {
		t.Error("an expected deletion")
	}
	tr.Update(slice("c", 1))
	if tr.HandleDeletion(slice("c", 1)) {
		t.Error("someone else deleted c")
	}
	// A new Service of the same name does not wait for the old one's slices.
	tr.Update(slice("d", 1))
	if tr.Stale(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", UID: "svc-2"}}, nil) {
		t.Error("writes for the earlier Service must be dropped")
	}
}

func TestPodEndpointsChanged(t *testing.T) {
	base := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1", Labels: map[string]string{"a": "1"}},
		Status: corev1.PodStatus{PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}}}
	for _, c := range []struct {
		name           string
		change         func(p *corev1.Pod)
		podCh, labelCh bool
	}{
		{"nothing", func(p *corev1.Pod) {}, false, false},
		{"ready", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}, true, false},
		{"ip", func(p *corev1.Pod) { p.Status.PodIPs[0].IP = "10.0.0.2" }, true, false},
		{"deleted", func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }, true, false},
		{"finished", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, true, false},
		{"labels", func(p *corev1.Pod) { p.Labels = map[string]string{"a": "2"} }, false, true},
		{"hostname", func(p *corev1.Pod) { p.Spec.Hostname = "h" }, false, true},
	} {
		n := base.DeepCopy()
		n.ResourceVersion = "2"
		c.change(n)
		pc, lc := podEndpointsChanged(base, n)
		if pc != c.podCh || lc != c.labelCh {
			t.Errorf("%s: pod %v labels %v, want %v %v", c.name, pc, lc, c.podCh, c.labelCh)
		}
	}
}
