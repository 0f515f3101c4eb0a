package registry

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flotilla-io/flotilla/pkg/defaults"
)

// preparePod starts every new pod Pending with its QoS class, as upstream's
// pod strategy does; what the client sent as status is ignored.
func preparePod(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: defaults.PodQOSClass(pod)}
}

func prepareNamespace(obj runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
}

// Labels the job controller and upstream tooling use to find a Job's pods.
const (
	jobControllerUIDLabel       = "batch.kubernetes.io/controller-uid"
	jobNameLabel                = "batch.kubernetes.io/job-name"
	legacyJobControllerUIDLabel = "controller-uid"
	legacyJobNameLabel          = "job-name"
)

// prepareJob generates the selector of a Job from its UID unless the user
// chose manualSelector, so two Jobs never adopt each other's pods.
func prepareJob(obj runtime.Object) {
	job, ok := obj.(*batchv1.Job)
	if !ok || (job.Spec.ManualSelector != nil && *job.Spec.ManualSelector) {
		return
	}
	uid := string(job.UID)
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	labels := job.Spec.Template.Labels
	labels[jobControllerUIDLabel] = uid
	labels[legacyJobControllerUIDLabel] = uid
	labels[jobNameLabel] = job.Name
	labels[legacyJobNameLabel] = job.Name
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: uid}}
	}
}

// A deleted namespace turns Terminating and stays until its content is
// gone and the namespace controller clears spec.finalizers.
func prepareNamespaceDelete(obj runtime.Object) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceTerminating
	}
}

func namespaceFinalizing(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}
