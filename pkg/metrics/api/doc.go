// Package api serves metrics.k8s.io/v1beta1 (NodeMetrics, PodMetrics) as
// metrics-server does: list and get, label selectors (a pod's or node's
// own labels), field selectors on metadata.name/metadata.namespace, all
// namespaces, JSON, protobuf and Table output, and metrics-server's
// NotFound answers. Objects are built on each request from the samples in
// storage and the Pod and Node caches; nothing is stored.
package api
