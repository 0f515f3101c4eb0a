// Package stats measures the CPU and memory a node, its pods and their
// containers use, and serves them as the kubelet does: GET
// /metrics/resource in the Prometheus text format (the metric names and
// labels of the kubelet's resource metrics, which metrics-server and
// Flotilla's own collector scrape) and GET /stats/summary as a subset of
// the kubelet's stats/v1alpha1 Summary (CPU and memory only).
//
// Usage comes from the container runtime where it reports it (CRI
// ListContainerStats for containers, ListPodSandboxStats for pods when the
// runtime knows a pod cgroup) and from the cgroup files where it does not:
// the agent gives pods no cgroup parent, so containerd 1.6 cannot report a
// pod's own usage, and a pod is then its containers plus its sandbox's
// pause container, read from the sandbox's cgroup. The node is the root
// cgroup. Memory is the working set as the kubelet counts it: usage less
// inactive file pages.
//
// A Collector measures on demand and reuses a reading younger than its
// MaxAge, so scrapes cost little however often they come. The handler
// takes any Source: the simulated nodes of pkg/sim serve made-up usage
// through the same code.
package stats
