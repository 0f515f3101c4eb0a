package endpoints

import (
	"context"
	"fmt"
	"maps"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/endpointutil"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// truncated is the value of the over-capacity annotation.
const truncated = "truncated"

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone, and with it its endpoints.
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints of deleted service: %w", err)
		}
		c.triggers.Forget(ns, name)
		c.stale.forget(ns, name)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	trigger := c.triggers.Compute(svc, pods)
	subsets := desiredSubsets(svc, pods)

	cur, err := c.endpoints.Endpoints(ns).Get(name)
	create := apierrors.IsNotFound(err)
	switch {
	case create:
		cur = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	case err != nil:
		return err
	case c.stale.isStale(cur):
		return endpointutil.StaleCache("endpoints", key)
	}
	if !create && upToDate(cur, svc, subsets) {
		return nil
	}

	next := cur.DeepCopy()
	next.Subsets = subsets
	next.Labels = maps.Clone(svc.Labels)
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	if endpointutil.IsServiceIPSet(svc) {
		delete(next.Labels, corev1.IsHeadlessService)
	} else {
		next.Labels[corev1.IsHeadlessService] = ""
	}
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	if trigger.IsZero() {
		delete(next.Annotations, corev1.EndpointsLastChangeTriggerTime)
	} else {
		next.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	}
	if truncate(next.Subsets) {
		next.Annotations[corev1.EndpointsOverCapacity] = truncated
	} else {
		delete(next.Annotations, corev1.EndpointsOverCapacity)
	}

	if create {
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, next, metav1.CreateOptions{})
	} else {
		var written *corev1.Endpoints
		written, err = c.client.CoreV1().Endpoints(ns).Update(ctx, next, metav1.UpdateOptions{})
		if err == nil && written.ResourceVersion != cur.ResourceVersion {
			c.stale.mark(cur)
		}
	}
	switch {
	case err == nil:
		return nil
	case create && apierrors.IsAlreadyExists(err):
		// Written by an earlier sync the cache has not shown yet.
		return endpointutil.StaleCache("endpoints", key)
	case create && apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil
	case apierrors.IsConflict(err):
		return err
	case create:
		c.recorder.Eventf(next, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %v/%v: %v", ns, name, err)
	default:
		c.recorder.Eventf(next, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %v/%v: %v", ns, name, err)
	}
	return fmt.Errorf("write endpoints: %w", err)
}

// upToDate says whether cur already shows subsets and the Service's
// labels, with the over-capacity annotation right. The trigger time alone
// is no reason to write.
func upToDate(cur *corev1.Endpoints, svc *corev1.Service, subsets []corev1.EndpointSubset) bool {
	curLabels := maps.Clone(cur.Labels)
	delete(curLabels, corev1.IsHeadlessService)
	_, annotated := cur.Annotations[corev1.EndpointsOverCapacity]
	return subsetsEqual(cur.Subsets, subsets) &&
		apiequality.Semantic.DeepEqual(curLabels, svc.Labels) &&
		count(cur.Subsets) <= maxCapacity && !annotated
}

// subsetsEqual compares subsets, ignoring the targets' resourceVersions.
func subsetsEqual(a, b []corev1.EndpointSubset) bool {
	strip := func(in []corev1.EndpointSubset) []corev1.EndpointSubset {
		out := make([]corev1.EndpointSubset, len(in))
		for i := range in {
			out[i] = *in[i].DeepCopy()
			for _, addrs := range [][]corev1.EndpointAddress{out[i].Addresses, out[i].NotReadyAddresses} {
				for j := range addrs {
					if addrs[j].TargetRef != nil {
						addrs[j].TargetRef.ResourceVersion = ""
					}
				}
			}
		}
		return out
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

// desiredSubsets lists the Service's pods as repacked subsets.
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	var subsets []corev1.EndpointSubset
	publishAll := svc.Spec.PublishNotReadyAddresses
	for _, pod := range pods {
		if !endpointutil.ShouldPodBeInEndpoints(pod, publishAll) {
			continue
		}
		addr, ok := podAddress(svc, pod)
		if !ok {
			continue
		}
		if endpointutil.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		ready := publishAll || podutil.IsPodReady(pod)
		add := func(ports []corev1.EndpointPort) {
			ss := corev1.EndpointSubset{Ports: ports}
			if ready {
				ss.Addresses = []corev1.EndpointAddress{addr}
			} else {
				ss.NotReadyAddresses = []corev1.EndpointAddress{addr}
			}
			subsets = append(subsets, ss)
		}
		if len(svc.Spec.Ports) == 0 {
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add(nil)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := endpointutil.FindPort(pod, sp)
			if !ok {
				continue // this pod does not have the named port
			}
			add([]corev1.EndpointPort{{Name: sp.Name, Port: port, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
		}
	}
	return endpointutil.Repack(subsets)
}

// podAddress is the pod's address in the Service's IP family: its first
// family, else that of its cluster IP, else (headless) that of the pod.
func podAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	ipv6 := false
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		ipv6 = svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case endpointutil.IsServiceIPSet(svc):
		ipv6 = isIPv6(svc.Spec.ClusterIP)
	default:
		ipv6 = isIPv6(pod.Status.PodIP)
	}
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		if isIPv6(ip.IP) == ipv6 {
			addr := corev1.EndpointAddress{
				IP:        ip.IP,
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			}
			if pod.Spec.NodeName != "" { // always, for a pod with an address
				node := pod.Spec.NodeName
				addr.NodeName = &node
			}
			return addr, true
		}
	}
	return corev1.EndpointAddress{}, false
}

func isIPv6(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() == nil
}
