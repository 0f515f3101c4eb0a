// Package metrics is Flotilla's built-in metrics-server: the resource
// metrics API (metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics) that
// `kubectl top` and the HorizontalPodAutoscaler read, served by the API
// server itself instead of by an add-on behind the aggregation layer.
//
// Its parts, each a package of its own:
//
//   - scrape reads one node's /metrics/resource (the kubelet's Prometheus
//     text format) into cumulative samples;
//   - storage keeps the last two samples of every node and container, in
//     memory only, and turns them into usage as metrics-server does
//     (CPU = Δcpu/Δt over the window Δt, memory = the last working set);
//   - collector scrapes every node each resolution period, with bounded
//     concurrency and a per-node timeout, from a Node informer;
//   - api answers the metrics.k8s.io requests from storage and from Pod
//     and Node caches (labels, namespaces, selectors).
//
// Service wires them for the server.
package metrics
