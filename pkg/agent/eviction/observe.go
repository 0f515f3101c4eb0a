package eviction

import (
	"context"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// FsReading is one file system's space and inodes.
type FsReading struct {
	Capacity, Available int64 // bytes
	Inodes, InodesFree  int64
}

// Readings are the node's quantities the signals come from.
type Readings struct {
	// MemoryCapacity is the machine's memory and MemoryAvailable that
	// capacity less the working set (memory in use less inactive file
	// pages), as the kubelet computes memory.available.
	MemoryCapacity, MemoryAvailable int64
	// NodeFs is the file system of the agent's data dir (pod volumes,
	// logs); ImageFs that of the runtime's image store.
	NodeFs, ImageFs FsReading
	// PIDMax is the kernel's pid_max and PIDRunning the processes now.
	PIDMax, PIDRunning int64
}

// Reader reads the node.
type Reader interface {
	Read(ctx context.Context) (Readings, error)
}

// observation is a signal's available amount out of its capacity.
type observation struct{ available, capacity int64 }

func (r Readings) observe() map[Signal]observation {
	return map[Signal]observation{
		MemoryAvailable:   {r.MemoryAvailable, r.MemoryCapacity},
		NodeFsAvailable:   {r.NodeFs.Available, r.NodeFs.Capacity},
		NodeFsInodesFree:  {r.NodeFs.InodesFree, r.NodeFs.Inodes},
		ImageFsAvailable:  {r.ImageFs.Available, r.ImageFs.Capacity},
		ImageFsInodesFree: {r.ImageFs.InodesFree, r.ImageFs.Inodes},
		PIDAvailable:      {r.PIDMax - r.PIDRunning, r.PIDMax},
	}
}

// Crossed is a threshold met by a reading.
type Crossed struct {
	Threshold
	Available, Limit int64 // the signal's available amount and the threshold's value
}

// crossed lists the thresholds the readings meet. A signal with no
// capacity (nothing measured, say no inode counts on the file system)
// meets none.
func crossed(r Readings, hard []Threshold) []Crossed {
	obs := r.observe()
	var out []Crossed
	for _, t := range hard {
		o, ok := obs[t.Signal]
		if !ok || o.capacity <= 0 {
			continue
		}
		if v := t.Value(o.capacity); o.available < v {
			out = append(out, Crossed{Threshold: t, Available: o.available, Limit: v})
		}
	}
	return out
}

// pressureConditions is each condition a threshold can set, in the order
// the Node reports them.
var pressureConditions = []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}

// conditionsOf is the set of conditions the crossed thresholds set.
func conditionsOf(met []Crossed) map[corev1.NodeConditionType]bool {
	out := map[corev1.NodeConditionType]bool{}
	for _, m := range met {
		out[signalCondition[m.Signal]] = true
	}
	return out
}

// sortCrossed orders thresholds so that memory comes before disk before
// pids, the order upstream reclaims in.
func sortCrossed(met []Crossed) {
	rank := map[corev1.NodeConditionType]int{corev1.NodeMemoryPressure: 0, corev1.NodeDiskPressure: 1, corev1.NodePIDPressure: 2}
	sort.SliceStable(met, func(i, j int) bool {
		return rank[signalCondition[met[i].Signal]] < rank[signalCondition[met[j].Signal]]
	})
}
