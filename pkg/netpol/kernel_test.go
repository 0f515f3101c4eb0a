package netpol_test

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/netpol"
	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func sel(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func ingressPolicy(ns, name string, pods *metav1.LabelSelector, rules ...networkingv1.NetworkPolicyIngressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: *pods, Ingress: rules, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}
}

func egressPolicy(ns, name string, pods *metav1.LabelSelector, rules ...networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: *pods, Egress: rules, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}},
	}
}

func from(peers ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: peers}
}

// TestPolicyTraffic drives real connections between the pods of a node
// in a box through the rules the controller programs from policies,
// pods and namespaces served by a real API server. Each step waits for a
// positive signal: a connection answered, or refused at once by the
// reject chain's TCP reset.
//
//	np-a (team=a): pod0 web (app=web, http=8080), pod1 client (role=client),
//	               pod3 web2 (app=web, http=9090)
//	np-b (team=b): pod2 other (role=other), remote (role=remote, on node-b)
func TestPolicyTraffic(t *testing.T) {
	e := newEnv(t, 4)
	pod0, pod1, pod2, pod3 := e.node.Pods[0], e.node.Pods[1], e.node.Pods[2], e.node.Pods[3]
	client, remote := e.node.Client, e.node.Remote
	e.namespace("np-a", map[string]string{"team": "a"})
	e.namespace("np-b", map[string]string{"team": "b"})
	e.pod("np-a", "web", nodeName, nettest.PodIP(0), map[string]string{"app": "web"}, map[string]int32{"http": httpPort})
	e.pod("np-a", "client", nodeName, nettest.PodIP(1), map[string]string{"role": "client"}, nil)
	e.pod("np-b", "other", nodeName, nettest.PodIP(2), map[string]string{"role": "other"}, nil)
	e.pod("np-a", "web2", nodeName, nettest.PodIP(3), map[string]string{"app": "web"}, map[string]int32{"http": altPort})
	e.pod("np-b", "remote", "node-b", nettest.RemotePodIP, map[string]string{"role": "remote"}, nil)
	web, web2 := hostPort(nettest.PodIP(0), httpPort), hostPort(nettest.PodIP(3), altPort)

	t.Run("without policies everything connects", func(t *testing.T) {
		e.reaches("pod2 → pod0", pod2, web, "pod0")
		e.reaches("client → pod0", client, web, "pod0")
		e.reaches("remote → pod0", remote, web, "pod0")
	})

	t.Run("default deny ingress", func(t *testing.T) {
		e.policy(ingressPolicy("np-a", "deny-all", &metav1.LabelSelector{}))
		e.refused("pod2 → pod0 (same bridge)", pod2, web)
		e.refused("remote → pod0 (routed from another node)", remote, web)
		e.refused("client → pod0 (outside)", client, web)
		e.refused("pod1 → pod0 (same namespace)", pod1, web)
		// Upstream: traffic from the pod's own node is always allowed
		// (kubelet probes), and egress of the isolated pod is not
		// restricted, replies included.
		e.reaches("the node → pod0", e.node.NS, web, "pod0")
		e.reaches("pod0 → pod2", pod0, hostPort(nettest.PodIP(2), httpPort), "pod2")
	})

	t.Run("allow by pod selector", func(t *testing.T) {
		e.policy(ingressPolicy("np-a", "allow-client", sel("app", "web"), from(networkingv1.NetworkPolicyPeer{PodSelector: sel("role", "client")})))
		e.reaches("pod1 → pod0", pod1, web, "pod0")
		e.refused("pod2 → pod0 (role=other, other namespace)", pod2, web)
		// A pod selector alone means the policy's namespace: a pod of
		// np-b labelled role=client does not count; one of np-a does.
		e.relabelPod("np-b", "other", map[string]string{"role": "client"})
		e.refused("pod2 (np-b, role=client) → pod0", pod2, web)
	})

	t.Run("a pod's label change is a set element", func(t *testing.T) {
		// pod3 (np-a) becomes a client: one element in the peer set,
		// sent incrementally.
		before := e.syncCount()
		e.relabelPod("np-a", "web2", map[string]string{"app": "web", "role": "client"})
		e.reaches("pod3 → pod0", pod3, web, "pod0")
		r := e.waitSync(before, false)
		if r.Full || r.Ops != 1 {
			t.Errorf("a label change took a sync of %+v, want one partial operation (the element)", r)
		}
		e.relabelPod("np-a", "web2", map[string]string{"app": "web"})
		e.refused("pod3 → pod0 once relabelled back", pod3, web)
	})

	t.Run("namespaceSelector", func(t *testing.T) {
		e.policy(ingressPolicy("np-a", "allow-team-b", sel("app", "web"), from(networkingv1.NetworkPolicyPeer{NamespaceSelector: sel("team", "b")})))
		e.reaches("pod2 (np-b) → pod0", pod2, web, "pod0")
		e.reaches("remote (np-b, another node) → pod0", remote, web, "pod0")
		e.refused("client (outside the cluster) → pod0", client, web)
		// The namespace's labels decide, as they change.
		e.relabelNamespace("np-b", map[string]string{"team": "c"})
		e.refused("pod2 → pod0 once np-b is team=c", pod2, web)
		e.refused("remote → pod0 once np-b is team=c", remote, web)
		// Both selectors: pods matching one in namespaces matching the other.
		e.policy(ingressPolicy("np-a", "allow-c-remote", sel("app", "web"), from(networkingv1.NetworkPolicyPeer{
			NamespaceSelector: sel("team", "c"), PodSelector: sel("role", "remote")})))
		e.reaches("remote (team=c, role=remote) → pod0", remote, web, "pod0")
		e.refused("pod2 (team=c, role=client) → pod0", pod2, web)
		e.deletePolicy("np-a", "allow-team-b")
		e.deletePolicy("np-a", "allow-c-remote")
		e.refused("remote → pod0 once those policies are gone", remote, web)
	})

	t.Run("ipBlock with except", func(t *testing.T) {
		e.policy(ingressPolicy("np-a", "allow-block", sel("app", "web"), from(networkingv1.NetworkPolicyPeer{
			IPBlock: &networkingv1.IPBlock{CIDR: "10.244.0.0/16", Except: []string{nettest.PodIP(2) + "/32"}}})))
		e.reaches("remote (in the block) → pod0", remote, web, "pod0")
		e.refused("pod2 (excepted) → pod0", pod2, web)
		e.refused("client (outside the block) → pod0", client, web)
		e.deletePolicy("np-a", "allow-block")
		e.refused("remote → pod0 once the block policy is gone", remote, web)
	})

	t.Run("named port resolved per pod", func(t *testing.T) {
		e.policy(ingressPolicy("np-a", "allow-http", sel("app", "web"), networkingv1.NetworkPolicyIngressRule{
			Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromString("http"))}}}))
		e.reaches("client → pod0:http (8080)", client, web, "pod0")
		e.refused("client → pod0:9090", client, hostPort(nettest.PodIP(0), altPort))
		e.reaches("client → pod3:http (9090)", client, web2, "pod3")
		e.refused("client → pod3:8080", client, hostPort(nettest.PodIP(3), httpPort))
		e.deletePolicy("np-a", "allow-http")
		e.refused("client → pod0:http once the policy is gone", client, web)
	})

	t.Run("protocols", func(t *testing.T) {
		dns := hostPort(nettest.PodIP(0), udpPort)
		// Denied UDP gets ICMP administratively prohibited.
		testserver.Eventually(t, 20*time.Second, "UDP to pod0 denied", func() (bool, string) {
			_, err := askUDP(client, dns)
			return errors.Is(err, syscall.EHOSTUNREACH), fmt.Sprint(err)
		})
		e.policy(ingressPolicy("np-a", "allow-dns", sel("app", "web"), networkingv1.NetworkPolicyIngressRule{
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(udpPort))}}}))
		testserver.Eventually(t, 20*time.Second, "UDP to pod0:5353 allowed", func() (bool, string) {
			got, err := askUDP(client, dns)
			return got == "pod0", fmt.Sprint(got, err)
		})
		e.refused("TCP to pod0:8080 still denied", client, web)
		e.deletePolicy("np-a", "allow-dns")
	})

	t.Run("egress", func(t *testing.T) {
		pod2Web, remoteWeb := hostPort(nettest.PodIP(2), httpPort), hostPort(nettest.RemotePodIP, httpPort)
		e.reaches("pod1 → pod2 before", pod1, pod2Web, "pod2")
		e.policy(egressPolicy("np-a", "client-egress", sel("role", "client")))
		e.refused("pod1 → pod2 (egress denied)", pod1, pod2Web)
		e.refused("pod1 → remote (egress denied)", pod1, remoteWeb)
		e.refused("pod1 → pod0 (egress denied, though pod0 lets clients in)", pod1, web)
		// Upstream: traffic to the pod's own node is always allowed.
		e.reaches("pod1 → its node", pod1, hostPort(nettest.Gateway, httpPort), "node")

		// Additive: a port range to any address, then pods by selector.
		e.policy(egressPolicy("np-a", "client-to-8000s", sel("role", "client"), networkingv1.NetworkPolicyEgressRule{
			Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(8000)), EndPort: ptr.To[int32](8100)}}}))
		e.reaches("pod1 → pod2:8080 (in 8000-8100)", pod1, pod2Web, "pod2")
		e.reaches("pod1 → remote:8080 (in 8000-8100)", pod1, remoteWeb, "remote")
		e.refused("pod1 → pod2:9090 (outside the range)", pod1, hostPort(nettest.PodIP(2), altPort))
		e.policy(egressPolicy("np-a", "client-to-web", sel("role", "client"), networkingv1.NetworkPolicyEgressRule{
			To: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("app", "web")}}}))
		e.reaches("pod1 → pod3:9090 (a web pod, any port)", pod1, hostPort(nettest.PodIP(3), altPort), "pod3")
		e.refused("pod1 → pod2:9090 still", pod1, hostPort(nettest.PodIP(2), altPort))
	})

	t.Run("policy deletion removes its rules", func(t *testing.T) {
		if objs := e.policyObjects(); len(objs) == 0 {
			t.Fatal("no policy chains or sets in the kernel while policies hold: the check below could not fail")
		}
		// A pod that goes takes its chain with it.
		web2Chain := "pod-in-" + nettest.PodIP(3)
		if chains, _ := e.objects(); !slices.Contains(chains, web2Chain) {
			t.Fatalf("no chain %s while pod3 is isolated: %v", web2Chain, chains)
		}
		if err := e.cs.CoreV1().Pods("np-a").Delete(e.ctx, "web2", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 20*time.Second, "pod3's chain gone with the pod", func() (bool, string) {
			chains, _ := e.objects()
			return !slices.Contains(chains, web2Chain), fmt.Sprint(chains)
		})
		for _, n := range []string{"deny-all", "allow-client", "client-egress", "client-to-8000s", "client-to-web"} {
			e.deletePolicy("np-a", n)
		}
		e.reaches("pod2 → pod0 once no policy is left", pod2, web, "pod0")
		e.reaches("pod1 → pod2:9090 once no policy is left", pod1, hostPort(nettest.PodIP(2), altPort), "pod2")
		testserver.Eventually(t, 20*time.Second, "policy chains and sets gone", func() (bool, string) {
			objs := e.policyObjects()
			return len(objs) == 0, fmt.Sprint(objs)
		})
	})
}

// TestRestartAndCleanup: a new controller takes over the table a previous
// one left (full sync replacing it, isolation holding in between), and
// Cleanup removes it.
func TestRestartAndCleanup(t *testing.T) {
	e := newEnv(t, 2)
	pod1 := e.node.Pods[1]
	e.namespace("np-a", nil)
	e.pod("np-a", "web", nodeName, nettest.PodIP(0), map[string]string{"app": "web"}, nil)
	web := hostPort(nettest.PodIP(0), httpPort)
	e.policy(ingressPolicy("np-a", "deny-web", sel("app", "web")))
	e.refused("pod1 → pod0 denied", pod1, web)

	e.stop()
	if ok, why := refusedNow(pod1, web, syscall.ECONNREFUSED); !ok {
		t.Fatalf("pod1 → pod0 with the controller stopped: %s (the rules must stay)", why)
	}
	// Changed while nobody watched: the new controller's first (full)
	// sync must replace what the table holds.
	e.deletePolicy("np-a", "deny-web")
	e.policy(ingressPolicy("np-a", "deny-other", sel("app", "other")))
	e.start()
	e.reaches("pod1 → pod0 after the restart", pod1, web, "pod0")
	chains, _ := e.objects()
	for _, c := range chains {
		if c == "pod-in-"+nettest.PodIP(0) {
			t.Errorf("pod0's chain survived the restart: %v", chains)
		}
	}

	e.stop()
	if err := netpol.Cleanup(e.node.NS.Path); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if chains, sets := e.objects(); chains != nil || sets != nil {
		t.Errorf("after Cleanup: chains %v sets %v", chains, sets)
	}
	if err := netpol.Cleanup(e.node.NS.Path); err != nil {
		t.Errorf("cleanup without a table: %v", err)
	}
}
