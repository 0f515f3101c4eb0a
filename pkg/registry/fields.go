package registry

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

// Field sets operate on the stored form of an object, so every version of a
// resource offers the same selectors.

func metaFields(obj runtime.Object) fields.Set {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return fields.Set{}
	}
	return fields.Set{"metadata.name": acc.GetName(), "metadata.namespace": acc.GetNamespace()}
}

func podFields(obj runtime.Object) fields.Set {
	set := metaFields(obj)
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return set
	}
	set["spec.nodeName"] = pod.Spec.NodeName
	set["spec.restartPolicy"] = string(pod.Spec.RestartPolicy)
	set["spec.schedulerName"] = pod.Spec.SchedulerName
	set["spec.serviceAccountName"] = pod.Spec.ServiceAccountName
	set["spec.hostNetwork"] = strconv.FormatBool(pod.Spec.HostNetwork)
	set["status.phase"] = string(pod.Status.Phase)
	set["status.podIP"] = pod.Status.PodIP
	set["status.nominatedNodeName"] = pod.Status.NominatedNodeName
	return set
}

func eventFields(obj runtime.Object) fields.Set {
	set := metaFields(obj)
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return set
	}
	io := ev.InvolvedObject
	set["involvedObject.kind"] = io.Kind
	set["involvedObject.namespace"] = io.Namespace
	set["involvedObject.name"] = io.Name
	set["involvedObject.uid"] = string(io.UID)
	set["involvedObject.apiVersion"] = io.APIVersion
	set["involvedObject.resourceVersion"] = io.ResourceVersion
	set["involvedObject.fieldPath"] = io.FieldPath
	set["reason"] = ev.Reason
	set["reportingComponent"] = ev.ReportingController
	// An event written through events.k8s.io has no source; its reporting
	// controller stands in, as upstream.
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	set["source"] = source
	set["type"] = ev.Type
	return set
}

// eventsV1FieldLabels are the field labels of events.k8s.io/v1 and the
// core labels they stand for.
var eventsV1FieldLabels = map[string]string{
	"metadata.name":             "metadata.name",
	"metadata.namespace":        "metadata.namespace",
	"reason":                    "reason",
	"type":                      "type",
	"reportingController":       "reportingComponent",
	"regarding.kind":            "involvedObject.kind",
	"regarding.namespace":       "involvedObject.namespace",
	"regarding.name":            "involvedObject.name",
	"regarding.uid":             "involvedObject.uid",
	"regarding.apiVersion":      "involvedObject.apiVersion",
	"regarding.resourceVersion": "involvedObject.resourceVersion",
	"regarding.fieldPath":       "involvedObject.fieldPath",
}

func nodeFields(obj runtime.Object) fields.Set {
	set := metaFields(obj)
	if n, ok := obj.(*corev1.Node); ok {
		set["spec.unschedulable"] = strconv.FormatBool(n.Spec.Unschedulable)
	}
	return set
}

// serviceFields: kube-proxy lists Services with spec.clusterIP!=None.
func serviceFields(obj runtime.Object) fields.Set {
	set := metaFields(obj)
	if s, ok := obj.(*corev1.Service); ok {
		set["spec.clusterIP"] = s.Spec.ClusterIP
		set["spec.type"] = string(s.Spec.Type)
	}
	return set
}

func secretFields(obj runtime.Object) fields.Set {
	set := metaFields(obj)
	if s, ok := obj.(*corev1.Secret); ok {
		set["type"] = string(s.Type)
	}
	return set
}

func namespaceFields(obj runtime.Object) fields.Set {
	set := metaFields(obj)
	if ns, ok := obj.(*corev1.Namespace); ok {
		set["status.phase"] = string(ns.Status.Phase)
	}
	return set
}

func replicasFields(obj runtime.Object) fields.Set {
	set := metaFields(obj)
	switch o := obj.(type) {
	case *corev1.ReplicationController:
		set["status.replicas"] = strconv.Itoa(int(o.Status.Replicas))
	case *appsv1.ReplicaSet:
		set["status.replicas"] = strconv.Itoa(int(o.Status.Replicas))
	}
	return set
}

func jobFields(obj runtime.Object) fields.Set {
	set := metaFields(obj)
	if j, ok := obj.(*batchv1.Job); ok {
		set["status.successful"] = strconv.Itoa(int(j.Status.Succeeded))
	}
	return set
}
