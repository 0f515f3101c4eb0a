package endpoints

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

// maxCapacity is how many addresses an Endpoints object holds at most;
// past it the object is truncated and annotated, as upstream.
const maxCapacity = 1000

// truncate cuts subsets down to maxCapacity addresses, as upstream: when
// the ready addresses alone fit, the not-ready ones are cut, else the
// not-ready ones all go and the ready ones are cut; each subset keeps a
// share proportional to its size. It reports whether it cut anything.
func truncate(subsets []corev1.EndpointSubset) bool {
	ready, notReady := 0, 0
	for _, ss := range subsets {
		ready += len(ss.Addresses)
		notReady += len(ss.NotReadyAddresses)
	}
	if ready+notReady <= maxCapacity {
		return false
	}
	cutReady := ready > maxCapacity
	limit, total := maxCapacity-ready, notReady
	if cutReady {
		limit, total = maxCapacity, ready
	}
	left := limit
	for i := range subsets {
		ss := &subsets[i]
		n := len(ss.NotReadyAddresses)
		if cutReady {
			n = len(ss.Addresses)
		}
		take := min(int(math.Ceil(float64(n)/float64(total)*float64(limit))), left)
		if cutReady {
			ss.Addresses = ss.Addresses[:min(take, len(ss.Addresses))]
			ss.NotReadyAddresses = nil
			left -= len(ss.Addresses)
		} else {
			ss.NotReadyAddresses = ss.NotReadyAddresses[:min(take, len(ss.NotReadyAddresses))]
			left -= len(ss.NotReadyAddresses)
		}
	}
	return true
}

// count is the number of addresses in subsets, ready or not.
func count(subsets []corev1.EndpointSubset) int {
	n := 0
	for _, ss := range subsets {
		n += len(ss.Addresses) + len(ss.NotReadyAddresses)
	}
	return n
}
