// Package stats measures the CPU and memory a node, its pods and their
// containers use, and serves them as the kubelet does: GET
// /metrics/resource in the Prometheus text format (the metric names and
// labels of the kubelet's resource metrics, which metrics-server and
// Flotilla's own collector scrape) and GET /stats/summary as a subset of
// the kubelet's stats/v1alpha1 Summary (CPU and memory only).
//
// Usage is read from the cgroup files of each container's and each
// sandbox's process (found once per container through the runtime's
// verbose status), as cAdvisor does for the kubelet; the runtime's own
// figures are used where they are worth their cost: CRI
// ListPodSandboxStats for a pod when the runtime knows its pod cgroup
// (containerd 1.6 knows none for the agent's sandboxes, which have no
// cgroup parent), and ContainerStats for a container whose cgroup cannot
// be read. containerd 1.6's container stats are not the default because
// they walk each container's writable layer (about 5 ms a container on
// the test machines). A pod without a pod cgroup is its containers plus
// its sandbox's pause process. The node is the root cgroup. Memory is the
// working set as the kubelet counts it: usage less inactive file pages.
//
// A Collector measures on demand and reuses a reading younger than its
// MaxAge, so scrapes cost little however often they come. The handler
// takes any Source: the simulated nodes of pkg/sim serve made-up usage
// through the same code.
package stats
