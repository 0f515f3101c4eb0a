package eviction

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// DefaultPressureTransitionPeriod is how long a pressure condition stays
// True after its threshold was last met (upstream's
// --eviction-pressure-transition-period), so it does not flap.
const DefaultPressureTransitionPeriod = 5 * time.Minute

// conditions remembers when each pressure condition's threshold was last
// met.
type conditions struct {
	clock  clock.PassiveClock
	period time.Duration

	mu      sync.Mutex
	lastMet map[corev1.NodeConditionType]time.Time
}

func newConditions(clk clock.PassiveClock, period time.Duration) *conditions {
	return &conditions{clock: clk, period: period, lastMet: map[corev1.NodeConditionType]time.Time{}}
}

// observe records the conditions the thresholds met now set.
func (c *conditions) observe(met []Crossed) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for cond := range conditionsOf(met) {
		c.lastMet[cond] = now
	}
}

// active is whether cond holds: its threshold was met within the
// transition period.
func (c *conditions) active(cond corev1.NodeConditionType) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.lastMet[cond]
	return ok && c.clock.Since(at) < c.period
}

// conditionText is the reason and message of a pressure condition, as
// the kubelet writes them.
var conditionText = map[corev1.NodeConditionType][2][2]string{
	corev1.NodeMemoryPressure: {
		{"KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
		{"KubeletHasInsufficientMemory", "kubelet has insufficient memory available"},
	},
	corev1.NodeDiskPressure: {
		{"KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
		{"KubeletHasDiskPressure", "kubelet has disk pressure"},
	},
	corev1.NodePIDPressure: {
		{"KubeletHasSufficientPID", "kubelet has sufficient PID available"},
		{"KubeletHasInsufficientPID", "kubelet has insufficient PID available"},
	},
}

// Condition is the node condition cond as the thresholds last met set
// it; the caller stamps its times.
func condition(cond corev1.NodeConditionType, on bool) corev1.NodeCondition {
	text, i, st := conditionText[cond], 0, corev1.ConditionFalse
	if on {
		i, st = 1, corev1.ConditionTrue
	}
	return corev1.NodeCondition{Type: cond, Status: st, Reason: text[i][0], Message: text[i][1]}
}
