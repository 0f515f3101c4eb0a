package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
)

// proposal is what the metrics ask for.
type proposal struct {
	replicas int32
	metric   string // e.g. "cpu resource utilization (percentage of request)"
	at       time.Time
}

// replicasForMetrics computes every metric's proposal and keeps the
// largest. It fails (replicas -1) when the selector is unusable, when no
// metric could be computed, or when some could not and the rest would
// scale down; the HPA's ScalingActive condition then tells why. When only
// some metrics fail and the rest scale up, it returns the proposal and
// the error both.
func (c *Controller) replicasForMetrics(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, sc *autoscalingv1.Scale) (proposal, []autoscalingv2.MetricStatus, error) {
	sel, err := c.parseSelector(hpa, sc.Status.Selector)
	if err != nil {
		return proposal{replicas: -1}, nil, err
	}
	pods, err := c.pods.Pods(hpa.Namespace).List(sel)
	if err != nil {
		return proposal{replicas: -1}, nil, fmt.Errorf("unable to get pods while calculating replica count: %w", err)
	}
	if hpas := c.selectors.update(hpa.Namespace+"/"+hpa.Name, sel, pods); len(hpas) > 1 {
		msg := fmt.Sprintf("pods by selector %v are controlled by multiple HPAs: %v", sc.Status.Selector, hpas)
		c.recorder.Event(hpa, corev1.EventTypeWarning, "AmbiguousSelector", msg)
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "AmbiguousSelector", "%s", msg)
		return proposal{replicas: -1}, nil, errors.New(msg)
	}
	specs := hpa.Spec.Metrics
	statuses := make([]autoscalingv2.MetricStatus, len(specs))
	var best proposal
	invalid := 0
	var firstErr error
	var firstCond autoscalingv2.HorizontalPodAutoscalerCondition
	for i, spec := range specs {
		p, cond, err := c.replicasForMetric(ctx, hpa, spec, sc.Spec.Replicas, sel, pods, &statuses[i])
		if err != nil {
			if invalid == 0 {
				firstErr, firstCond = err, cond
			}
			invalid++
			continue
		}
		if best.replicas == 0 || p.replicas > best.replicas {
			best = p
		}
	}
	if firstErr != nil {
		firstErr = fmt.Errorf("invalid metrics (%v invalid out of %v), first error is: %w", invalid, len(specs), firstErr)
	}
	if invalid >= len(specs) || (invalid > 0 && best.replicas < sc.Spec.Replicas) {
		c.setCondition(hpa, firstCond.Type, firstCond.Status, firstCond.Reason, "%s", firstCond.Message)
		return proposal{replicas: -1}, statuses, firstErr
	}
	c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from %s", best.metric)
	return best, statuses, firstErr
}

// parseSelector checks the scale's selector, with upstream's events and
// conditions when it is missing or malformed.
func (c *Controller) parseSelector(hpa *autoscalingv2.HorizontalPodAutoscaler, selector string) (labels.Selector, error) {
	if selector == "" {
		msg := "selector is required"
		c.recorder.Event(hpa, corev1.EventTypeWarning, "SelectorRequired", msg)
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "the HPA target's scale is missing a selector")
		return nil, errors.New(msg)
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		msg := fmt.Sprintf("couldn't convert selector into a corresponding internal selector object: %v", err)
		c.recorder.Event(hpa, corev1.EventTypeWarning, "InvalidSelector", msg)
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "%s", msg)
		return nil, errors.New(msg)
	}
	return sel, nil
}

// replicasForMetric computes one metric's proposal and fills its status.
// On failure it returns the condition to report.
func (c *Controller) replicasForMetric(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, spec autoscalingv2.MetricSpec, current int32, sel labels.Selector, pods []*corev1.Pod, status *autoscalingv2.MetricStatus) (proposal, autoscalingv2.HorizontalPodAutoscalerCondition, error) {
	switch {
	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		p, cur, err := c.resourceProposal(ctx, hpa.Namespace, spec.Resource.Name, "", spec.Resource.Target, current, sel, pods)
		if err != nil {
			cond := c.unableToCompute(hpa, "FailedGetResourceMetric", err)
			return proposal{}, cond, fmt.Errorf("failed to get %s resource metric value: %w", spec.Resource.Name, err)
		}
		*status = autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: spec.Resource.Name, Current: cur}}
		return p, autoscalingv2.HorizontalPodAutoscalerCondition{}, nil
	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		cr := spec.ContainerResource
		p, cur, err := c.resourceProposal(ctx, hpa.Namespace, cr.Name, cr.Container, cr.Target, current, sel, pods)
		if err != nil {
			cond := c.unableToCompute(hpa, "FailedGetContainerResourceMetric", err)
			return proposal{}, cond, fmt.Errorf("failed to get %s container metric value: %w", cr.Container, err)
		}
		*status = autoscalingv2.MetricStatus{Type: autoscalingv2.ContainerResourceMetricSourceType,
			ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{Name: cr.Name, Container: cr.Container, Current: cur}}
		return p, autoscalingv2.HorizontalPodAutoscalerCondition{}, nil
	case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
		err := fmt.Errorf("unable to get metric %s: unable to fetch metrics from custom metrics API: %w", spec.Pods.Metric.Name, errNoCustomMetrics)
		cond := c.unableToCompute(hpa, "FailedGetPodsMetric", err)
		return proposal{}, cond, fmt.Errorf("failed to get pods metric value: %w", err)
	case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
		o := spec.Object
		err := fmt.Errorf("unable to get metric %s: %s on %s %s/%s: unable to fetch metrics from custom metrics API: %w",
			o.Metric.Name, o.DescribedObject.Kind, hpa.Namespace, o.DescribedObject.Name, o.Metric.Name, errNoCustomMetrics)
		cond := c.unableToCompute(hpa, "FailedGetObjectMetric", err)
		return proposal{}, cond, fmt.Errorf("failed to get object metric value: %w", err)
	case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
		err := fmt.Errorf("unable to get external metric %s/%s/%v: unable to fetch metrics from external metrics API: %w",
			hpa.Namespace, spec.External.Metric.Name, spec.External.Metric.Selector, errNoExternalMetrics)
		cond := c.unableToCompute(hpa, "FailedGetExternalMetric", err)
		return proposal{}, cond, fmt.Errorf("failed to get %s external metric value: %w", spec.External.Metric.Name, err)
	}
	err := fmt.Errorf("unknown metric source type %q", spec.Type)
	return proposal{}, c.unableToCompute(hpa, "InvalidMetricSourceType", err), err
}

// Flotilla serves the resource metrics API only.
var (
	errNoCustomMetrics   = errors.New("no custom metrics API (custom.metrics.k8s.io) registered")
	errNoExternalMetrics = errors.New("no external metrics API (external.metrics.k8s.io) registered")
)

// resourceProposal computes a (container) resource metric's proposal and
// current value for an AverageValue or Utilization target.
func (c *Controller) resourceProposal(ctx context.Context, ns string, res corev1.ResourceName, container string, target autoscalingv2.MetricTarget, current int32, sel labels.Selector, pods []*corev1.Pod) (proposal, autoscalingv2.MetricValueStatus, error) {
	kind := "resource"
	if container != "" {
		kind = "container resource"
	}
	if target.AverageValue != nil {
		samples, at, err := c.resourceMetrics(ctx, ns, sel, res, container)
		if err != nil {
			return proposal{}, autoscalingv2.MetricValueStatus{}, fmt.Errorf("failed to get %s usage: unable to get metrics for resource %s: %w", res, res, err)
		}
		n, usage, err := c.calc().averageValue(current, target.AverageValue.MilliValue(), res, pods, samples)
		if err != nil {
			return proposal{}, autoscalingv2.MetricValueStatus{}, fmt.Errorf("failed to get %s usage: %w", res, err)
		}
		return proposal{n, fmt.Sprintf("%s %s", res, kind), at},
			autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(usage, resource.DecimalSI)}, nil
	}
	if target.AverageUtilization == nil {
		return proposal{}, autoscalingv2.MetricValueStatus{}, errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set")
	}
	samples, at, err := c.resourceMetrics(ctx, ns, sel, res, container)
	if err != nil {
		return proposal{}, autoscalingv2.MetricValueStatus{}, fmt.Errorf("failed to get %s utilization: unable to get metrics for resource %s: %w", res, res, err)
	}
	n, util, raw, err := c.calc().utilization(current, *target.AverageUtilization, res, container, pods, samples)
	if err != nil {
		return proposal{}, autoscalingv2.MetricValueStatus{}, fmt.Errorf("failed to get %s utilization: %w", res, err)
	}
	return proposal{n, fmt.Sprintf("%s %s utilization (percentage of request)", res, kind), at},
		autoscalingv2.MetricValueStatus{AverageUtilization: &util, AverageValue: resource.NewMilliQuantity(raw, resource.DecimalSI)}, nil
}
