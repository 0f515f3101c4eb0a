package api

import (
	"fmt"
	"net/url"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// selectors parses the list options a metrics list honours.
func selectors(q url.Values) (labels.Selector, fields.Selector, error) {
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}
	for _, r := range fs.Requirements() {
		if r.Field != "metadata.name" && r.Field != "metadata.namespace" {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
		}
	}
	return ls, fs, nil
}

func (h *Handler) getNode(c *Caches, name string) (*metricsv1beta1.NodeMetrics, error) {
	node, err := c.Nodes.Get(name)
	if err != nil {
		return nil, err // the lister's NotFound, as metrics-server answers it
	}
	m, ok := h.nodeMetrics(node, metav1.Now())
	if !ok {
		return nil, apierrors.NewNotFound(nodeMetricsResource, name)
	}
	return &m, nil
}

func (h *Handler) listNodes(c *Caches, q url.Values) (*metricsv1beta1.NodeMetricsList, error) {
	ls, fs, err := selectors(q)
	if err != nil {
		return nil, err
	}
	nodes, err := c.Nodes.List(ls)
	if err != nil {
		return nil, err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	list := &metricsv1beta1.NodeMetricsList{Items: []metricsv1beta1.NodeMetrics{}}
	now := metav1.Now()
	for _, n := range nodes {
		if !fs.Empty() && !fs.Matches(fields.Set{"metadata.name": n.Name, "metadata.namespace": ""}) {
			continue
		}
		if m, ok := h.nodeMetrics(n, now); ok {
			list.Items = append(list.Items, m)
		}
	}
	return list, nil
}

func (h *Handler) nodeMetrics(n *corev1.Node, now metav1.Time) (metricsv1beta1.NodeMetrics, bool) {
	u, ok := h.usage.Node(n.Name)
	if !ok {
		return metricsv1beta1.NodeMetrics{}, false
	}
	return metricsv1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, CreationTimestamp: now},
		Timestamp:  metav1.NewTime(u.Timestamp),
		Window:     metav1.Duration{Duration: u.Window},
		Usage:      u.Resources,
	}, true
}

func (h *Handler) getPod(c *Caches, ns, name string) (*metricsv1beta1.PodMetrics, error) {
	pod, err := c.Pods.Namespace(ns).Get(name)
	if err != nil {
		return nil, err // the cache's NotFound (pods "NAME" not found), as metrics-server answers it
	}
	m, ok := h.podMetrics(&pod.ObjectMeta, metav1.Now())
	if !ok {
		return nil, apierrors.NewNotFound(podMetricsResource, ns+"/"+name)
	}
	return &m, nil
}

func (h *Handler) listPods(c *Caches, ns string, q url.Values) (*metricsv1beta1.PodMetricsList, error) {
	ls, fs, err := selectors(q)
	if err != nil {
		return nil, err
	}
	var pods []*metav1.PartialObjectMetadata
	if ns == "" {
		pods, err = c.Pods.List(ls)
	} else {
		pods, err = c.Pods.Namespace(ns).List(ls)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	list := &metricsv1beta1.PodMetricsList{Items: make([]metricsv1beta1.PodMetrics, 0, len(pods))}
	now := metav1.Now()
	for _, p := range pods {
		if !fs.Empty() && !fs.Matches(fields.Set{"metadata.name": p.Name, "metadata.namespace": p.Namespace}) {
			continue
		}
		if m, ok := h.podMetrics(&p.ObjectMeta, now); ok {
			list.Items = append(list.Items, m)
		}
	}
	return list, nil
}

func (h *Handler) podMetrics(meta *metav1.ObjectMeta, now metav1.Time) (metricsv1beta1.PodMetrics, bool) {
	u, ok := h.usage.Pod(types.NamespacedName{Namespace: meta.Namespace, Name: meta.Name})
	if !ok {
		return metricsv1beta1.PodMetrics{}, false
	}
	return metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: meta.Name, Namespace: meta.Namespace, Labels: meta.Labels, CreationTimestamp: now},
		Timestamp:  metav1.NewTime(u.Timestamp),
		Window:     metav1.Duration{Duration: u.Window},
		Containers: u.Containers,
	}, true
}

// durationString renders a window as metrics-server's Table does.
func durationString(d time.Duration) string { return d.String() }
