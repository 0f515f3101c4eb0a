package proxy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestServiceTraffic drives real connections through the rules a proxier
// programs into a node's network namespace, from Services and
// EndpointSlices served by a real API server.
func TestServiceTraffic(t *testing.T) {
	e := newEnv(t, 3)
	pod0, pod1, pod2 := nettest.PodIP(0), nettest.PodIP(1), nettest.PodIP(2)
	client := e.node.Client

	web := e.svc("web", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })
	e.endpoints("web", ready(pod0, nodeName))
	cip := hostPort(web.Spec.ClusterIP, 80)
	nodePort := hostPort(nettest.NodeIP, web.Spec.Ports[0].NodePort)

	t.Run("ClusterIP from outside the pod range is masqueraded", func(t *testing.T) {
		seen := e.eventuallyOnly("client reaches pod0 through the ClusterIP", client, cip, 3, "pod0")
		if ipOf(seen) != nettest.Gateway {
			t.Fatalf("pod0 saw the client as %s, want the node's bridge address %s (masqueraded)", seen, nettest.Gateway)
		}
	})
	t.Run("NodePort", func(t *testing.T) {
		e.eventuallyOnly("client reaches pod0 through the NodePort", client, nodePort, 3, "pod0")
	})
	t.Run("pod to a pod on the same bridge keeps its address", func(t *testing.T) {
		seen := e.eventuallyOnly("pod1 reaches pod0 through the ClusterIP", e.node.Pods[1], cip, 3, "pod0")
		if ipOf(seen) != pod1 {
			t.Fatalf("pod0 saw pod1 as %s, want %s", seen, pod1)
		}
	})
	t.Run("hairpin: a pod reaches itself through its Service", func(t *testing.T) {
		seen := e.eventuallyOnly("pod0 reaches itself through the ClusterIP", e.node.Pods[0], cip, 3, "pod0")
		if ipOf(seen) == pod0 {
			t.Fatalf("pod0 saw its own address %s: the hairpin connection was not masqueraded", seen)
		}
	})
	t.Run("load spread over two endpoints", func(t *testing.T) {
		e.endpoints("web", ready(pod0, nodeName), ready(pod1, nodeName))
		testserver.Eventually(t, 20*time.Second, "both endpoints answer", func() (bool, string) {
			got, _, err := answers(client, cip, 40)
			if err != nil {
				return false, err.Error()
			}
			return got["pod0"] > 0 && got["pod1"] > 0 && got["pod0"]+got["pod1"] == 40, fmt.Sprintf("answers %v", got)
		})
	})
	t.Run("an endpoint removed takes no more traffic", func(t *testing.T) {
		e.endpoints("web", ready(pod1, nodeName))
		e.eventuallyOnly("only pod1 answers", client, cip, 20, "pod1")
		e.eventuallyOnly("only pod1 answers on the NodePort", client, nodePort, 20, "pod1")
	})
	t.Run("terminating endpoints serve when none is ready", func(t *testing.T) {
		e.endpoints("web", ep{ip: pod2, node: nodeName, serving: true, terminating: true}, ep{ip: pod1, node: nodeName})
		e.eventuallyOnly("only the serving terminating pod2 answers", client, cip, 10, "pod2")
	})
	t.Run("no usable endpoints: connections are refused at once", func(t *testing.T) {
		e.endpoints("web", ep{ip: pod1, node: nodeName}) // not ready, not serving
		testserver.Eventually(t, 20*time.Second, "ClusterIP refuses", func() (bool, string) { return refused(t, client, cip) })
		testserver.Eventually(t, 20*time.Second, "NodePort refuses", func() (bool, string) { return refused(t, client, nodePort) })
		testserver.Eventually(t, 20*time.Second, "ClusterIP refuses a pod", func() (bool, string) { return refused(t, e.node.Pods[2], cip) })
		// A port the ClusterIP does not serve is refused as well.
		if ok, why := refused(t, client, hostPort(web.Spec.ClusterIP, 81)); !ok {
			t.Fatalf("ClusterIP port 81: %s", why)
		}
	})

	t.Run("sessionAffinity ClientIP keeps one endpoint", func(t *testing.T) {
		s := e.svc("sticky", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](600)}}
		})
		e.endpoints("sticky", ready(pod0, nodeName), ready(pod1, nodeName), ready(pod2, nodeName))
		addr := hostPort(s.Spec.ClusterIP, 80)
		e.eventuallyOnly("sticky answers", client, addr, 1, "pod0", "pod1", "pod2")
		first, _, err := nettest.Ask(client, addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := answers(client, addr, 30)
		if err != nil {
			t.Fatal(err)
		}
		if got[first] != 30 {
			t.Fatalf("after %s answered, 30 more requests went to %v", first, got)
		}
		// Another client is placed independently but sticks too.
		other := e.node.Pods[2]
		o1, _, err := nettest.Ask(other, addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := answers(other, addr, 10); err != nil || got[o1] != 10 {
			t.Fatalf("pod2's requests after %s answered: %v %v", o1, got, err)
		}
	})

	t.Run("externalTrafficPolicy Local keeps the client address and only local endpoints", func(t *testing.T) {
		s := e.svc("local", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		})
		e.endpoints("local", ready(pod0, nodeName), ready(nettest.RemotePodIP, "node-b"))
		np := hostPort(nettest.NodeIP, s.Spec.Ports[0].NodePort)
		seen := e.eventuallyOnly("only the local pod0 answers the NodePort", client, np, 20, "pod0")
		if ipOf(seen) != nettest.ClientIP {
			t.Fatalf("pod0 saw the client as %s, want its own address %s", seen, nettest.ClientIP)
		}
		// Inside the cluster the ClusterIP still reaches every endpoint.
		testserver.Eventually(t, 20*time.Second, "ClusterIP spreads to both nodes", func() (bool, string) {
			got, _, err := answers(e.node.Pods[1], hostPort(s.Spec.ClusterIP, 80), 40)
			return err == nil && got["pod0"] > 0 && got["remote"] > 0, fmt.Sprintf("%v %v", got, err)
		})
		// With the Cluster policy the NodePort spreads too.
		cur, err := e.cs.CoreV1().Services(testNS).Get(e.ctx, "local", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		if _, err := e.cs.CoreV1().Services(testNS).Update(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 20*time.Second, "NodePort spreads to both nodes with the Cluster policy", func() (bool, string) {
			got, _, err := answers(client, np, 40)
			return err == nil && got["pod0"] > 0 && got["remote"] > 0, fmt.Sprintf("%v %v", got, err)
		})
	})

	t.Run("internalTrafficPolicy Local", func(t *testing.T) {
		s := e.svc("internal", func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		})
		e.endpoints("internal", ready(pod0, nodeName), ready(nettest.RemotePodIP, "node-b"))
		e.eventuallyOnly("only the local endpoint answers", e.node.Pods[1], hostPort(s.Spec.ClusterIP, 80), 20, "pod0")
	})

	// With endpoints on other nodes only, the ClusterIP's element in
	// no-endpoint-services says drop, whose verdict code is 0: it was sent
	// without its verdict, the kernel refused every batch holding it and
	// the proxier kept retrying full syncs, programming nothing more.
	t.Run("internalTrafficPolicy Local without a local endpoint drops, and syncs go on", func(t *testing.T) {
		s := e.svc("remote-only", func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		})
		e.endpoints("remote-only", ready(nettest.RemotePodIP, "node-b"))
		after := e.svc("after-remote-only", nil)
		e.endpoints("after-remote-only", ready(pod0, nodeName))
		e.eventuallyOnly("a Service synced after it answers", e.node.Pods[1], hostPort(after.Spec.ClusterIP, 80), 3, "pod0")
		testserver.Eventually(t, 20*time.Second, "the ClusterIP in no-endpoint-services", func() (bool, string) {
			tr := e.traces("remote-only", s.Spec.ClusterIP)
			return contains(tr, "no-endpoint-services element for "+s.Spec.ClusterIP), strings.Join(tr, "; ")
		})
	})

	t.Run("externalIPs and load-balancer IPs", func(t *testing.T) {
		const extIP, lbIP = "192.168.77.100", "192.168.77.101"
		for _, ip := range []string{extIP, lbIP} {
			if err := client.IP("route", "add", ip+"/32", "via", nettest.NodeIP); err != nil {
				t.Fatal(err)
			}
		}
		s := e.svc("ext", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalIPs = []string{extIP}
		})
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lbIP}}
		if _, err := e.cs.CoreV1().Services(testNS).UpdateStatus(e.ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.endpoints("ext", ready(pod2, nodeName))
		e.eventuallyOnly("external IP reaches pod2", client, hostPort(extIP, 80), 3, "pod2")
		e.eventuallyOnly("load-balancer IP reaches pod2", client, hostPort(lbIP, 80), 3, "pod2")
	})

	t.Run("a deleted Service leaves nothing behind", func(t *testing.T) {
		s := e.svc("doomed", nil)
		e.endpoints("doomed", ready(pod0, nodeName))
		e.eventuallyOnly("doomed answers", client, hostPort(s.Spec.ClusterIP, 80), 1, "pod0")
		if tr := e.traces("doomed", s.Spec.ClusterIP); len(tr) == 0 {
			t.Fatal("no trace of the Service in the ruleset while it works: the check below could not fail")
		}
		if err := e.cs.CoreV1().Services(testNS).Delete(e.ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 20*time.Second, "the Service's rules are gone", func() (bool, string) {
			tr := e.traces("doomed", s.Spec.ClusterIP)
			return len(tr) == 0, fmt.Sprint(tr)
		})
	})
}
