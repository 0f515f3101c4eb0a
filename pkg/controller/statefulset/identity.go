package statefulset

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// Pod labels of upstream's statefulset controller.
const (
	PodNameLabel      = appsv1.StatefulSetPodNameLabel        // statefulset.kubernetes.io/pod-name
	PodIndexLabel     = appsv1.PodIndexLabel                  // apps.kubernetes.io/pod-index
	RevisionLabel     = appsv1.ControllerRevisionHashLabelKey // controller-revision-hash
	revisionHashLabel = "controller.kubernetes.io/hash"
)

// parseOrdinal splits NAME-ORDINAL; ok is false for names not of that
// shape or with an ordinal that does not fit an int32.
func parseOrdinal(podName string) (parent string, ordinal int, ok bool) {
	i := strings.LastIndexByte(podName, '-')
	if i <= 0 || i == len(podName)-1 {
		return "", -1, false
	}
	digits := podName[i+1:]
	for _, r := range digits {
		if r < '0' || r > '9' {
			return "", -1, false
		}
	}
	n, err := strconv.ParseInt(digits, 10, 32)
	if err != nil {
		return "", -1, false
	}
	return podName[:i], int(n), true
}

func ordinalOf(pod *corev1.Pod) int {
	_, ord, ok := parseOrdinal(pod.Name)
	if !ok {
		return -1
	}
	return ord
}

func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _, ok := parseOrdinal(pod.Name)
	return ok && parent == set.Name
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

// ClaimName is the name of the claim of template for the pod of ordinal.
func ClaimName(template, set string, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", template, set, ordinal)
}

func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func replicaCount(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

// newPod builds the pod of ordinal from set's template (the template of
// the revision it is created at).
func newPod(set *appsv1.StatefulSet, ordinal int, revision string) *corev1.Pod {
	tmpl := set.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: podName(set, ordinal), Namespace: set.Namespace,
			Labels: maps.Clone(tmpl.Labels), Annotations: maps.Clone(tmpl.Annotations), Finalizers: tmpl.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Spec: tmpl.Spec,
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[PodNameLabel] = pod.Name
	pod.Labels[PodIndexLabel] = strconv.Itoa(ordinal)
	pod.Labels[RevisionLabel] = revision
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	if len(set.Spec.VolumeClaimTemplates) > 0 {
		volumes := make([]corev1.Volume, 0, len(set.Spec.VolumeClaimTemplates)+len(pod.Spec.Volumes))
		claimed := map[string]bool{}
		for _, t := range set.Spec.VolumeClaimTemplates {
			claimed[t.Name] = true
			volumes = append(volumes, corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(t.Name, set.Name, ordinal)},
			}})
		}
		for _, v := range pod.Spec.Volumes {
			if !claimed[v.Name] {
				volumes = append(volumes, v)
			}
		}
		pod.Spec.Volumes = volumes
	}
	return pod
}

// newClaim builds the claim of template t for the pod of ordinal.
func newClaim(set *appsv1.StatefulSet, t *corev1.PersistentVolumeClaim, ordinal int) *corev1.PersistentVolumeClaim {
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: ClaimName(t.Name, set.Name, ordinal), Namespace: set.Namespace,
			Labels: maps.Clone(t.Labels), Annotations: maps.Clone(t.Annotations),
		},
		Spec: *t.Spec.DeepCopy(),
	}
	if set.Spec.Selector != nil && len(set.Spec.Selector.MatchLabels) > 0 {
		if claim.Labels == nil {
			claim.Labels = map[string]string{}
		}
		maps.Copy(claim.Labels, set.Spec.Selector.MatchLabels)
	}
	return claim
}

// identityMatches checks the labels a pod gets from its name.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	ord := ordinalOf(pod)
	return isMemberOf(set, pod) && pod.Labels[PodNameLabel] == pod.Name && pod.Labels[PodIndexLabel] == strconv.Itoa(ord)
}

func revisionOf(pod *corev1.Pod) string { return pod.Labels[RevisionLabel] }

func isCreated(pod *corev1.Pod) bool     { return pod.Status.Phase != "" }
func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

func isRunningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && podutil.IsPodReady(pod)
}

// isHealthy is Running, Ready and not being deleted.
func isHealthy(pod *corev1.Pod) bool { return isRunningAndReady(pod) && !isTerminating(pod) }

// availableIn is how long until a ready pod has been ready for more than
// minReadySeconds (podutil.IsPodAvailable): 0 once available, -1 while
// not ready. A Ready condition without a transition time never counts as
// available with minReadySeconds set, as upstream; it is looked at again
// after minReadySeconds.
func availableIn(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if !isRunningAndReady(pod) {
		return -1
	}
	if podutil.IsPodAvailable(pod, minReadySeconds, now) {
		return 0
	}
	need := time.Duration(minReadySeconds) * time.Second
	since := podutil.GetPodReadyCondition(pod).LastTransitionTime
	if since.IsZero() {
		return need
	}
	// Available needs strictly more than minReadySeconds, so the wait is
	// never 0 here.
	return max(since.Add(need).Sub(now), time.Nanosecond)
}
