// Package podautoscaler implements the HorizontalPodAutoscaler controller
// (autoscaling/v2), as upstream's podautoscaler does.
//
// Every HPA is synced once per sync period (15 s by default, and at once
// when it is created or its spec changes). A sync reads the target's scale
// subresource through client-go's scale client (any kind serving
// /scale: Deployments, ReplicaSets, ReplicationControllers, StatefulSets),
// lists the pods the scale's status.selector selects, and turns each
// metric into a replica proposal:
//
//   - Resource and ContainerResource metrics are read from
//     metrics.k8s.io/v1beta1 PodMetrics, with Utilization (percent of the
//     pods' requests) or AverageValue targets. The proposal is
//     ceil(ratio × ready pods), no change within the tolerance (10 %);
//     pods without metrics count as using their whole request on a scale
//     down and nothing on a scale up, and for CPU pods not yet ready (or
//     whose sample predates their readiness, within the 5 min
//     initialization period; pods that never became ready within 30 s of
//     starting) count as using nothing on a scale up and are left out
//     otherwise, exactly as upstream's replica calculator.
//   - Pods, Object and External metrics need the custom and external
//     metrics APIs, which Flotilla does not serve: such a metric sets
//     ScalingActive=False (FailedGetPodsMetric, FailedGetObjectMetric,
//     FailedGetExternalMetric) and never scales.
//
// The largest proposal wins; it is then stabilized and limited: without
// spec.behavior the highest recommendation of the downscale
// stabilization window (5 min) and at most max(2×current, 4) replicas;
// with spec.behavior the scale-up and scale-down stabilization windows
// and rate policies (Pods/Percent per periodSeconds, selectPolicy
// Max/Min/Disabled) over the scale events this controller made. Finally
// min/maxReplicas bound it. Conditions AbleToScale, ScalingActive and
// ScalingLimited, status.currentMetrics and Events (SuccessfulRescale,
// FailedGetScale, FailedGetResourceMetric, FailedComputeMetricsReplicas,
// ...) carry upstream's reasons and messages.
//
// An HPA whose pods another HPA also selects gets ScalingActive=False
// (AmbiguousSelector) and does not scale; which HPA selected which pods
// at its last sync is indexed by pod.
//
// Recommendations and scale events live in memory only, as upstream's:
// a new leader starts with empty windows. SyncAll runs one full round
// over every HPA, which the benchmark (hack/bench -only hpa) times.
package podautoscaler
