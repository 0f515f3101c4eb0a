package podautoscaler

import (
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// podMetric is one pod's usage of a resource, in milli-units.
type podMetric struct {
	value     int64
	timestamp time.Time
	window    time.Duration
}

// podMetrics are the usage samples by pod name.
type podMetrics map[string]podMetric

// calculator turns pods and their usage into a replica proposal, the way
// upstream's replica calculator does.
type calculator struct {
	tolerance               float64
	cpuInitializationPeriod time.Duration
	initialReadinessDelay   time.Duration
	now                     func() time.Time
}

// errNoPods and friends are the calculator's failures, with upstream's
// texts.
var (
	errNoPods        = errors.New("no pods returned by selector while calculating replica count")
	errNoReadyMetric = errors.New("did not receive metrics for targeted pods (pods might be unready)")
	errNoMatch       = errors.New("no metrics returned matched known pods")
)

// utilization proposes a replica count for a utilization target (percent
// of request). It returns the proposal, the current utilization and the
// average raw usage (milli-units) of the pods counted.
func (c calculator) utilization(current, target int32, res corev1.ResourceName, container string, pods []*corev1.Pod, metrics podMetrics) (int32, int32, int64, error) {
	if len(pods) == 0 {
		return 0, 0, 0, errNoPods
	}
	ready, unready, missing, ignored := c.group(pods, metrics, res)
	drop(metrics, ignored)
	drop(metrics, unready)
	if len(metrics) == 0 {
		return 0, 0, 0, errNoReadyMetric
	}
	requests, err := podRequests(pods, container, res)
	if err != nil {
		return 0, 0, 0, err
	}
	ratio, util, raw, err := utilizationRatio(metrics, requests, target)
	if err != nil {
		return 0, 0, 0, err
	}
	upWithUnready := len(unready) > 0 && ratio > 1.0
	if !upWithUnready && len(missing) == 0 {
		if math.Abs(1.0-ratio) <= c.tolerance {
			return current, util, raw, nil
		}
		return int32(math.Ceil(ratio * float64(ready))), util, raw, nil
	}
	// Fill the gaps conservatively, then compute again.
	if len(missing) > 0 {
		switch {
		case ratio < 1.0: // scale-down: the missing use all of their request (or the target when above 100 %)
			fallback := int64(max(100, target))
			for name := range missing {
				metrics[name] = podMetric{value: requests[name] * fallback / 100}
			}
		case ratio > 1.0: // scale-up: the missing use nothing
			for name := range missing {
				metrics[name] = podMetric{}
			}
		}
	}
	if upWithUnready {
		for name := range unready {
			metrics[name] = podMetric{}
		}
	}
	newRatio, _, _, err := utilizationRatio(metrics, requests, target)
	if err != nil {
		return 0, util, raw, err
	}
	return c.settle(current, ratio, newRatio, len(metrics)), util, raw, nil
}

// averageValue proposes a replica count for an average usage target
// (milli-units per pod). It returns the proposal and the current average.
func (c calculator) averageValue(current int32, target int64, res corev1.ResourceName, pods []*corev1.Pod, metrics podMetrics) (int32, int64, error) {
	if len(pods) == 0 {
		return 0, 0, errNoPods
	}
	ready, unready, missing, ignored := c.group(pods, metrics, res)
	drop(metrics, ignored)
	drop(metrics, unready)
	if len(metrics) == 0 {
		return 0, 0, errNoReadyMetric
	}
	ratio, usage := usageRatio(metrics, target)
	upWithUnready := len(unready) > 0 && ratio > 1.0
	if !upWithUnready && len(missing) == 0 {
		if math.Abs(1.0-ratio) <= c.tolerance {
			return current, usage, nil
		}
		return int32(math.Ceil(ratio * float64(ready))), usage, nil
	}
	if len(missing) > 0 {
		fill := int64(0)
		if ratio < 1.0 {
			fill = target
		}
		for name := range missing {
			metrics[name] = podMetric{value: fill}
		}
	}
	if upWithUnready {
		for name := range unready {
			metrics[name] = podMetric{}
		}
	}
	newRatio, _ := usageRatio(metrics, target)
	return c.settle(current, ratio, newRatio, len(metrics)), usage, nil
}

// settle is the second pass once missing and unready pods were filled
// in: no change within the tolerance, nor when filling in turned the
// direction round, nor when the pod count would move against it.
func (c calculator) settle(current int32, ratio, newRatio float64, counted int) int32 {
	if math.Abs(1.0-newRatio) <= c.tolerance || (ratio < 1.0 && newRatio > 1.0) || (ratio > 1.0 && newRatio < 1.0) {
		return current
	}
	proposal := int32(math.Ceil(newRatio * float64(counted)))
	if (newRatio < 1.0 && proposal > current) || (newRatio > 1.0 && proposal < current) {
		return current
	}
	return proposal
}

// group sorts the pods: ready ones counted, unready ones (pending, or for
// CPU not ready or sampled before readiness) set aside, missing ones
// without a sample, and ignored ones (deleted or failed).
func (c calculator) group(pods []*corev1.Pod, metrics podMetrics, res corev1.ResourceName) (ready int, unready, missing, ignored map[string]struct{}) {
	unready, missing, ignored = map[string]struct{}{}, map[string]struct{}{}, map[string]struct{}{}
	now := c.now()
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed {
			ignored[pod.Name] = struct{}{}
			continue
		}
		if pod.Status.Phase == corev1.PodPending {
			unready[pod.Name] = struct{}{}
			continue
		}
		m, ok := metrics[pod.Name]
		if !ok {
			missing[pod.Name] = struct{}{}
			continue
		}
		if res == corev1.ResourceCPU && c.cpuUnready(pod, m, now) {
			unready[pod.Name] = struct{}{}
			continue
		}
		ready++
	}
	return ready, unready, missing, ignored
}

// cpuUnready tells whether a pod's CPU sample is left out: within the
// initialization period when the pod is not ready or the sample's window
// began before it became ready; after it, when the pod has never been
// ready (its readiness last changed within the initial delay of start).
func (c calculator) cpuUnready(pod *corev1.Pod, m podMetric, now time.Time) bool {
	cond := podutil.GetPodReadyCondition(pod)
	if cond == nil || pod.Status.StartTime == nil {
		return true
	}
	start := pod.Status.StartTime.Time
	if start.Add(c.cpuInitializationPeriod).After(now) {
		return cond.Status == corev1.ConditionFalse || m.timestamp.Before(cond.LastTransitionTime.Add(m.window))
	}
	return cond.Status == corev1.ConditionFalse && start.Add(c.initialReadinessDelay).After(cond.LastTransitionTime.Time)
}

func drop(metrics podMetrics, names map[string]struct{}) {
	for name := range names {
		delete(metrics, name)
	}
}

// podRequests sums each pod's request of res (milli-units) over its
// containers and sidecars (restartable init containers), or over the one
// named container. A container without that request is an error.
func podRequests(pods []*corev1.Pod, container string, res corev1.ResourceName) (map[string]int64, error) {
	requests := make(map[string]int64, len(pods))
	for _, pod := range pods {
		var sum int64
		containers := pod.Spec.Containers
		for _, ic := range pod.Spec.InitContainers {
			if ic.RestartPolicy != nil && *ic.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers[:len(containers):len(containers)], ic)
			}
		}
		for _, ct := range containers {
			if container != "" && ct.Name != container {
				continue
			}
			q, ok := ct.Resources.Requests[res]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", res, ct.Name, pod.Name)
			}
			sum += q.MilliValue()
		}
		requests[pod.Name] = sum
	}
	return requests, nil
}

// utilizationRatio is usage over requests of the pods having both, as a
// fraction of the target: the ratio, the utilization in percent and the
// average usage.
func utilizationRatio(metrics podMetrics, requests map[string]int64, target int32) (float64, int32, int64, error) {
	var usage, requested int64
	n := 0
	for name, m := range metrics {
		req, ok := requests[name]
		if !ok {
			continue // a sample of a pod not selected
		}
		usage += m.value
		requested += req
		n++
	}
	if requested == 0 {
		return 0, 0, 0, errNoMatch
	}
	util := int32(usage * 100 / requested)
	return float64(util) / float64(target), util, usage / int64(n), nil
}

// usageRatio is the average usage over the target.
func usageRatio(metrics podMetrics, target int64) (float64, int64) {
	var total int64
	for _, m := range metrics {
		total += m.value
	}
	avg := total / int64(len(metrics))
	return float64(avg) / float64(target), avg
}
