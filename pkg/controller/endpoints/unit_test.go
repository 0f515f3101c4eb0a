package endpoints

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func addrs(prefix string, n int) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, n)
	for i := range out {
		out[i] = corev1.EndpointAddress{IP: fmt.Sprintf("%s.%d.%d", prefix, i/250, i%250)}
	}
	return out
}

func TestTruncate(t *testing.T) {
	cases := []struct {
		name                  string
		subsets               []corev1.EndpointSubset
		cut                   bool
		ready, notReady       []int // per subset, after
		wantTotal, wantSubset int
	}{
		{name: "at capacity", subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0", 600), NotReadyAddresses: addrs("10.1", 400)}},
			ready: []int{600}, notReady: []int{400}},
		// Ready ones fit: the not-ready ones are cut, proportionally.
		{name: "not ready cut", cut: true, subsets: []corev1.EndpointSubset{
			{Addresses: addrs("10.0", 500), NotReadyAddresses: addrs("10.1", 300)},
			{Addresses: addrs("10.2", 300), NotReadyAddresses: addrs("10.3", 100)},
		}, ready: []int{500, 300}, notReady: []int{150, 50}},
		// Too many ready ones: the not-ready ones all go.
		{name: "ready cut", cut: true, subsets: []corev1.EndpointSubset{
			{Addresses: addrs("10.0", 1500), NotReadyAddresses: addrs("10.1", 10)},
			{Addresses: addrs("10.2", 500)},
		}, ready: []int{750, 250}, notReady: []int{0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := truncate(c.subsets); got != c.cut {
				t.Fatalf("truncated = %v, want %v", got, c.cut)
			}
			for i, ss := range c.subsets {
				if len(ss.Addresses) != c.ready[i] || len(ss.NotReadyAddresses) != c.notReady[i] {
					t.Errorf("subset %d: %d ready, %d not ready; want %d, %d", i, len(ss.Addresses), len(ss.NotReadyAddresses), c.ready[i], c.notReady[i])
				}
			}
			if n := count(c.subsets); n > maxCapacity {
				t.Errorf("%d addresses left", n)
			}
		})
	}
}

func TestUpToDateWantsOverCapacityAnnotationRight(t *testing.T) {
	svc := &corev1.Service{}
	subsets := []corev1.EndpointSubset{{Addresses: addrs("10.0", 3)}}
	cur := &corev1.Endpoints{Subsets: subsets}
	if !upToDate(cur, svc, subsets) {
		t.Error("same subsets, no annotation: should be up to date")
	}
	cur.Annotations = map[string]string{corev1.EndpointsOverCapacity: truncated}
	if upToDate(cur, svc, subsets) {
		t.Error("a stale over-capacity annotation must be removed")
	}
	cur = &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0", 3)}}}
	cur.Subsets[0].Addresses[0].TargetRef = &corev1.ObjectReference{Name: "p", ResourceVersion: "7"}
	want := []corev1.EndpointSubset{{Addresses: addrs("10.0", 3)}}
	want[0].Addresses[0].TargetRef = &corev1.ObjectReference{Name: "p", ResourceVersion: "8"}
	if !upToDate(cur, svc, want) {
		t.Error("a target's resourceVersion is no reason to write")
	}
}
