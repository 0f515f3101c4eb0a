package api

import (
	"encoding/json"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// toTable renders metrics as metrics-server's Tables: the name, one
// column per resource (sorted by name) and the window; each row carries
// its object's metadata as kubectl expects.
func toTable(obj runtime.Object) *metav1.Table {
	t := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}, Rows: []metav1.TableRow{}}
	var rows []struct {
		meta   metav1.ObjectMeta
		usage  corev1.ResourceList
		window metav1.Duration
	}
	add := func(meta metav1.ObjectMeta, usage corev1.ResourceList, window metav1.Duration) {
		rows = append(rows, struct {
			meta   metav1.ObjectMeta
			usage  corev1.ResourceList
			window metav1.Duration
		}{meta, usage, window})
	}
	switch o := obj.(type) {
	case *metricsv1beta1.NodeMetrics:
		add(o.ObjectMeta, o.Usage, o.Window)
	case *metricsv1beta1.NodeMetricsList:
		for _, m := range o.Items {
			add(m.ObjectMeta, m.Usage, m.Window)
		}
	case *metricsv1beta1.PodMetrics:
		add(o.ObjectMeta, podTotal(o), o.Window)
	case *metricsv1beta1.PodMetricsList:
		for i := range o.Items {
			add(o.Items[i].ObjectMeta, podTotal(&o.Items[i]), o.Items[i].Window)
		}
	}
	var names []string
	if len(rows) > 0 {
		for k := range rows[0].usage {
			names = append(names, string(k))
		}
		sort.Strings(names)
	}
	t.ColumnDefinitions = append(t.ColumnDefinitions, metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: "Name of the resource"})
	for _, n := range names {
		t.ColumnDefinitions = append(t.ColumnDefinitions, metav1.TableColumnDefinition{Name: n, Type: "string", Format: "quantity"})
	}
	t.ColumnDefinitions = append(t.ColumnDefinitions, metav1.TableColumnDefinition{Name: "Window", Type: "string", Format: "duration"})
	for _, r := range rows {
		cells := []any{r.meta.Name}
		for _, n := range names {
			q := r.usage[corev1.ResourceName(n)]
			cells = append(cells, q.String())
		}
		cells = append(cells, durationString(r.window.Duration))
		partial := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}, ObjectMeta: r.meta}
		raw, _ := json.Marshal(partial) // metadata of an object built here
		t.Rows = append(t.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Raw: raw}})
	}
	return t
}

func podTotal(m *metricsv1beta1.PodMetrics) corev1.ResourceList {
	total := corev1.ResourceList{}
	for _, c := range m.Containers {
		for k, v := range c.Usage {
			sum := total[k]
			sum.Add(v)
			total[k] = sum
		}
	}
	return total
}
