package eviction

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Signal is a quantity of the node an eviction threshold watches, named
// as the kubelet names it.
type Signal string

// The signals the kubelet knows.
const (
	MemoryAvailable   Signal = "memory.available"
	NodeFsAvailable   Signal = "nodefs.available"
	NodeFsInodesFree  Signal = "nodefs.inodesFree"
	ImageFsAvailable  Signal = "imagefs.available"
	ImageFsInodesFree Signal = "imagefs.inodesFree"
	PIDAvailable      Signal = "pid.available"
)

// signalCondition is the node condition a met threshold of each signal
// sets.
var signalCondition = map[Signal]corev1.NodeConditionType{
	MemoryAvailable:   corev1.NodeMemoryPressure,
	NodeFsAvailable:   corev1.NodeDiskPressure,
	NodeFsInodesFree:  corev1.NodeDiskPressure,
	ImageFsAvailable:  corev1.NodeDiskPressure,
	ImageFsInodesFree: corev1.NodeDiskPressure,
	PIDAvailable:      corev1.NodePIDPressure,
}

// signalResource is the resource a pod is evicted to reclaim, as the
// eviction message names it.
var signalResource = map[Signal]corev1.ResourceName{
	MemoryAvailable:   corev1.ResourceMemory,
	NodeFsAvailable:   corev1.ResourceEphemeralStorage,
	NodeFsInodesFree:  "inodes",
	ImageFsAvailable:  corev1.ResourceEphemeralStorage,
	ImageFsInodesFree: "inodes",
	PIDAvailable:      "pids",
}

// DefaultHard is upstream's --eviction-hard default on Linux.
const DefaultHard = "memory.available<100Mi,nodefs.available<10%,imagefs.available<15%,nodefs.inodesFree<5%"

// Threshold is one hard eviction threshold: the signal's available
// amount below Quantity, or below Percentage of its capacity.
type Threshold struct {
	Signal     Signal
	Quantity   *resource.Quantity
	Percentage float64 // a fraction, 0 < p <= 1, when Quantity is nil
}

// Value is the threshold in the signal's units for a capacity.
func (t Threshold) Value(capacity int64) int64 {
	if t.Quantity != nil {
		return t.Quantity.Value()
	}
	return int64(t.Percentage * float64(capacity))
}

// String is the threshold as a flag would give it.
func (t Threshold) String() string {
	if t.Quantity != nil {
		return string(t.Signal) + "<" + t.Quantity.String()
	}
	return fmt.Sprintf("%s<%g%%", t.Signal, t.Percentage*100)
}

// ParseThresholds reads thresholds in the kubelet's --eviction-hard
// syntax, SIGNAL<VALUE pairs separated by commas, VALUE a quantity or a
// percentage of the signal's capacity. As upstream, 0% and 100% set no
// threshold, and a signal may appear once.
func ParseThresholds(s string) ([]Threshold, error) {
	out := []Threshold{} // empty, not nil: no thresholds at all
	seen := map[Signal]bool{}
	err := eachPair(s, "<", func(name, val string) error {
		sig := Signal(name)
		if _, known := signalCondition[sig]; !known {
			return fmt.Errorf("unsupported eviction signal %v", sig)
		}
		if seen[sig] {
			return fmt.Errorf("found duplicate eviction threshold for signal %v", sig)
		}
		seen[sig] = true
		t, err := parseValue(sig, val)
		if err != nil {
			return err
		}
		if t != nil {
			out = append(out, *t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Signal < out[j].Signal })
	return out, nil
}

func parseValue(sig Signal, val string) (*Threshold, error) {
	if pct, ok := strings.CutSuffix(val, "%"); ok {
		if val == "0%" || val == "100%" {
			return nil, nil
		}
		var p float64
		if _, err := fmt.Sscanf(pct, "%g", &p); err != nil || strings.TrimSpace(pct) != pct {
			return nil, fmt.Errorf("invalid percentage %q for eviction signal %v", val, sig)
		}
		if p < 0 {
			return nil, fmt.Errorf("eviction percentage threshold %v must be >= 0%%: %s", sig, val)
		}
		if p > 100 {
			return nil, fmt.Errorf("eviction percentage threshold %v must be <= 100%%: %s", sig, val)
		}
		return &Threshold{Signal: sig, Percentage: p / 100}, nil
	}
	q, err := resource.ParseQuantity(val)
	if err != nil {
		return nil, fmt.Errorf("invalid quantity %q for eviction signal %v: %w", val, sig, err)
	}
	if q.Sign() <= 0 {
		return nil, fmt.Errorf("eviction threshold %v must be positive: %s", sig, q.String())
	}
	return &Threshold{Signal: sig, Quantity: &q}, nil
}
