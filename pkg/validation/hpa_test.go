package validation

import (
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestHPAErrors: upstream's field paths and messages for bad HPAs.
func TestHPAErrors(t *testing.T) {
	hpa := func(f func(*autoscalingv2.HorizontalPodAutoscaler)) runtime.Object { return mutated("HPAv2", f) }
	rules := func(f func(*autoscalingv2.HPAScalingRules)) runtime.Object {
		return hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			r := &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 15}}}
			f(r)
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: r}
		})
	}
	tests := []struct {
		name string
		obj  runtime.Object
		want string
	}{
		{"utilization 0", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageUtilization = ptr(int32(0))
		}),
			"spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"},
		{"utilization negative", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageUtilization = ptr(int32(-5))
		}),
			"spec.metrics[0].resource.target.averageUtilization: Invalid value: -5: must be greater than 0"},
		{"no target", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageUtilization = nil
		}),
			"spec.metrics[0].resource.target.averageUtilization: Required value: must set either a target raw value or a target utilization"},
		{"both targets", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageValue = ptr(resource.MustParse("1"))
		}),
			"spec.metrics[0].resource.target.averageValue: Forbidden: may not set both a target raw value and a target utilization"},
		{"source missing", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Metrics[0].Resource = nil }),
			"spec.metrics[0].resource: Required value: must populate information for the given metric source"},
		{"wrong source", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Type = autoscalingv2.PodsMetricSourceType
		}),
			"spec.metrics[0].pods: Required value: must populate information for the given metric source"},
		{"min 0", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr(int32(0)) }),
			"spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"},
		{"max 0", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 }),
			"spec.maxReplicas: Invalid value: 0: must be greater than 0"},
		{"target name", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "" }),
			"spec.scaleTargetRef.name: Required value"},
		{"window", rules(func(r *autoscalingv2.HPAScalingRules) { r.StabilizationWindowSeconds = ptr(int32(3601)) }),
			"spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: 3601: must be less than or equal to 3600"},
		{"negative window", rules(func(r *autoscalingv2.HPAScalingRules) { r.StabilizationWindowSeconds = ptr(int32(-1)) }),
			"spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: -1: must be greater than or equal to zero"},
		{"select policy", rules(func(r *autoscalingv2.HPAScalingRules) {
			p := autoscalingv2.ScalingPolicySelect("Avg")
			r.SelectPolicy = &p
		}),
			`spec.behavior.scaleDown.selectPolicy: Unsupported value: "Avg": supported values: "Disabled", "Max", "Min"`},
		{"no policies", rules(func(r *autoscalingv2.HPAScalingRules) { r.Policies = []autoscalingv2.HPAScalingPolicy{} }),
			"spec.behavior.scaleDown.policies: Required value: must specify at least one Policy"},
		{"policy type", rules(func(r *autoscalingv2.HPAScalingRules) { r.Policies[0].Type = "Nodes" }),
			`spec.behavior.scaleDown.policies[0].type: Unsupported value: "Nodes": supported values: "Percent", "Pods"`},
		{"policy value", rules(func(r *autoscalingv2.HPAScalingRules) { r.Policies[0].Value = 0 }),
			"spec.behavior.scaleDown.policies[0].value: Invalid value: 0: must be greater than zero"},
		{"policy period", rules(func(r *autoscalingv2.HPAScalingRules) { r.Policies[0].PeriodSeconds = 1801 }),
			"spec.behavior.scaleDown.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal to 1800"},
		{"v1 cpu 0", mutated("HPAv1", func(h *autoscalingv1.HorizontalPodAutoscaler) { h.Spec.TargetCPUUtilizationPercentage = ptr(int32(0)) }),
			"spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"},
		{"v1 annotation metric", mutated("HPAv1", func(h *autoscalingv1.HorizontalPodAutoscaler) {
			h.Annotations = map[string]string{"autoscaling.alpha.kubernetes.io/metrics": `[{"type":"Resource","resource":{"name":"memory","targetAverageUtilization":0}}]`}
		}), "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"},
		{"v1 cpu after annotation metrics", mutated("HPAv1", func(h *autoscalingv1.HorizontalPodAutoscaler) {
			h.Annotations = map[string]string{"autoscaling.alpha.kubernetes.io/metrics": `[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"1Gi"}}]`}
			h.Spec.TargetCPUUtilizationPercentage = ptr(int32(-1))
		}), "spec.metrics[1].resource.target.averageUtilization: Invalid value: -1: must be greater than 0"},
		{"v1 min above max", mutated("HPAv1", func(h *autoscalingv1.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr(int32(6)) }),
			"spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errText(ValidateCreate(tt.obj)); !strings.Contains(got, tt.want) {
				t.Errorf("want %q\n got %q", tt.want, got)
			}
		})
	}
}
