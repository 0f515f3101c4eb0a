package podautoscaler

import (
	"math"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Without spec.behavior a scale-up is capped at max(2×current, 4).
const (
	scaleUpLimitFactor  = 2.0
	scaleUpLimitMinimum = 4.0
)

// recommendation is one sync's unstabilized proposal.
type recommendation struct {
	replicas int32
	at       time.Time
}

// scaleEvent is one rescale this controller made, for the rate policies.
type scaleEvent struct {
	change   int32
	at       time.Time
	outdated bool
}

// history keeps, per HPA key, the recent recommendations and scale
// events the stabilization windows and rate policies look back on.
type history struct {
	mu              sync.Mutex
	recommendations map[string][]recommendation
	ups, downs      map[string][]scaleEvent
}

func newHistory() *history {
	return &history{recommendations: map[string][]recommendation{}, ups: map[string][]scaleEvent{}, downs: map[string][]scaleEvent{}}
}

// forget drops what is kept for a deleted HPA.
func (h *history) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.recommendations, key)
	delete(h.ups, key)
	delete(h.downs, key)
}

// seed records the current count as the first recommendation of an HPA
// seen for the first time, so a fresh controller does not scale down at
// once.
func (h *history) seed(key string, current int32, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.recommendations[key] == nil {
		h.recommendations[key] = []recommendation{{current, now}}
	}
}

// record stores a recommendation, reusing the slot of one that left every
// window (older than keep).
func (h *history) record(key string, r int32, now time.Time, keep time.Duration) {
	cutoff := now.Add(-keep)
	recs := h.recommendations[key]
	for i := range recs {
		if recs[i].at.Before(cutoff) {
			recs[i] = recommendation{r, now}
			return
		}
	}
	h.recommendations[key] = append(recs, recommendation{r, now})
}

// stabilizeDown is the behavior-less stabilization: the highest
// recommendation within the downscale window.
func (h *history) stabilizeDown(key string, desired int32, window time.Duration, now time.Time) int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	highest := desired
	cutoff := now.Add(-window)
	for _, rec := range h.recommendations[key] {
		if !rec.at.Before(cutoff) && rec.replicas > highest {
			highest = rec.replicas
		}
	}
	h.record(key, desired, now, window)
	return highest
}

// stabilize applies both windows of a behavior: the count moves up no
// further than the lowest recommendation of the scale-up window and down
// no further than the highest of the scale-down window. It returns the
// stabilized count and the condition reason and message to show when it
// differs from desired.
func (h *history) stabilize(key string, b *autoscalingv2.HorizontalPodAutoscalerBehavior, current, desired int32, now time.Time) (int32, string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	upWindow := time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second
	downWindow := time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second
	upCutoff, downCutoff := now.Add(-upWindow), now.Add(-downWindow)
	up, down := desired, desired
	for _, rec := range h.recommendations[key] {
		if rec.at.After(upCutoff) {
			up = min(up, rec.replicas)
		}
		if rec.at.After(downCutoff) {
			down = max(down, rec.replicas)
		}
	}
	stabilized := max(current, up)
	stabilized = min(stabilized, down)
	h.record(key, desired, now, max(upWindow, downWindow))
	if desired >= current {
		return stabilized, "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation"
	}
	return stabilized, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"
}

// limit bounds a stabilized count by the behavior's rate policies and
// min/max, returning the count and the ScalingLimited reason and message.
func (h *history) limit(key string, b *autoscalingv2.HorizontalPodAutoscalerBehavior, minReplicas, maxReplicas, current, desired int32, now time.Time) (int32, string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case desired > current:
		limit := max(scaleUpLimit(current, h.ups[key], h.downs[key], b.ScaleUp, now), current)
		bound, reason, msg := maxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		if bound > limit {
			bound, reason, msg = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
		if desired > bound {
			return bound, reason, msg
		}
	case desired < current:
		limit := min(scaleDownLimit(current, h.ups[key], h.downs[key], b.ScaleDown, now), current)
		bound, reason, msg := minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		if bound < limit {
			bound, reason, msg = limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
		if desired < bound {
			return bound, reason, msg
		}
	}
	return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
}

// store records a rescale for the rate policies (only HPAs with a
// behavior use them), reusing the slot of an event older than the
// direction's longest policy period.
func (h *history) store(key string, b *autoscalingv2.HorizontalPodAutoscalerBehavior, from, to int32, now time.Time) {
	if b == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	events, rules, change := h.ups, b.ScaleUp, to-from
	if to < from {
		events, rules, change = h.downs, b.ScaleDown, from-to
	}
	list := events[key]
	cutoff := now.Add(-time.Duration(longestPeriod(rules)) * time.Second)
	slot := -1
	for i := range list {
		if list[i].at.Before(cutoff) {
			list[i].outdated = true
		}
		if list[i].outdated {
			slot = i
		}
	}
	ev := scaleEvent{change: change, at: now}
	if slot >= 0 {
		list[slot] = ev
		return
	}
	events[key] = append(list, ev)
}

func longestPeriod(rules *autoscalingv2.HPAScalingRules) int32 {
	var longest int32
	if rules == nil {
		return 0
	}
	for _, p := range rules.Policies {
		longest = max(longest, p.PeriodSeconds)
	}
	return longest
}

// changeWithin sums the replica changes of the events within the period.
func changeWithin(periodSeconds int32, events []scaleEvent, now time.Time) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var sum int32
	for _, e := range events {
		if e.at.After(cutoff) {
			sum += e.change
		}
	}
	return sum
}

func selectPolicy(rules *autoscalingv2.HPAScalingRules) autoscalingv2.ScalingPolicySelect {
	if rules == nil || rules.SelectPolicy == nil {
		return autoscalingv2.MaxChangePolicySelect
	}
	return *rules.SelectPolicy
}

// scaleUpLimit is the most replicas the scale-up policies allow now: each
// policy adds to the count at the start of its period; Max picks the
// largest, Min the smallest, Disabled keeps current.
func scaleUpLimit(current int32, ups, downs []scaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	pick, result := larger, int32(math.MinInt32)
	switch selectPolicy(rules) {
	case autoscalingv2.DisabledPolicySelect:
		return current
	case autoscalingv2.MinChangePolicySelect:
		pick, result = smaller, math.MaxInt32
	}
	for _, p := range rules.Policies {
		start := current - changeWithin(p.PeriodSeconds, ups, now) + changeWithin(p.PeriodSeconds, downs, now)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start + p.Value
		case autoscalingv2.PercentScalingPolicy:
			// Rounded up so a small count can still grow.
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// scaleDownLimit is the fewest replicas the scale-down policies allow
// now: Max picks the largest change (the smallest count), Min the
// smallest, Disabled keeps current.
func scaleDownLimit(current int32, ups, downs []scaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	pick, result := smaller, int32(math.MaxInt32)
	switch selectPolicy(rules) {
	case autoscalingv2.DisabledPolicySelect:
		return current
	case autoscalingv2.MinChangePolicySelect:
		pick, result = larger, math.MinInt32
	}
	for _, p := range rules.Policies {
		start := current - changeWithin(p.PeriodSeconds, ups, now) + changeWithin(p.PeriodSeconds, downs, now)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start - p.Value
		case autoscalingv2.PercentScalingPolicy:
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// boundWithoutBehavior applies min/max and the default scale-up cap to a
// stabilized count of an HPA without behavior.
func boundWithoutBehavior(current, desired, minReplicas, maxReplicas int32) (int32, string, string) {
	upLimit := int32(math.Max(scaleUpLimitFactor*float64(current), scaleUpLimitMinimum))
	bound, reason, msg := maxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
	if maxReplicas > upLimit {
		bound, reason, msg = upLimit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
	}
	switch {
	case desired < minReplicas:
		return minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
	case desired > bound:
		return bound, reason, msg
	}
	return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
}

func larger(a, b int32) int32  { return max(a, b) }
func smaller(a, b int32) int32 { return min(a, b) }
