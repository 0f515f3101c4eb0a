package eviction

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ResourcePID is the reservable process ids, as --system-reserved and
// --kube-reserved name them.
const ResourcePID corev1.ResourceName = "pid"

// ParseReserved reads a --system-reserved or --kube-reserved value,
// NAME=QUANTITY pairs separated by commas, NAME one of cpu, memory,
// ephemeral-storage and pid, as the kubelet accepts.
func ParseReserved(s string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	err := eachPair(s, "=", func(k, v string) error {
		name := corev1.ResourceName(k)
		switch name {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, ResourcePID:
		default:
			return fmt.Errorf("cannot reserve %q resource", name)
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("failed to parse quantity %q for %q resource: %w", v, name, err)
		}
		if q.Sign() < 0 {
			return fmt.Errorf("resource quantity for %q cannot be negative: %v", name, v)
		}
		out[name] = q
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachPair calls fn with the trimmed halves of every KEYsepVALUE item of
// a comma-separated kubelet flag value, skipping empty items; fn's error
// or a malformed item ends the walk.
func eachPair(s, sep string, fn func(k, v string) error) error {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, sep)
		if !ok {
			return fmt.Errorf("malformed pair %q, expect string%sstring", item, sep)
		}
		if err := fn(strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
			return err
		}
	}
	return nil
}

// Allocatable is what the node offers pods, as upstream's node
// allocatable: the capacity less the system and kube reservations and,
// for memory and ephemeral storage, less the hard eviction threshold of
// memory.available and nodefs.available, never below zero. Resources the
// reservations do not name (pods, extended ones) stay at capacity.
func Allocatable(capacity, systemReserved, kubeReserved corev1.ResourceList, hard []Threshold) corev1.ResourceList {
	out := capacity.DeepCopy()
	for name, c := range capacity {
		q := c.DeepCopy()
		sub := func(r corev1.ResourceList) {
			if v, ok := r[name]; ok {
				q.Sub(v)
			}
		}
		sub(systemReserved)
		sub(kubeReserved)
		for _, t := range hard {
			if (t.Signal == MemoryAvailable && name == corev1.ResourceMemory) || (t.Signal == NodeFsAvailable && name == corev1.ResourceEphemeralStorage) {
				q.Sub(*resource.NewQuantity(t.Value(c.Value()), c.Format))
			}
		}
		if q.Sign() < 0 {
			q = *resource.NewQuantity(0, c.Format)
		}
		out[name] = q
	}
	return out
}
