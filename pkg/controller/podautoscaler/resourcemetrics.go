package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// resourceMetrics reads one resource's usage of the selected pods from
// metrics.k8s.io: the sum over each pod's containers (a pod missing the
// resource in any container has no sample), or the one named container.
// The time returned is the first sample's.
func (c *Controller) resourceMetrics(ctx context.Context, ns string, sel labels.Selector, res corev1.ResourceName, container string) (podMetrics, time.Time, error) {
	list, err := c.metrics.PodMetricses(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("unable to fetch metrics from resource metrics API: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, time.Time{}, errors.New("no metrics returned from resource metrics API")
	}
	var out podMetrics
	if container != "" {
		out, err = containerSamples(list.Items, res, container)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("failed to get container metrics: %w", err)
		}
	} else {
		out = podSamples(list.Items, res)
	}
	return out, list.Items[0].Timestamp.Time, nil
}

func podSamples(items []metricsv1beta1.PodMetrics, res corev1.ResourceName) podMetrics {
	out := make(podMetrics, len(items))
	for _, m := range items {
		if len(m.Containers) == 0 {
			continue
		}
		var sum int64
		complete := true
		for _, ct := range m.Containers {
			q, ok := ct.Usage[res]
			if !ok {
				complete = false
				break
			}
			sum += q.MilliValue()
		}
		if complete {
			out[m.Name] = podMetric{value: sum, timestamp: m.Timestamp.Time, window: m.Window.Duration}
		}
	}
	return out
}

func containerSamples(items []metricsv1beta1.PodMetrics, res corev1.ResourceName, container string) (podMetrics, error) {
	out := make(podMetrics, len(items))
	for _, m := range items {
		found := false
		for _, ct := range m.Containers {
			if ct.Name != container {
				continue
			}
			found = true
			if q, ok := ct.Usage[res]; ok {
				out[m.Name] = podMetric{value: q.MilliValue(), timestamp: m.Timestamp.Time, window: m.Window.Duration}
			}
			break
		}
		if !found {
			return nil, fmt.Errorf("container %s not present in metrics for pod %s/%s", container, m.Namespace, m.Name)
		}
	}
	return out, nil
}
