// Package scrape reads a node's resource metrics: it fetches
// BASE/metrics/resource from a node agent (or a simulated node) and
// parses the kubelet's Prometheus text exposition into a Batch of
// cumulative CPU and working-set samples for the node and its
// containers, dropping incomplete ones as metrics-server does.
package scrape
