package endpointutil

import (
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// ShouldPodBeInEndpoints says whether a pod is listed at all: it has an
// address, has not finished (Succeeded/Failed), and is not being deleted
// unless includeTerminating.
func ShouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if podutil.IsPodTerminal(pod) {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// ShouldSetHostname says whether the pod's hostname names its address: the
// pod sets one and its subdomain is this Service (the headless-Service DNS
// records of StatefulSets).
func ShouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && svc.Namespace == pod.Namespace
}

// IsServiceIPSet reports whether the Service has a cluster IP (it is
// neither headless nor ExternalName).
func IsServiceIPSet(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.ClusterIP != ""
}

// FindPort resolves a Service port's targetPort on one pod: a number is
// itself, a name is looked up among the ports (of the same protocol) of
// the pod's containers and then of its sidecars (restartable init
// containers). A pod without that name has no such port.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	if sp.TargetPort.Type == intstr.Int {
		return sp.TargetPort.IntVal, true
	}
	name := sp.TargetPort.StrVal
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name && p.Protocol == sp.Protocol {
				return p.ContainerPort, true
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			continue
		}
		for _, p := range c.Ports {
			if p.Name == name && p.Protocol == sp.Protocol {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

// PodFromObject unwraps an informer event's pod, tombstones included.
func PodFromObject(obj any) *corev1.Pod {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

// ServicesForPod lists the keys of the Services of the pod's namespace
// whose selector matches podLabels. A Service without a selector selects
// nothing (its endpoints are written by hand).
func ServicesForPod(services listersv1.ServiceLister, namespace string, podLabels labels.Set) sets.Set[string] {
	out := sets.New[string]()
	all, err := services.Services(namespace).List(labels.Everything())
	if err != nil {
		return out
	}
	for _, svc := range all {
		if svc.Spec.Selector == nil {
			continue
		}
		if labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(podLabels) {
			out.Insert(svc.Namespace + "/" + svc.Name)
		}
	}
	return out
}

// ServicesToUpdate lists the Services a pod event concerns. oldObj is nil
// for an add, newObj nil for a delete. An update matters when the pod's
// address, readiness, deletion or phase changed (every Service it is in
// now or was in before), or when its labels or hostname changed (the
// Services it joined or left; all of them if the pod changed too).
func ServicesToUpdate(services listersv1.ServiceLister, oldObj, newObj any) sets.Set[string] {
	oldPod, newPod := PodFromObject(oldObj), PodFromObject(newObj)
	switch {
	case oldPod == nil && newPod == nil:
		return nil
	case oldPod == nil:
		return ServicesForPod(services, newPod.Namespace, newPod.Labels)
	case newPod == nil:
		return ServicesForPod(services, oldPod.Namespace, oldPod.Labels)
	case oldPod.ResourceVersion == newPod.ResourceVersion:
		return nil // a resync: the Service informer resyncs Services itself
	}
	podChanged, labelsChanged := podEndpointsChanged(oldPod, newPod)
	if !podChanged && !labelsChanged {
		return nil
	}
	cur := ServicesForPod(services, newPod.Namespace, newPod.Labels)
	if !labelsChanged {
		return cur
	}
	old := ServicesForPod(services, oldPod.Namespace, oldPod.Labels)
	if podChanged {
		return cur.Union(old)
	}
	return cur.SymmetricDifference(old)
}

// podEndpointsChanged says whether the pod changed in a way its endpoints
// show, and whether it changed in a way that may change its Services.
func podEndpointsChanged(oldPod, newPod *corev1.Pod) (podChanged, labelsChanged bool) {
	labelsChanged = !labels.Equals(oldPod.Labels, newPod.Labels) ||
		oldPod.Spec.Hostname != newPod.Spec.Hostname || oldPod.Spec.Subdomain != newPod.Spec.Subdomain
	if (oldPod.DeletionTimestamp == nil) != (newPod.DeletionTimestamp == nil) ||
		podutil.IsPodReady(oldPod) != podutil.IsPodReady(newPod) ||
		// Upstream does not look at the phase; a pod that finishes
		// while not ready would then stay listed until another change.
		podutil.IsPodTerminal(oldPod) != podutil.IsPodTerminal(newPod) {
		return true, labelsChanged
	}
	if len(oldPod.Status.PodIPs) != len(newPod.Status.PodIPs) || oldPod.Status.PodIP != newPod.Status.PodIP {
		return true, labelsChanged
	}
	for i := range oldPod.Status.PodIPs {
		if oldPod.Status.PodIPs[i].IP != newPod.Status.PodIPs[i].IP {
			return true, labelsChanged
		}
	}
	// Name, namespace and UID are immutable; nodeName is set once, before
	// the pod has an address.
	return false, labelsChanged
}

// TriggerTimes computes the endpoints.kubernetes.io/last-change-trigger-time
// annotation as upstream does: for a Service seen for the first time its
// creation time, afterwards the earliest of the changes since the last
// sync (a pod's Ready transition, the Service's creation). A zero time
// means no annotation. Calls for one Service must not overlap, which a
// work queue guarantees.
type TriggerTimes struct {
	mu     sync.Mutex
	states map[string]serviceState
}

type serviceState struct {
	service time.Time
	pods    map[string]time.Time
}

// Compute records the state of svc and its pods and returns the trigger
// time to publish.
func (t *TriggerTimes) Compute(svc *corev1.Service, pods []*corev1.Pod) time.Time {
	key := svc.Namespace + "/" + svc.Name
	t.mu.Lock()
	state, known := t.states[key]
	t.mu.Unlock()
	var earliest time.Time
	podTimes := make(map[string]time.Time, len(pods))
	for _, pod := range pods {
		c := podutil.GetPodReadyCondition(pod)
		if c == nil || c.LastTransitionTime.IsZero() {
			continue
		}
		at := c.LastTransitionTime.Time
		podTimes[pod.Name] = at
		if at.After(state.pods[pod.Name]) {
			earliest = earlier(earliest, at)
		}
	}
	created := svc.CreationTimestamp.Time
	if created.After(state.service) {
		earliest = earlier(earliest, created)
	}
	t.mu.Lock()
	if t.states == nil {
		t.states = map[string]serviceState{}
	}
	t.states[key] = serviceState{service: created, pods: podTimes}
	t.mu.Unlock()
	if !known {
		return created
	}
	return earliest
}

// Forget drops a deleted Service's state.
func (t *TriggerTimes) Forget(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.states, namespace+"/"+name)
}

func earlier(cur, t time.Time) time.Time {
	if cur.IsZero() || t.Before(cur) {
		return t
	}
	return cur
}

// StaleCache is the error of a sync that found the informer cache behind
// the controller's own writes. It is a conflict, which the worker retries
// (with back-off) without a warning: the cache catches up by itself.
func StaleCache(resource, name string) error {
	return apierrors.NewConflict(schema.GroupResource{Resource: resource}, name, errors.New("the informer cache is behind this controller's last write; retrying"))
}
