package printers

import (
	"fmt"
	storagev1 "k8s.io/api/storage/v1"
	"strconv"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/hpaconv"
)

var hpaSpecDoc = autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()

var hpaColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Reference", "string", hpaSpecDoc["scaleTargetRef"]),
	column("Targets", "string", hpaSpecDoc["metrics"]),
	column("MinPods", "string", hpaSpecDoc["minReplicas"]),
	column("MaxPods", "string", hpaSpecDoc["maxReplicas"]),
	column("Replicas", "string", autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]),
	ageColumn(),
}

func hpaV2Row(h *autoscalingv2.HorizontalPodAutoscaler, now time.Time) metav1.TableRow {
	return hpaCells(h.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name,
		formatHPAMetrics(h.Spec.Metrics, h.Status.CurrentMetrics),
		h.Spec.MinReplicas, h.Spec.MaxReplicas, h.Status.CurrentReplicas, h.CreationTimestamp, now)
}

// hpaV1Row prints a v1 object as upstream does after converting it to the
// internal (v2-shaped) type: the CPU target and the metrics, current
// metrics kept in annotations, and the 80% default.
func hpaV1Row(h *autoscalingv1.HorizontalPodAutoscaler, now time.Time) metav1.TableRow {
	return hpaV2Row(hpaconv.V1ToV2(h), now)
}

func hpaCells(name, kind, target, metrics string, min *int32, max, current int32, created metav1.Time, now time.Time) metav1.TableRow {
	minPods := unset
	if min != nil {
		minPods = strconv.Itoa(int(*min))
	}
	return cells(name, kind+"/"+target, metrics, minPods, int64(max), int64(current), age(created, now))
}

// formatHPAMetrics renders "current/target" per metric, at most two, e.g.
// "cpu: <unknown>/50%". A status is matched to its spec by index, as
// upstream does.
func formatHPAMetrics(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return none
	}
	const max = 2
	list := make([]string, 0, len(specs))
	for i, spec := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		list = append(list, formatHPAMetric(spec, st))
	}
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ", "), len(list)-max)
	}
	return strings.Join(list, ", ")
}

func formatHPAMetric(spec autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	current := unknown
	switch {
	case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
		return valueOrAverage(spec.External.Target, st != nil && st.External != nil, func() autoscalingv2.MetricValueStatus { return st.External.Current })
	case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
		return valueOrAverage(spec.Object.Target, st != nil && st.Object != nil, func() autoscalingv2.MetricValueStatus { return st.Object.Current })
	case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
		if st != nil && st.Pods != nil {
			current = quantity(st.Pods.Current.AverageValue)
		}
		return current + "/" + quantity(spec.Pods.Target.AverageValue)
	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			cur = &st.Resource.Current
		}
		return spec.Resource.Name.String() + ": " + resourceTarget(spec.Resource.Target, cur)
	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			cur = &st.ContainerResource.Current
		}
		return spec.ContainerResource.Name.String() + ": " + resourceTarget(spec.ContainerResource.Target, cur)
	}
	return "<unknown type>"
}

// valueOrAverage covers External and Object metrics: an average-value
// target is marked "(avg)", otherwise the plain value is compared.
func valueOrAverage(target autoscalingv2.MetricTarget, hasStatus bool, current func() autoscalingv2.MetricValueStatus) string {
	cur := unknown
	if target.AverageValue != nil {
		if hasStatus && current().AverageValue != nil {
			cur = current().AverageValue.String()
		}
		return cur + "/" + target.AverageValue.String() + " (avg)"
	}
	if hasStatus {
		cur = quantity(current().Value)
	}
	return cur + "/" + quantity(target.Value)
}

// resourceTarget covers (container) resource metrics: either an average
// value, or a utilization percentage ("<auto>" when the target has none).
func resourceTarget(target autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	current := unknown
	if target.AverageValue != nil {
		if cur != nil {
			current = quantity(cur.AverageValue)
		}
		return current + "/" + target.AverageValue.String()
	}
	if cur != nil && cur.AverageUtilization != nil {
		current = fmt.Sprintf("%d%%", *cur.AverageUtilization)
	}
	want := "<auto>"
	if target.AverageUtilization != nil {
		want = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return current + "/" + want
}

// quantity prints like (*resource.Quantity).String, which says "<nil>"
// for a missing value.
func quantity(q *resource.Quantity) string {
	return q.String()
}

var leaseColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
	ageColumn(),
}

func leaseRow(l *coordinationv1.Lease, now time.Time) metav1.TableRow {
	return cells(l.Name, strOr(l.Spec.HolderIdentity, ""), age(l.CreationTimestamp, now))
}

var endpointSliceDoc = discoveryv1.EndpointSlice{}.SwaggerDoc()

var endpointSliceColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("AddressType", "string", endpointSliceDoc["addressType"]),
	column("Ports", "string", endpointSliceDoc["ports"]),
	column("Endpoints", "string", endpointSliceDoc["endpoints"]),
	ageColumn(),
}

func endpointSliceRow(s *discoveryv1.EndpointSlice, now time.Time) metav1.TableRow {
	return cells(s.Name, string(s.AddressType), sliceList(slicePorts(s.Ports)), sliceList(sliceAddresses(s.Endpoints)),
		age(s.CreationTimestamp, now))
}

// slicePorts names each port by number, else by name, else "*".
func slicePorts(ports []discoveryv1.EndpointPort) []string {
	out := make([]string, len(ports))
	for i, p := range ports {
		switch {
		case p.Port != nil:
			out[i] = strconv.Itoa(int(*p.Port))
		case p.Name != nil:
			out[i] = *p.Name
		default:
			out[i] = "*"
		}
	}
	return out
}

func sliceAddresses(endpoints []discoveryv1.Endpoint) []string {
	var out []string
	for _, e := range endpoints {
		out = append(out, e.Addresses...)
	}
	return out
}

// sliceList shows three entries, then " + N more...", or <unset>.
func sliceList(all []string) string {
	if len(all) == 0 {
		return unset
	}
	const max = 3
	return firstNWithMore(all[:min(len(all), max)], len(all), max)
}

var pdbColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Min Available", "string", "The minimum number of pods that must be available."),
	column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
	column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
	ageColumn(),
}

func pdbRow(p *policyv1.PodDisruptionBudget, now time.Time) metav1.TableRow {
	minAvailable, maxUnavailable := "N/A", "N/A"
	if p.Spec.MinAvailable != nil {
		minAvailable = p.Spec.MinAvailable.String()
	}
	if p.Spec.MaxUnavailable != nil {
		maxUnavailable = p.Spec.MaxUnavailable.String()
	}
	return cells(p.Name, minAvailable, maxUnavailable, int64(p.Status.DisruptionsAllowed), age(p.CreationTimestamp, now))
}

var priorityClassDoc = schedulingv1.PriorityClass{}.SwaggerDoc()

// PreemptionPolicy is wide-only in spirit, but upstream never marked it
// priority 1, so plain `kubectl get pc` shows it too.
var priorityClassColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Value", "integer", priorityClassDoc["value"]),
	column("Global-Default", "boolean", priorityClassDoc["globalDefault"]),
	ageColumn(),
	column("PreemptionPolicy", "string", priorityClassDoc["preemptionPolicy"]),
}

func priorityClassRow(pc *schedulingv1.PriorityClass, now time.Time) metav1.TableRow {
	policy := ""
	if pc.PreemptionPolicy != nil {
		policy = string(*pc.PreemptionPolicy)
	}
	return cells(pc.Name, int64(pc.Value), pc.GlobalDefault, age(pc.CreationTimestamp, now), policy)
}

var storageClassDoc = storagev1.StorageClass{}.SwaggerDoc()

var storageClassColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Provisioner", "string", storageClassDoc["provisioner"]),
	column("ReclaimPolicy", "string", storageClassDoc["reclaimPolicy"]),
	column("VolumeBindingMode", "string", storageClassDoc["volumeBindingMode"]),
	column("AllowVolumeExpansion", "string", storageClassDoc["allowVolumeExpansion"]),
	ageColumn(),
}

// storageClassRow marks the default class in its name, as upstream does.
func storageClassRow(sc *storagev1.StorageClass, now time.Time) metav1.TableRow {
	name := sc.Name
	if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
		name += " (default)"
	}
	reclaim, mode := string(corev1.PersistentVolumeReclaimDelete), string(storagev1.VolumeBindingImmediate)
	if sc.ReclaimPolicy != nil {
		reclaim = string(*sc.ReclaimPolicy)
	}
	if sc.VolumeBindingMode != nil {
		mode = string(*sc.VolumeBindingMode)
	}
	expansion := false
	if sc.AllowVolumeExpansion != nil {
		expansion = *sc.AllowVolumeExpansion
	}
	row := cells(name, sc.Provisioner, reclaim, mode, fmt.Sprint(expansion), age(sc.CreationTimestamp, now))
	return row
}
