package podautoscaler

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/utils/ptr"
)

func TestBoundWithoutBehavior(t *testing.T) {
	tests := []struct {
		name                             string
		current, desired, min, max, want int32
		reason                           string
	}{
		{"scale-up capped at max(2x, 4)", 1, 7, 1, 10, 4, "ScaleUpLimit"},
		{"doubling allowed", 5, 10, 1, 20, 10, "DesiredWithinRange"},
		{"beyond double", 5, 11, 1, 20, 10, "ScaleUpLimit"},
		{"max below the rate cap", 3, 9, 1, 5, 5, "TooManyReplicas"},
		{"min", 3, 0, 2, 5, 2, "TooFewReplicas"},
		{"within", 3, 2, 1, 5, 2, "DesiredWithinRange"},
	}
	for _, tt := range tests {
		got, reason, _ := boundWithoutBehavior(tt.current, tt.desired, tt.min, tt.max)
		if got != tt.want || reason != tt.reason {
			t.Errorf("%s: got %d %s, want %d %s", tt.name, got, reason, tt.want, tt.reason)
		}
	}
}

// TestDownscaleWindow: without behavior the highest recommendation of the
// last five minutes wins, so a dip does not scale down at once.
func TestDownscaleWindow(t *testing.T) {
	h := newHistory()
	h.seed("k", 10, t0)
	if got := h.stabilizeDown("k", 4, 5*time.Minute, t0.Add(time.Minute)); got != 10 {
		t.Errorf("after 1 min: %d, want 10", got)
	}
	if got := h.stabilizeDown("k", 3, 5*time.Minute, t0.Add(4*time.Minute)); got != 10 {
		t.Errorf("after 4 min: %d, want 10 (the seed is still within the window)", got)
	}
	if got := h.stabilizeDown("k", 3, 5*time.Minute, t0.Add(5*time.Minute+time.Second)); got != 4 {
		t.Errorf("after 5 min: %d, want 4 (minute 1's recommendation)", got)
	}
	if got := h.stabilizeDown("k", 3, 5*time.Minute, t0.Add(10*time.Minute)); got != 3 {
		t.Errorf("after 10 min: %d, want 3", got)
	}
	// A scale-up is never held back.
	if got := h.stabilizeDown("k", 12, 5*time.Minute, t0.Add(10*time.Minute+15*time.Second)); got != 12 {
		t.Errorf("scale-up: %d", got)
	}
}

func defaultBehavior() *autoscalingv2.HorizontalPodAutoscalerBehavior {
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0), SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}, {Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](300), SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
	}
}

// TestScaleUpPolicies: the default scale-up is the larger of 4 pods or
// 100 % per 15 s; Min picks the smaller; Disabled none; and what was
// added within the period counts against it.
func TestScaleUpPolicies(t *testing.T) {
	h := newHistory()
	b := defaultBehavior()
	check := func(name string, current, desired, want int32, reason string, at time.Time) {
		t.Helper()
		got, r, _ := h.limit("k", b, 1, 100, current, desired, at)
		if got != want || r != reason {
			t.Errorf("%s: got %d %s, want %d %s", name, got, r, want, reason)
		}
	}
	check("1 → 10 by 4 pods", 1, 10, 5, "ScaleUpLimit", t0)
	check("10 → 50 by 100%", 10, 50, 20, "ScaleUpLimit", t0)
	check("10 → 15 within", 10, 15, 15, "DesiredWithinRange", t0)
	check("max", 60, 150, 100, "TooManyReplicas", t0)
	b.ScaleUp.SelectPolicy = ptr.To(autoscalingv2.MinChangePolicySelect)
	check("Min picks 4 pods", 10, 50, 14, "ScaleUpLimit", t0)
	b.ScaleUp.SelectPolicy = ptr.To(autoscalingv2.DisabledPolicySelect)
	check("Disabled", 10, 50, 10, "ScaleUpLimit", t0)

	b = defaultBehavior()
	h.store("k", b, 10, 20, t0)
	check("no more within the period", 20, 50, 20, "ScaleUpLimit", t0.Add(5*time.Second))
	check("again after the period", 20, 50, 40, "ScaleUpLimit", t0.Add(16*time.Second))
}

// TestScaleDownPolicies is upstream's documented example: Pods 4 and
// Percent 10 per minute, Max: from 80 replicas the first step removes 8
// (10 %), the next 8 of 72 (7.2 rounded), and below 40 replicas 4 a
// minute.
func TestScaleDownPolicies(t *testing.T) {
	h := newHistory()
	b := defaultBehavior()
	b.ScaleDown.Policies = []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 60}, {Type: autoscalingv2.PercentScalingPolicy, Value: 10, PeriodSeconds: 60}}
	at := t0
	current := int32(80)
	var steps []int32
	for range 4 {
		got, reason, _ := h.limit("k", b, 1, 100, current, 1, at)
		if reason != "ScaleDownLimit" {
			t.Fatalf("reason %s", reason)
		}
		h.store("k", b, current, got, at)
		steps = append(steps, got)
		current = got
		// within the same minute nothing more goes
		if again, _, _ := h.limit("k", b, 1, 100, current, 1, at.Add(30*time.Second)); again != current {
			t.Fatalf("second step within the period: %d", again)
		}
		at = at.Add(61 * time.Second)
	}
	if want := []int32{72, 64, 57, 51}; !equal(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
	for current > 40 {
		got, _, _ := h.limit("k", b, 1, 100, current, 1, at)
		h.store("k", b, current, got, at)
		current, at = got, at.Add(61*time.Second)
	}
	got, _, _ := h.limit("k", b, 1, 100, 30, 1, at)
	if got != 26 {
		t.Errorf("at 30: %d, want 26 (4 pods beat 10 %%)", got)
	}
	b.ScaleDown.SelectPolicy = ptr.To(autoscalingv2.DisabledPolicySelect)
	if got, _, _ := h.limit("k", b, 1, 100, 38, 1, at.Add(time.Hour)); got != 38 {
		t.Errorf("Disabled: %d", got)
	}
	b.ScaleDown.SelectPolicy = ptr.To(autoscalingv2.MaxChangePolicySelect)
	if got, reason, _ := h.limit("k", b, 37, 100, 38, 1, at.Add(time.Hour)); got != 37 || reason != "TooFewReplicas" {
		t.Errorf("min: %d %s", got, reason)
	}
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStabilizationWindows: a scale-down window keeps the highest
// recommendation of its span; a scale-up window the lowest.
func TestStabilizationWindows(t *testing.T) {
	h := newHistory()
	b := defaultBehavior()
	b.ScaleDown.StabilizationWindowSeconds = ptr.To[int32](60)
	b.ScaleUp.StabilizationWindowSeconds = ptr.To[int32](30)
	h.seed("k", 5, t0)
	got, reason, _ := h.stabilize("k", b, 5, 2, t0.Add(10*time.Second))
	if got != 5 || reason != "ScaleDownStabilized" {
		t.Errorf("down within window: %d %s", got, reason)
	}
	if got, _, _ := h.stabilize("k", b, 5, 3, t0.Add(65*time.Second)); got != 3 {
		t.Errorf("down after the seed left the window: %d, want 3 (highest of 2 and 3)", got)
	}
	// Scale-up: recommendations 3 (65 s) then 9 (70 s): the lowest of the
	// last 30 s is 3, so no move above current beyond it.
	got, reason, _ = h.stabilize("k", b, 3, 9, t0.Add(70*time.Second))
	if got != 3 || reason != "ScaleUpStabilized" {
		t.Errorf("up within window: %d %s", got, reason)
	}
	if got, _, _ := h.stabilize("k", b, 3, 9, t0.Add(100*time.Second)); got != 9 {
		t.Errorf("up after the window: %d", got)
	}
}
