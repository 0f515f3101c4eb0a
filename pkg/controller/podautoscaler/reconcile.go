package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// mapperResetInterval bounds how often a kind not found makes the
// RESTMapper forget its discovery cache.
const mapperResetInterval = 30 * time.Second

func (c *Controller) calc() calculator {
	return calculator{
		tolerance:               c.cfg.Tolerance,
		cpuInitializationPeriod: c.cfg.CPUInitializationPeriod,
		initialReadinessDelay:   c.cfg.InitialReadinessDelay,
		now:                     c.now,
	}
}

// reconcile is one sync of an HPA (a copy the caller owns): read the
// target's scale, compute the desired count, rescale, write the status.
func (c *Controller) reconcile(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, key string) error {
	original := hpa.Status.DeepCopy()
	ref := hpa.Spec.ScaleTargetRef
	reference := fmt.Sprintf("%s/%s/%s", ref.Kind, hpa.Namespace, ref.Name)

	sc, gr, err := c.getScale(ctx, hpa)
	if err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetScale", errors.Unwrap(err).Error())
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", "the HPA controller was unable to get the target's current scale: %v", errors.Unwrap(err))
		if uerr := c.updateStatusIfNeeded(ctx, original, hpa); uerr != nil {
			c.log.Warn("update status", "hpa", key, "err", uerr)
		}
		return fmt.Errorf("%s: %w", reference, err)
	}
	c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")
	current := sc.Spec.Replicas
	now := c.now()
	c.history.seed(key, current, now)

	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	var (
		desired  int32
		reason   string
		statuses []autoscalingv2.MetricStatus
		retErr   error
		rescale  = true
	)
	switch {
	case current == 0 && minReplicas != 0:
		rescale = false
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
	case current > hpa.Spec.MaxReplicas:
		reason, desired = "Current number of replicas above Spec.MaxReplicas", hpa.Spec.MaxReplicas
	case current < minReplicas:
		reason, desired = "Current number of replicas below Spec.MinReplicas", minReplicas
	default:
		p, st, err := c.replicasForMetrics(ctx, hpa, sc)
		statuses = st
		if err != nil && p.replicas == -1 {
			c.setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false)
			if uerr := c.updateStatusIfNeeded(ctx, original, hpa); uerr != nil {
				c.log.Warn("update status", "hpa", key, "err", uerr)
			}
			c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", err.Error())
			return fmt.Errorf("failed to compute desired number of replicas based on listed metrics for %s: %w", reference, err)
		}
		retErr = err // some metrics failed, the others scale up
		metric := ""
		if p.replicas > desired {
			desired, metric = p.replicas, p.metric
		}
		if desired > current {
			reason = metric + " above target"
		}
		if desired < current {
			reason = "All metrics below target"
		}
		if hpa.Spec.Behavior == nil {
			desired = c.normalize(hpa, key, current, desired, minReplicas, now)
		} else {
			desired = c.normalizeWithBehavior(hpa, key, current, desired, minReplicas, now)
		}
		rescale = desired != current
	}

	if rescale {
		sc.Spec.Replicas = desired
		if _, err := c.scales.Scales(hpa.Namespace).Update(ctx, gr, sc, metav1.UpdateOptions{}); err != nil {
			c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", desired, reason, err.Error())
			c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: %v", err)
			c.setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false)
			if uerr := c.updateStatusIfNeeded(ctx, original, hpa); uerr != nil {
				c.log.Warn("update status", "hpa", key, "err", uerr)
			}
			return fmt.Errorf("failed to rescale %s: %w", reference, err)
		}
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", "the HPA controller was able to update the target scale to %d", desired)
		c.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, reason)
		c.history.store(key, hpa.Spec.Behavior, current, desired, now)
		c.log.Info("rescaled", "hpa", key, "from", current, "to", desired, "reason", reason)
	} else {
		desired = current
	}
	c.setStatus(hpa, current, desired, statuses, rescale)
	if err := c.updateStatusIfNeeded(ctx, original, hpa); err != nil {
		return err
	}
	return retErr
}

// getScale reads the target's scale through the first of its kind's
// resources that serves one. Its error wraps the cause an event shows.
func (c *Controller) getScale(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler) (*autoscalingv1.Scale, schema.GroupResource, error) {
	ref := hpa.Spec.ScaleTargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, schema.GroupResource{}, wrapf("invalid API version in scale target reference: %w", err)
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
	mappings, err := c.mapper.RESTMappings(gk)
	if meta.IsNoMatchError(err) && c.mayReset() {
		c.mapper.Reset()
		mappings, err = c.mapper.RESTMappings(gk)
	}
	if err != nil {
		return nil, schema.GroupResource{}, wrapf("unable to determine resource for scale target reference: %w", err)
	}
	var first error
	for i, m := range mappings {
		gr := m.Resource.GroupResource()
		sc, err := c.scales.Scales(hpa.Namespace).Get(ctx, gr, ref.Name, metav1.GetOptions{})
		if err == nil {
			return sc, gr, nil
		}
		if i == 0 {
			first = err
		}
	}
	if first == nil {
		first = errors.New("unrecognized resource")
	}
	return nil, schema.GroupResource{}, wrapf("failed to query scale subresource: %w", first)
}

// wrapf wraps an error so errors.Unwrap gives the cause back.
func wrapf(format string, err error) error { return fmt.Errorf(format, err) }

func (c *Controller) mayReset() bool {
	c.resetMu.Lock()
	defer c.resetMu.Unlock()
	if now := c.now(); now.Sub(c.lastReset) >= mapperResetInterval {
		c.lastReset = now
		return true
	}
	return false
}

// normalize stabilizes and bounds the proposal of an HPA without
// behavior: the downscale window, the default scale-up cap, min/max.
func (c *Controller) normalize(hpa *autoscalingv2.HorizontalPodAutoscaler, key string, current, proposed, minReplicas int32, now time.Time) int32 {
	stabilized := c.history.stabilizeDown(key, proposed, c.cfg.DownscaleStabilization, now)
	if stabilized != proposed {
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation")
	} else {
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	}
	desired, reason, msg := boundWithoutBehavior(current, stabilized, minReplicas, hpa.Spec.MaxReplicas)
	c.setLimited(hpa, desired != stabilized, reason, msg)
	return desired
}

// normalizeWithBehavior stabilizes and bounds the proposal by the HPA's
// behavior: both windows, the rate policies, min/max.
func (c *Controller) normalizeWithBehavior(hpa *autoscalingv2.HorizontalPodAutoscaler, key string, current, proposed, minReplicas int32, now time.Time) int32 {
	b := c.completeBehavior(hpa.Spec.Behavior)
	stabilized, reason, msg := c.history.stabilize(key, b, current, proposed, now)
	if stabilized != proposed {
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, reason, "%s", msg)
	} else {
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	}
	desired, reason, msg := c.history.limit(key, b, minReplicas, hpa.Spec.MaxReplicas, current, stabilized, now)
	c.setLimited(hpa, desired != stabilized, reason, msg)
	return desired
}

func (c *Controller) setLimited(hpa *autoscalingv2.HorizontalPodAutoscaler, limited bool, reason, msg string) {
	status := corev1.ConditionFalse
	if limited {
		status = corev1.ConditionTrue
	}
	c.setCondition(hpa, autoscalingv2.ScalingLimited, status, reason, "%s", msg)
}

// completeBehavior fills what the API's defaulting leaves to the
// controller (the scale-down window) and, field by field, what an object
// stored without defaulting (a behavior from a v1 annotation) may lack.
func (c *Controller) completeBehavior(in *autoscalingv2.HorizontalPodAutoscalerBehavior) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	b := in.DeepCopy()
	downWindow := int32(c.cfg.DownscaleStabilization / time.Second)
	b.ScaleUp = completeRules(b.ScaleUp, 0, []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	})
	b.ScaleDown = completeRules(b.ScaleDown, downWindow, []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	})
	return b
}

func completeRules(r *autoscalingv2.HPAScalingRules, window int32, policies []autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	if r == nil {
		r = &autoscalingv2.HPAScalingRules{}
	}
	if r.StabilizationWindowSeconds == nil {
		r.StabilizationWindowSeconds = &window
	}
	if r.SelectPolicy == nil {
		p := autoscalingv2.MaxChangePolicySelect
		r.SelectPolicy = &p
	}
	if r.Policies == nil {
		r.Policies = policies
	}
	return r
}

// setStatus writes the sync's outcome into the status, keeping the
// conditions set along the way.
func (c *Controller) setStatus(hpa *autoscalingv2.HorizontalPodAutoscaler, current, desired int32, statuses []autoscalingv2.MetricStatus, rescaled bool) {
	gen := hpa.Generation
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: &gen,
		CurrentReplicas:    current,
		DesiredReplicas:    desired,
		LastScaleTime:      hpa.Status.LastScaleTime,
		CurrentMetrics:     statuses,
		Conditions:         hpa.Status.Conditions,
	}
	if rescaled {
		t := metav1.NewTime(c.now())
		hpa.Status.LastScaleTime = &t
	}
}

// updateStatusIfNeeded writes the status when the sync changed it.
func (c *Controller) updateStatusIfNeeded(ctx context.Context, original *autoscalingv2.HorizontalPodAutoscalerStatus, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	if equality.Semantic.DeepEqual(original, &hpa.Status) {
		return nil
	}
	if _, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(hpa.Namespace).UpdateStatus(ctx, hpa, metav1.UpdateOptions{}); err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedUpdateStatus", err.Error())
		return fmt.Errorf("failed to update status for %s: %w", hpa.Name, err)
	}
	return nil
}
