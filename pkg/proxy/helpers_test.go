package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/proxy"
	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const (
	testNS   = "proxy-test"
	nodeName = "node-a"
	podPort  = 8080
)

// env is a node in a box with its pods' echo servers, an API server and
// a running proxier programming the node's namespace.
type env struct {
	t    *testing.T
	node *nettest.Node
	cs   kubernetes.Interface
	ctx  context.Context

	// anyLocalAddress: start proxiers without NodeAddresses (NodePorts
	// on every local address).
	anyLocalAddress bool

	mu    sync.Mutex
	syncs []proxy.SyncResult

	stopProxy func()
}

func newEnv(t *testing.T, pods int) *env {
	t.Helper()
	node := nettest.NewTestNode(t, pods)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for i, pod := range node.Pods {
		stop, err := nettest.EchoServer(ctx, pod, fmt.Sprintf(":%d", podPort), fmt.Sprintf("pod%d", i))
		if err != nil {
			t.Fatalf("echo server in pod%d: %v", i, err)
		}
		t.Cleanup(stop)
	}
	stop, err := nettest.EchoServer(ctx, node.Remote, fmt.Sprintf(":%d", podPort), "remote")
	if err != nil {
		t.Fatalf("echo server in the remote pod: %v", err)
	}
	t.Cleanup(stop)

	// The tests write load-balancer addresses themselves.
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"servicelb"}})
	cs := srv.Clientset(t)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	e := &env{t: t, node: node, cs: cs, ctx: ctx}
	e.startProxy()
	t.Cleanup(func() { e.stopProxy() })
	return e
}

// startProxy runs a proxier on a fresh informer factory until stopProxy.
func (e *env) startProxy() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	e.mu.Lock()
	before := len(e.syncs)
	e.mu.Unlock()
	factory := informers.NewSharedInformerFactory(e.cs, 0)
	nodeAddrs := []netip.Addr{e.node.NodeAddr()}
	if e.anyLocalAddress {
		nodeAddrs = nil
	}
	p, err := proxy.New(factory, proxy.Config{
		NodeName:      nodeName,
		NodeAddresses: nodeAddrs,
		ClusterCIDR:   netip.MustParsePrefix(nettest.ClusterCIDR),
		ServiceCIDR:   netip.MustParsePrefix("10.43.0.0/16"),
		NetNSPath:     e.node.NS.Path,
		OnSync: func(r proxy.SyncResult) {
			e.mu.Lock()
			e.syncs = append(e.syncs, r)
			e.mu.Unlock()
		},
	})
	if err != nil {
		e.t.Fatalf("new proxier: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	e.stopProxy = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("proxier: %v", err)
		}
		e.stopProxy = func() {}
	}
	e.waitFullSync(before)
}

// waitFullSync waits for a full sync after the first `after` syncs; a
// failed sync fails the test.
func (e *env) waitFullSync(after int) {
	e.t.Helper()
	testserver.Eventually(e.t, 30*time.Second, "proxier full sync", func() (bool, string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, r := range e.syncs[after:] {
			if r.Err != nil {
				e.t.Fatalf("sync failed: %v", r.Err)
			}
			if r.Full {
				return true, ""
			}
		}
		return false, "no full sync yet"
	})
}

// svc creates a Service without selector (its EndpointSlice is ours).
func (e *env) svc(name string, mutate func(*corev1.Service)) *corev1.Service {
	e.t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(podPort),
		}}},
	}
	if mutate != nil {
		mutate(s)
	}
	out, err := e.cs.CoreV1().Services(testNS).Create(e.ctx, s, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create service %s: %v", name, err)
	}
	return out
}

// ep is one endpoint of an EndpointSlice.
type ep struct {
	ip, node                    string
	ready, serving, terminating bool
}

func ready(ip, node string) ep { return ep{ip: ip, node: node, ready: true, serving: true} }

// endpoints writes the Service's EndpointSlice.
func (e *env) endpoints(svc string, eps ...ep) {
	e.t.Helper()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc + "-slice", Namespace: testNS, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "proxy-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](podPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, x := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{x.ip}, NodeName: ptr.To(x.node),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(x.ready), Serving: ptr.To(x.serving), Terminating: ptr.To(x.terminating)},
		})
	}
	slices := e.cs.DiscoveryV1().EndpointSlices(testNS)
	old, err := slices.Get(e.ctx, s.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(e.ctx, s, metav1.CreateOptions{})
	case err == nil:
		s.ResourceVersion = old.ResourceVersion
		_, err = slices.Update(e.ctx, s, metav1.UpdateOptions{})
	}
	if err != nil {
		e.t.Fatalf("write endpoints of %s: %v", svc, err)
	}
}

// answers asks addr n times from ns and counts the answering backends;
// the first failure is returned.
func answers(ns *nettest.NS, addr string, n int) (map[string]int, string, error) {
	got := map[string]int{}
	seen := ""
	for range n {
		name, from, err := nettest.Ask(ns, addr, 2*time.Second)
		if err != nil {
			return got, seen, err
		}
		got[name]++
		seen = from
	}
	return got, seen, nil
}

// eventuallyOnly waits until n consecutive requests from ns to addr are
// all answered by one of want; it returns the client address the last
// answer saw.
func (e *env) eventuallyOnly(what string, ns *nettest.NS, addr string, n int, want ...string) string {
	e.t.Helper()
	var seen string
	testserver.Eventually(e.t, 20*time.Second, what, func() (bool, string) {
		got, from, err := answers(ns, addr, n)
		if err != nil {
			return false, err.Error()
		}
		for name := range got {
			if !contains(want, name) {
				return false, fmt.Sprintf("answers %v", got)
			}
		}
		seen = from
		return true, ""
	})
	return seen
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hostPort(ip string, port int32) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }

func ipOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// kernel lists our table's chain names and the keys of a map or set.
func (e *env) kernel(set string) (chains []string, keys [][]byte) {
	e.t.Helper()
	f, err := os.Open(e.node.NS.Path)
	if err != nil {
		e.t.Fatalf("open node namespace: %v", err)
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		e.t.Fatalf("nftables: %v", err)
	}
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		e.t.Fatalf("list chains: %v", err)
	}
	for _, ch := range all {
		if ch.Table.Name == "flotilla" {
			chains = append(chains, ch.Name)
		}
	}
	s, err := c.GetSetByName(&nftables.Table{Name: "flotilla", Family: nftables.TableFamilyIPv4}, set)
	if err != nil {
		e.t.Fatalf("set %s: %v", set, err)
	}
	els, err := c.GetSetElements(s)
	if err != nil {
		e.t.Fatalf("elements of %s: %v", set, err)
	}
	for _, el := range els {
		keys = append(keys, el.Key)
	}
	return chains, keys
}

// traces reports the chains naming the Service and the @service-ips and
// @cluster-ips elements holding its ClusterIP.
func (e *env) traces(name, clusterIP string) []string {
	e.t.Helper()
	var out []string
	ip := netip.MustParseAddr(clusterIP).As4()
	for _, set := range []string{"service-ips", "cluster-ips", "no-endpoint-services"} {
		chains, keys := e.kernel(set)
		for _, k := range keys {
			if len(k) >= 4 && [4]byte(k[:4]) == ip {
				out = append(out, set+" element for "+clusterIP)
			}
		}
		if set == "service-ips" {
			for _, c := range chains {
				if strings.Contains(c, "-"+testNS+"/"+name+"/") {
					out = append(out, "chain "+c)
				}
			}
		}
	}
	return out
}

// refused asserts that connecting to addr fails at once with "connection
// refused" (a TCP reset or ICMP port unreachable), not a timeout.
func refused(t *testing.T, ns *nettest.NS, addr string) (bool, string) {
	t.Helper()
	t0 := time.Now()
	c, err := ns.Dial("tcp4", addr, 5*time.Second)
	took := time.Since(t0)
	if err == nil {
		_ = c.Close()
		return false, "connected"
	}
	var errno interface{ Timeout() bool }
	if errors.As(err, &errno) && errno.Timeout() {
		return false, fmt.Sprintf("timed out after %v: %v", took, err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return false, err.Error()
	}
	if took > time.Second {
		return false, fmt.Sprintf("refused only after %v", took)
	}
	return true, ""
}
