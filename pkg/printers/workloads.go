package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var replicationControllerColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Desired", "integer", corev1.ReplicationControllerSpec{}.SwaggerDoc()["replicas"]),
	column("Current", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["replicas"]),
	column("Ready", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn(),
	containersColumn(),
	imagesColumn(),
	wide(column("Selector", "string", corev1.ReplicationControllerSpec{}.SwaggerDoc()["selector"])),
}

func replicationControllerRow(rc *corev1.ReplicationController, now time.Time) metav1.TableRow {
	var containers []corev1.Container
	if rc.Spec.Template != nil {
		containers = rc.Spec.Template.Spec.Containers
	}
	names, images := containerCells(containers)
	return cells(rc.Name, int64(replicas(rc.Spec.Replicas)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
		age(rc.CreationTimestamp, now), names, images, labels.FormatLabels(rc.Spec.Selector))
}

var deploymentColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Ready", "string", "Number of the pod with ready state"),
	column("Up-to-date", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
	column("Available", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
	ageColumn(),
	containersColumn(),
	imagesColumn(),
	wide(column("Selector", "string", appsv1.DeploymentSpec{}.SwaggerDoc()["selector"])),
}

func deploymentRow(d *appsv1.Deployment, now time.Time) metav1.TableRow {
	// Unlike the other workloads, upstream prints the raw selector here:
	// an empty one stays empty instead of becoming <none>.
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return cells(d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age(d.CreationTimestamp, now),
		names, images, selector)
}

var replicaSetColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Desired", "integer", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
	column("Current", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
	column("Ready", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn(),
	containersColumn(),
	imagesColumn(),
	wide(column("Selector", "string", appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"])),
}

func replicaSetRow(rs *appsv1.ReplicaSet, now time.Time) metav1.TableRow {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return cells(rs.Name, int64(replicas(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(rs.Spec.Selector))
}

var daemonSetStatusDoc = appsv1.DaemonSetStatus{}.SwaggerDoc()

var daemonSetColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Desired", "integer", daemonSetStatusDoc["desiredNumberScheduled"]),
	column("Current", "integer", daemonSetStatusDoc["currentNumberScheduled"]),
	column("Ready", "integer", daemonSetStatusDoc["numberReady"]),
	column("Up-to-date", "integer", daemonSetStatusDoc["updatedNumberScheduled"]),
	column("Available", "integer", daemonSetStatusDoc["numberAvailable"]),
	column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
	ageColumn(),
	containersColumn(),
	imagesColumn(),
	wide(column("Selector", "string", appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"])),
}

func daemonSetRow(ds *appsv1.DaemonSet, now time.Time) metav1.TableRow {
	st := ds.Status
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return cells(ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		age(ds.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(ds.Spec.Selector))
}

var statefulSetColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Ready", "string", "Number of the pod with ready state"),
	ageColumn(),
	containersColumn(),
	imagesColumn(),
}

func statefulSetRow(ss *appsv1.StatefulSet, now time.Time) metav1.TableRow {
	names, images := containerCells(ss.Spec.Template.Spec.Containers)
	return cells(ss.Name, fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, replicas(ss.Spec.Replicas)),
		age(ss.CreationTimestamp, now), names, images)
}

var controllerRevisionColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Controller", "string", "Controller of the object"),
	column("Revision", "string", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
	ageColumn(),
}

func controllerRevisionRow(cr *appsv1.ControllerRevision, now time.Time) metav1.TableRow {
	return cells(cr.Name, controllerName(cr), cr.Revision, age(cr.CreationTimestamp, now))
}

// controllerName prints the owning controller as kubectl resource names
// look: "kind.group/name", lower-cased (e.g. "daemonset.apps/fluentd").
func controllerName(obj metav1.Object) string {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil {
		return none
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		// Upstream fails the whole request here; one bad owner
		// reference should not hide the whole list.
		return ref.Name
	}
	gk := gv.WithKind(ref.Kind).GroupKind()
	if gk.Empty() {
		return ref.Name
	}
	return strings.ToLower(gk.String()) + "/" + ref.Name
}

// replicas reads an optional replica count; nil only happens for objects
// that bypassed defaulting, where upstream would also mean 1.
func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
