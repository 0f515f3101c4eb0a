package registry

import (
	"crypto/rand"
	appsv1 "k8s.io/api/apps/v1"

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

// prepareEphemeralContainers carries a write through
// pods/NAME/ephemeralcontainers into the stored pod: only
// spec.ephemeralContainers change (and the UID, so a stale one is refused
// as immutable), as upstream's EphemeralContainersStrategy has it.
func prepareEphemeralContainers(sent, stored runtime.Object) {
	s, ok := sent.(*corev1.Pod)
	p, ok2 := stored.(*corev1.Pod)
	if !ok || !ok2 {
		return
	}
	p.Spec.EphemeralContainers = s.Spec.EphemeralContainers
	if s.UID != "" {
		p.UID = s.UID
	}
}

// RandomSuffix is n random characters of the alphabet upstream's
// generated names use (no vowels, no look-alike digits).
func RandomSuffix(n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
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

// prepareDeploymentStatus is what a Deployment's status write may change:
// its status and annotations, not its labels (upstream's status strategy
// keeps a Deployment's labels, and conformance checks it).
func prepareDeploymentStatus(sent, stored runtime.Object) {
	s, ok1 := sent.(*appsv1.Deployment)
	d, ok2 := stored.(*appsv1.Deployment)
	if !ok1 || !ok2 {
		return
	}
	d.Status = s.Status
	d.Annotations = s.Annotations
}
