package printers

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var (
	testNow     = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	fiveMinutes = metav1.NewTime(testNow.Add(-5 * time.Minute))
)

func om(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: fiveMinutes}
}

// kindCase is one registered kind: a two-item list and the headers kubectl
// prints without and with -o wide (upper-cased column names).
type kindCase struct {
	list         runtime.Object
	header, wide string
}

func kindCases() map[string]kindCase {
	return map[string]kindCase{
		"Namespace": {&corev1.NamespaceList{Items: []corev1.Namespace{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME STATUS AGE", ""},
		"Pod": {&corev1.PodList{Items: []corev1.Pod{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME READY STATUS RESTARTS AGE", "IP NODE NOMINATED NODE READINESS GATES"},
		"PodTemplate": {&corev1.PodTemplateList{Items: []corev1.PodTemplate{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME CONTAINERS IMAGES POD LABELS", ""},
		"ConfigMap": {&corev1.ConfigMapList{Items: []corev1.ConfigMap{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME DATA AGE", ""},
		"Secret": {&corev1.SecretList{Items: []corev1.Secret{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME TYPE DATA AGE", ""},
		"Node": {&corev1.NodeList{Items: []corev1.Node{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME STATUS ROLES AGE VERSION", "INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME"},
		"Event": {&corev1.EventList{Items: []corev1.Event{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"LAST SEEN TYPE REASON OBJECT MESSAGE", "SUBOBJECT SOURCE FIRST SEEN COUNT NAME"},
		"events.k8s.io Event": {&eventsv1.EventList{Items: []eventsv1.Event{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"LAST SEEN TYPE REASON OBJECT MESSAGE", "SUBOBJECT SOURCE FIRST SEEN COUNT NAME"},
		"Service": {&corev1.ServiceList{Items: []corev1.Service{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "SELECTOR"},
		"Endpoints": {&corev1.EndpointsList{Items: []corev1.Endpoints{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME ENDPOINTS AGE", ""},
		"ServiceAccount": {&corev1.ServiceAccountList{Items: []corev1.ServiceAccount{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME SECRETS AGE", ""},
		"ReplicationController": {&corev1.ReplicationControllerList{Items: []corev1.ReplicationController{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME DESIRED CURRENT READY AGE", "CONTAINERS IMAGES SELECTOR"},
		"PersistentVolumeClaim": {&corev1.PersistentVolumeClaimList{Items: []corev1.PersistentVolumeClaim{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE", "VOLUMEMODE"},
		"PersistentVolume": {&corev1.PersistentVolumeList{Items: []corev1.PersistentVolume{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE", "VOLUMEMODE"},
		"Deployment": {&appsv1.DeploymentList{Items: []appsv1.Deployment{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME READY UP-TO-DATE AVAILABLE AGE", "CONTAINERS IMAGES SELECTOR"},
		"ReplicaSet": {&appsv1.ReplicaSetList{Items: []appsv1.ReplicaSet{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME DESIRED CURRENT READY AGE", "CONTAINERS IMAGES SELECTOR"},
		"DaemonSet": {&appsv1.DaemonSetList{Items: []appsv1.DaemonSet{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE", "CONTAINERS IMAGES SELECTOR"},
		"StatefulSet": {&appsv1.StatefulSetList{Items: []appsv1.StatefulSet{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME READY AGE", "CONTAINERS IMAGES"},
		"ControllerRevision": {&appsv1.ControllerRevisionList{Items: []appsv1.ControllerRevision{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME CONTROLLER REVISION AGE", ""},
		"Job": {&batchv1.JobList{Items: []batchv1.Job{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME STATUS COMPLETIONS DURATION AGE", "CONTAINERS IMAGES SELECTOR"},
		"CronJob": {&batchv1.CronJobList{Items: []batchv1.CronJob{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE", "CONTAINERS IMAGES SELECTOR"},
		"HPA v2": {&autoscalingv2.HorizontalPodAutoscalerList{Items: []autoscalingv2.HorizontalPodAutoscaler{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE", ""},
		"HPA v1": {&autoscalingv1.HorizontalPodAutoscalerList{Items: []autoscalingv1.HorizontalPodAutoscaler{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE", ""},
		"Lease": {&coordinationv1.LeaseList{Items: []coordinationv1.Lease{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME HOLDER AGE", ""},
		"EndpointSlice": {&discoveryv1.EndpointSliceList{Items: []discoveryv1.EndpointSlice{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME ADDRESSTYPE PORTS ENDPOINTS AGE", ""},
		"PodDisruptionBudget": {&policyv1.PodDisruptionBudgetList{Items: []policyv1.PodDisruptionBudget{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE", ""},
		"PriorityClass": {&schedulingv1.PriorityClassList{Items: []schedulingv1.PriorityClass{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}},
			"NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY", ""},
	}
}

// headers joins column names the way kubectl prints them.
func headers(cols []metav1.TableColumnDefinition, priority int32) string {
	var names []string
	for _, c := range cols {
		if c.Priority == priority {
			names = append(names, strings.ToUpper(c.Name))
		}
	}
	return strings.Join(names, " ")
}

func TestColumnsMatchUpstreamHeaders(t *testing.T) {
	for kind, tc := range kindCases() {
		t.Run(kind, func(t *testing.T) {
			cols, ok := Columns(tc.list)
			if !ok {
				t.Fatalf("no columns for %T", tc.list)
			}
			if got := headers(cols, 0); got != tc.header {
				t.Errorf("header = %q, want %q", got, tc.header)
			}
			if got := headers(cols, 1); got != tc.wide {
				t.Errorf("wide header = %q, want %q", got, tc.wide)
			}
			names := 0
			for _, c := range cols {
				if c.Type == "" || c.Description == "" && c.Name != "Name" {
					t.Errorf("column %q: type %q description %q", c.Name, c.Type, c.Description)
				}
				if c.Format == "name" {
					names++
					if c.Name != "Name" {
						t.Errorf("name format on column %q", c.Name)
					}
				}
			}
			if names != 1 {
				t.Errorf("%d columns with format name, want 1", names)
			}
			if kind != "Event" && kind != "events.k8s.io Event" && cols[0].Format != "name" {
				t.Errorf("first column %+v is not the name", cols[0])
			}
		})
	}
}

func TestRowsOnePerItemWithOneCellPerColumn(t *testing.T) {
	for kind, tc := range kindCases() {
		t.Run(kind, func(t *testing.T) {
			cols, _ := Columns(tc.list)
			rows, err := Rows(tc.list, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 {
				t.Fatalf("%d rows, want 2", len(rows))
			}
			nameAt := -1
			for i, c := range cols {
				if c.Format == "name" {
					nameAt = i
				}
			}
			for i, r := range rows {
				if len(r.Cells) != len(cols) {
					t.Fatalf("row %d has %d cells for %d columns: %v", i, len(r.Cells), len(cols), r.Cells)
				}
				if want := []string{"a", "b"}[i]; r.Cells[nameAt] != want {
					t.Errorf("row %d name cell %v, want %s", i, r.Cells[nameAt], want)
				}
				if r.Object.Object != nil || r.Object.Raw != nil {
					t.Errorf("row %d sets Object; the caller owns it", i)
				}
			}
		})
	}
}

func TestColumnsReturnsACopy(t *testing.T) {
	list := &corev1.PodList{}
	cols, _ := Columns(list)
	cols[0].Name = "changed"
	again, _ := Columns(list)
	if again[0].Name != "Name" {
		t.Fatal("Columns shares its slice with callers")
	}
}

func TestUnregisteredKindsUseTheDefaultTable(t *testing.T) {
	list := &corev1.ComponentStatusList{Items: []corev1.ComponentStatus{
		{ObjectMeta: om("reader")},
		{ObjectMeta: metav1.ObjectMeta{Name: "undated"}},
	}}
	if _, ok := Columns(list); ok {
		t.Fatal("ComponentStatusList should have no specific columns")
	}
	if _, err := Rows(list, testNow); err == nil {
		t.Fatal("Rows of an unregistered kind should fail")
	}
	if got := headers(DefaultColumns(), 0); got != "NAME CREATED AT" {
		t.Fatalf("default header %q", got)
	}
	if c := DefaultColumns(); c[0].Format != "name" || c[1].Type != "date" {
		t.Fatalf("default columns %+v", c)
	}
	rows, err := DefaultRows(list, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"reader", "2025-01-02T02:59:05Z"}, {"undated", "0001-01-01T00:00:00Z"}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows", len(rows))
	}
	for i := range want {
		if rows[i].Cells[0] != want[i][0] || rows[i].Cells[1] != want[i][1] {
			t.Errorf("row %d = %v, want %v", i, rows[i].Cells, want[i])
		}
	}
}

func TestEmptyListsHaveNoRows(t *testing.T) {
	rows, err := Rows(&corev1.PodList{}, testNow)
	if err != nil || len(rows) != 0 {
		t.Fatalf("rows %v err %v", rows, err)
	}
}
