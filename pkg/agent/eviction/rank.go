package eviction

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
)

// Reason is the status reason of an evicted pod.
const Reason = "Evicted"

// systemCriticalPriority is upstream's lowest system-critical priority
// (system-cluster-critical).
const systemCriticalPriority = 2_000_000_000

// Candidate is a pod that may be evicted with its usage of the resource
// being reclaimed (bytes: the memory working set, or the ephemeral
// storage it uses).
type Candidate struct {
	Pod        *corev1.Pod
	Usage      int64
	Containers map[string]int64 // the same per container, for the message
}

// IsCritical says whether a pod is never evicted: a static pod, its
// mirror, or a pod of system-critical priority, as upstream.
func IsCritical(pod *corev1.Pod) bool {
	if staticpods.IsStatic(pod) || staticpods.IsMirror(pod) {
		return true
	}
	return pod.Spec.Priority != nil && *pod.Spec.Priority >= systemCriticalPriority
}

// Rank orders candidates for reclaiming res as upstream's eviction
// manager: pods using more than they request first, then lower priority
// first, then the larger usage above the request first.
func Rank(cands []Candidate, res corev1.ResourceName) {
	over := func(c Candidate) int64 { return c.Usage - request(c.Pod, res) }
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if ea, eb := over(a) > 0, over(b) > 0; ea != eb {
			return ea
		}
		if pa, pb := priority(a.Pod), priority(b.Pod); pa != pb {
			return pa < pb
		}
		return over(a) > over(b)
	})
}

func priority(pod *corev1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}

// request is the pod's request of res (its containers', init containers
// and overhead as the scheduler counts them), in bytes.
func request(pod *corev1.Pod, res corev1.ResourceName) int64 {
	q := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})[res]
	return q.Value()
}

// Message is the status message of a pod evicted to reclaim the resource
// of threshold t, as the kubelet words it: the resource, the threshold
// and what was available, and each container using more than it
// requests.
func Message(t Crossed, c Candidate) string {
	res := signalResource[t.Signal]
	var b strings.Builder
	fmt.Fprintf(&b, "The node was low on resource: %v. ", res)
	fmt.Fprintf(&b, "Threshold quantity: %v, available: %v. ", bytesQuantity(t.Limit, t.Signal), bytesQuantity(t.Available, t.Signal))
	if res != corev1.ResourceMemory && res != corev1.ResourceEphemeralStorage {
		return b.String()
	}
	for _, ctr := range c.Pod.Spec.Containers {
		used, ok := c.Containers[ctr.Name]
		if !ok {
			continue
		}
		req := ctr.Resources.Requests[res]
		if used > req.Value() {
			fmt.Fprintf(&b, "Container %s was using %s, request is %s, has larger consumption of %v. ", ctr.Name, bytesQuantity(used, t.Signal).String(), req.String(), res)
		}
	}
	return b.String()
}

// bytesQuantity shows an amount of sig's unit: binary sizes for bytes,
// plain counts for inodes and pids.
func bytesQuantity(v int64, sig Signal) *resource.Quantity {
	switch sig {
	case NodeFsInodesFree, ImageFsInodesFree, PIDAvailable:
		return resource.NewQuantity(v, resource.DecimalSI)
	}
	return resource.NewQuantity(v, resource.BinarySI)
}
