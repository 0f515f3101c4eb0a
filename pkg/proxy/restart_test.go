package proxy_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/pkg/proxy"
	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
)

// TestRestartKeepsTrafficAndReconcilesLeftovers stops the proxier (pods'
// traffic keeps flowing), changes the API and tampers with the table while
// it is down, and starts a new one: its first sync removes what is not
// wanted and restores what was changed, without a failed connection.
func TestRestartKeepsTrafficAndReconcilesLeftovers(t *testing.T) {
	e := newEnv(t, 2)
	client := e.node.Client
	keep := e.svc("keep", nil)
	e.endpoints("keep", ready(nettest.PodIP(0), nodeName))
	gone := e.svc("gone", nil)
	e.endpoints("gone", ready(nettest.PodIP(1), nodeName))
	keepAddr := hostPort(keep.Spec.ClusterIP, 80)
	e.eventuallyOnly("keep answers", client, keepAddr, 1, "pod0")
	e.eventuallyOnly("gone answers", client, hostPort(gone.Spec.ClusterIP, 80), 1, "pod1")

	// Connections to keep, one after another, for the whole test.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if name, _, err := nettest.Ask(client, keepAddr, 2*time.Second); err != nil || name != "pod0" {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("%q %v", name, err))
			} else {
				ok.Add(1)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	waitOK := func(what string, more int64) {
		t.Helper()
		want := ok.Load() + more
		deadline := time.Now().Add(20 * time.Second)
		for ok.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d connections succeeded", what, ok.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	e.stopProxy()
	waitOK("traffic with the proxier stopped", 50)

	// While it is down: a Service goes, and the table collects leftovers
	// of an older run: a stale service chain and the map element leading
	// to it, a stale affinity set, and a base chain at another priority.
	if err := e.cs.CoreV1().Services(testNS).Delete(e.ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	const staleChain = "service-STALE000-" + testNS + "/stale/tcp/http"
	const staleSet = "affinity-STALE000-" + testNS + "/stale/tcp/http__10.244.0.99/80"
	tamper(t, e.node.NS, staleChain, staleSet)
	if chains, _ := e.kernel("service-ips"); !slices.Contains(chains, staleChain) {
		t.Fatalf("tampering did not take: chains %v", chains)
	}
	waitOK("traffic with a tampered table", 20)

	e.startProxy() // returns after the new proxier's first full sync
	waitOK("traffic after the restart", 50)
	chains, keys := e.kernel("service-ips")
	if slices.Contains(chains, staleChain) {
		t.Errorf("the stale chain %s survived the restart", staleChain)
	}
	for _, k := range keys {
		if len(k) >= 4 && k[0] == 10 && k[1] == 43 && k[2] == 255 && k[3] == 254 {
			t.Errorf("the stale @service-ips element for 10.43.255.254 survived")
		}
	}
	if tr := e.traces("gone", gone.Spec.ClusterIP); len(tr) > 0 {
		t.Errorf("the Service deleted while the proxier was down left %v", tr)
	}
	if prio := basePriority(t, e.node.NS, "nat-prerouting"); prio != -100 {
		t.Errorf("nat-prerouting priority %d after the restart, want -100", prio)
	}
	if sets := setNames(t, e.node.NS); slices.Contains(sets, staleSet) {
		t.Errorf("the stale affinity set survived: %v", sets)
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d connections failed across stop, tampering and restart; first: %v", n, n+ok.Load(), firstErr.Load())
	}
}

func nftIn(t *testing.T, ns *nettest.NS) (*nftables.Conn, *nftables.Table, func()) {
	t.Helper()
	f, err := os.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	return c, &nftables.Table{Name: "flotilla", Family: nftables.TableFamilyIPv4}, func() { f.Close() }
}

// tamper leaves what an older run might have: a service chain nothing
// wants, reached through @service-ips from 10.43.255.254:80, an affinity
// set, and nat-prerouting at priority -99 (still jumping to services, so
// traffic keeps working).
func tamper(t *testing.T, ns *nettest.NS, chain, set string) {
	t.Helper()
	c, table, done := nftIn(t, ns)
	defer done()
	stale := c.AddChain(&nftables.Chain{Name: chain, Table: table})
	c.AddRule(&nftables.Rule{Table: table, Chain: stale, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}})
	svcIPs := &nftables.Set{Table: table, Name: "service-ips", IsMap: true}
	key := make([]byte, 12)
	copy(key, []byte{10, 43, 255, 254})
	key[4], key[9] = 6, 80
	if err := c.SetAddElements(svcIPs, []nftables.SetElement{{Key: key, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddSet(&nftables.Set{Table: table, Name: set, KeyType: nftables.TypeIPAddr, HasTimeout: true, Timeout: time.Minute, Dynamic: true}, nil); err != nil {
		t.Fatal(err)
	}
	pre := &nftables.Chain{Name: "nat-prerouting", Table: table}
	c.FlushChain(pre)
	c.DelChain(pre)
	prio := nftables.ChainPriority(-99)
	pre = c.AddChain(&nftables.Chain{Name: "nat-prerouting", Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: &prio})
	c.AddRule(&nftables.Rule{Table: table, Chain: pre, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: "services"}}})
	if err := c.Flush(); err != nil {
		t.Fatalf("tamper with the table: %v", err)
	}
}

func basePriority(t *testing.T, ns *nettest.NS, name string) int32 {
	t.Helper()
	c, table, done := nftIn(t, ns)
	defer done()
	ch, err := c.ListChain(table, name)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Priority == nil {
		t.Fatalf("%s is not a base chain", name)
	}
	return int32(*ch.Priority)
}

func setNames(t *testing.T, ns *nettest.NS) []string {
	t.Helper()
	c, table, done := nftIn(t, ns)
	defer done()
	sets, err := c.GetSets(table)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range sets {
		out = append(out, s.Name)
	}
	return out
}

// TestBadInputAndCleanup: Services the API refuses (upstream's 422
// messages) leave nothing in the kernel; Cleanup removes the table.
func TestBadInputAndCleanup(t *testing.T) {
	e := newEnv(t, 1)
	taken := e.svc("taken", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })
	bad := []struct {
		name, want string
		mutate     func(*corev1.Service)
	}{
		{"bad-port", "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
			func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }},
		{"bad-target", "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
			func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) }},
		{"bad-nodeport", "provided port is not in the valid range. The range of valid ports is 30000-32767",
			func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 20000 }},
		{"taken-nodeport", "provided port is already allocated",
			func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = taken.Spec.Ports[0].NodePort
			}},
		{"taken-ip", "provided IP is already allocated",
			func(s *corev1.Service) { s.Spec.ClusterIP = taken.Spec.ClusterIP }},
		{"bad-ip", "is not in the valid range",
			func(s *corev1.Service) { s.Spec.ClusterIP = "10.99.0.1" }},
	}
	for _, b := range bad {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: b.name, Namespace: testNS},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
				Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(podPort),
			}}},
		}
		b.mutate(s)
		_, err := e.cs.CoreV1().Services(testNS).Create(e.ctx, s, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: got %v, want a 422 saying %q", b.name, err, b.want)
		}
	}
	// A valid Service created after them is programmed: the proxier has
	// seen everything before it, and none of the refused ones is there.
	after := e.svc("after", nil)
	e.endpoints("after", ready(nettest.PodIP(0), nodeName))
	e.eventuallyOnly("after answers", e.node.Client, hostPort(after.Spec.ClusterIP, 80), 1, "pod0")
	chains, _ := e.kernel("service-ips")
	for _, c := range chains {
		for _, b := range bad {
			if strings.Contains(c, "/"+b.name+"/") {
				t.Errorf("refused Service %s has chain %s", b.name, c)
			}
		}
	}

	e.stopProxy()
	if err := proxy.Cleanup(e.node.NS.Path); err != nil {
		t.Fatal(err)
	}
	c, _, done := nftIn(t, e.node.NS)
	defer done()
	if _, err := c.ListTableOfFamily("flotilla", nftables.TableFamilyIPv4); err == nil {
		t.Fatal("table ip flotilla still exists after Cleanup")
	}
	if err := proxy.Cleanup(e.node.NS.Path); err != nil {
		t.Fatalf("a second Cleanup: %v", err)
	}
}
