package podnet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/agent/podnet"
	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// host is one "machine" of the test: a namespace with a pod bridge and
// one pod namespace on it.
type host struct {
	name    string
	ns, pod *nettest.NS
	ip      string // node address
	podCIDR string
	podIP   string
}

// world is three hosts and a router, each its own network namespace:
// a and b share the subnet 10.251.0.0/24 (a bridge in the router), c is
// on 10.252.0.0/24 behind the router, which also holds 203.0.113.1, an
// address outside the cluster.
type world struct {
	router  *nettest.NS
	hosts   map[string]*host
	cleanup []*nettest.NS
}

const outsideIP = "203.0.113.1"

func newWorld(t *testing.T) *world {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates network namespaces, VXLAN devices and routes")
	}
	w := &world{hosts: map[string]*host{}}
	t.Cleanup(func() {
		for _, ns := range w.cleanup {
			if err := ns.Delete(); err != nil {
				t.Error(err)
			}
		}
	})
	mk := func(prefix string) *nettest.NS {
		ns, err := nettest.NewNS(prefix)
		if err != nil {
			t.Fatal(err)
		}
		w.cleanup = append(w.cleanup, ns)
		return ns
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	w.router = mk("pn-router")
	must(w.router.Sysctl("net.ipv4.ip_forward", "1"))
	must(w.router.IP("link", "add", "lan", "type", "bridge"))
	must(w.router.IP("addr", "add", "10.251.0.254/24", "dev", "lan"))
	must(w.router.IP("link", "set", "lan", "up"))
	must(w.router.IP("addr", "add", outsideIP+"/32", "dev", "lo"))
	for i, name := range []string{"a", "b", "c"} {
		h := &host{name: name, ns: mk("pn-" + name), pod: mk("pn-pod" + name),
			podCIDR: fmt.Sprintf("10.42.%d.0/24", i+1), podIP: fmt.Sprintf("10.42.%d.10", i+1)}
		gw := fmt.Sprintf("10.42.%d.1", i+1)
		if name == "c" {
			h.ip = "10.252.0.3"
			must(nettest.Veth(w.router, "to-c", "10.252.0.254/24", h.ns, "eth0", h.ip+"/24"))
			must(h.ns.IP("route", "add", "default", "via", "10.252.0.254"))
		} else {
			h.ip = fmt.Sprintf("10.251.0.%d", i+1)
			must(nettest.Veth(w.router, "to-"+name, "", h.ns, "eth0", h.ip+"/24"))
			must(w.router.IP("link", "set", "to-"+name, "master", "lan"))
			must(h.ns.IP("route", "add", "default", "via", "10.251.0.254"))
		}
		must(h.ns.Sysctl("net.ipv4.ip_forward", "1"))
		must(h.ns.IP("link", "add", "flotilla0", "type", "bridge"))
		must(h.ns.IP("addr", "add", gw+"/24", "dev", "flotilla0"))
		must(h.ns.IP("link", "set", "flotilla0", "up"))
		must(nettest.Veth(h.ns, "vpod", "", h.pod, "eth0", h.podIP+"/24"))
		must(h.ns.IP("link", "set", "vpod", "master", "flotilla0"))
		must(h.pod.IP("route", "add", "default", "via", gw))
		w.hosts[name] = h
	}
	return w
}

// agent runs one host's controller until stop is called.
type agent struct {
	stop func()
}

func runController(t *testing.T, cs kubernetes.Interface, h *host, backend podnet.Backend, direct bool) *agent {
	t.Helper()
	factory := informers.NewSharedInformerFactory(cs, 0)
	c, err := podnet.New(factory, podnet.Config{
		NodeName: h.name, NodeIP: netip.MustParseAddr(h.ip), PodCIDR: netip.MustParsePrefix(h.podCIDR),
		ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.43.0.0/16"),
		Backend: backend, DirectRouting: direct, Client: cs, NetNSPath: h.ns.Path,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("host", h.name),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Run(ctx); err != nil {
			t.Errorf("controller of %s: %v", h.name, err)
		}
	}()
	a := &agent{stop: func() { cancel(); factory.Shutdown(); wg.Wait() }}
	t.Cleanup(a.stop)
	return a
}

func createNode(t *testing.T, cs kubernetes.Interface, h *host) {
	t.Helper()
	ctx := context.Background()
	n, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: h.name}, Spec: corev1.NodeSpec{PodCIDR: h.podCIDR}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: h.ip}, {Type: corev1.NodeHostName, Address: h.name}}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// ipOut runs `ip args...` in ns.
func ipOut(t *testing.T, ns *nettest.NS, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitRoutes waits until the host's routes with our protocol are exactly
// want (lines as `ip route` prints them, without "proto 70").
func waitRoutes(t *testing.T, h *host, want ...string) {
	t.Helper()
	testserver.Eventually(t, 30*time.Second, "routes of "+h.name, func() (bool, string) {
		out := ipOut(t, h.ns, "route", "show", "proto", "70")
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l = strings.Join(strings.Fields(l), " "); l != "" {
				got = append(got, l)
			}
		}
		if len(got) != len(want) {
			return false, out
		}
		for i := range want {
			if got[i] != want[i] {
				return false, out
			}
		}
		return true, out
	})
}

// talk connects from one pod to an echo server and returns the client
// address the server saw.
func talk(t *testing.T, from *nettest.NS, to string) string {
	t.Helper()
	var last error
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, seen, err := nettest.Ask(from, to, 2*time.Second)
		if err == nil {
			host, _, _ := strings.Cut(seen, ":")
			return host
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s -> %s: %v", from.Name, to, last)
	return ""
}

func TestPodNetworkAcrossHosts(t *testing.T) {
	w := newWorld(t)
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"nodeipam", "nodelifecycle"}})
	cs := srv.Clientset(t)
	a, b, c := w.hosts["a"], w.hosts["b"], w.hosts["c"]
	for _, h := range []*host{a, b, c} {
		createNode(t, cs, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, h := range []*host{a, b, c} {
		for _, ns := range []*nettest.NS{h.pod} {
			stop, err := nettest.EchoServer(ctx, ns, h.podIP+":8080", "pod-"+h.name)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
		}
	}
	stop, err := nettest.EchoServer(ctx, w.router, outsideIP+":8080", "outside")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	// A route with our protocol that no Node wants, and someone else's
	// route, both there before the first run: the first goes, the
	// second stays.
	ipOut(t, a.ns, "route", "add", "10.42.99.0/24", "via", b.ip, "proto", "70")
	ipOut(t, a.ns, "route", "add", "10.42.98.0/24", "via", b.ip, "proto", "static")

	t.Run("vxlan with direct routing", func(t *testing.T) {
		var agents []*agent
		for _, h := range []*host{a, b, c} {
			agents = append(agents, runController(t, cs, h, podnet.BackendVXLAN, true))
		}
		// a and b share a subnet: direct; c is behind the router: VXLAN.
		waitRoutes(t, a, "10.42.2.0/24 via 10.251.0.2 dev eth0", "10.42.3.0/24 via 10.42.3.0 dev flotilla.1 onlink")
		waitRoutes(t, b, "10.42.1.0/24 via 10.251.0.1 dev eth0", "10.42.3.0/24 via 10.42.3.0 dev flotilla.1 onlink")
		waitRoutes(t, c, "10.42.1.0/24 via 10.42.1.0 dev flotilla.1 onlink", "10.42.2.0/24 via 10.42.2.0 dev flotilla.1 onlink")
		if out := ipOut(t, a.ns, "route", "show", "10.42.98.0/24"); !strings.Contains(out, "10.42.98.0/24 via") {
			t.Errorf("someone else's route went: %q", out)
		}
		// The VTEP MACs are announced, and c's entries point at them.
		nodeC, err := cs.CoreV1().Nodes().Get(ctx, "c", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		macA := annotation(t, cs, "a")
		macB := annotation(t, cs, "b")
		if nodeC.Annotations[podnet.AnnotationVTEPMAC] == "" {
			t.Fatalf("c announces no VTEP MAC: %v", nodeC.Annotations)
		}
		fdb := ipOutCmd(t, c.ns, "bridge", "fdb", "show", "dev", "flotilla.1")
		for _, want := range []string{macA + " dst 10.251.0.1 self permanent", macB + " dst 10.251.0.2 self permanent"} {
			if !strings.Contains(fdb, want) {
				t.Errorf("fdb of c lacks %q:\n%s", want, fdb)
			}
		}
		neigh := ipOut(t, c.ns, "neigh", "show", "dev", "flotilla.1")
		for _, want := range []string{"10.42.1.0 lladdr " + macA + " PERMANENT", "10.42.2.0 lladdr " + macB + " PERMANENT"} {
			if !strings.Contains(neigh, want) {
				t.Errorf("neighbours of c lack %q:\n%s", want, neigh)
			}
		}
		if dev := ipOut(t, a.ns, "-d", "link", "show", "flotilla.1"); !strings.Contains(dev, "vxlan id 1 local 10.251.0.1 dev eth0") || !strings.Contains(dev, "dstport 8472") || !strings.Contains(dev, "mtu 1450") || !strings.Contains(dev, "nolearning") {
			t.Errorf("VXLAN device of a:\n%s", dev)
		}

		// Pod to pod keeps the pod's address, directly and through the
		// overlay, both ways.
		for _, p := range [][2]*host{{a, b}, {a, c}, {c, a}, {c, b}, {b, c}} {
			if seen := talk(t, p[0].pod, p[1].podIP+":8080"); seen != p[0].podIP {
				t.Errorf("pod %s -> pod %s seen from %s, want the pod's own address %s", p[0].name, p[1].name, seen, p[0].podIP)
			}
		}
		// The node itself reaches a remote pod (from its overlay address).
		if seen := talk(t, a.ns, c.podIP+":8080"); seen != "10.42.1.0" {
			t.Errorf("node a -> pod c seen from %s, want a's overlay address 10.42.1.0", seen)
		}
		// Leaving the cluster: masqueraded to the node's address.
		for _, h := range []*host{a, c} {
			if seen := talk(t, h.pod, outsideIP+":8080"); seen != h.ip {
				t.Errorf("pod %s -> outside seen from %s, want the node address %s", h.name, seen, h.ip)
			}
		}

		// A node deleted while a's controller is down: its route and
		// entries go when the controller starts again.
		agents[0].stop()
		if err := cs.CoreV1().Nodes().Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRoutes(t, b, "10.42.1.0/24 via 10.251.0.1 dev eth0")
		if out := ipOut(t, a.ns, "route", "show", "proto", "70"); !strings.Contains(out, "10.42.3.0/24") {
			t.Fatalf("a's route to c went while its controller was stopped: %s", out)
		}
		agents[0] = runController(t, cs, a, podnet.BackendVXLAN, true)
		waitRoutes(t, a, "10.42.2.0/24 via 10.251.0.2 dev eth0")
		testserver.Eventually(t, 10*time.Second, "c's entries on a", func() (bool, string) {
			fdb := ipOutCmd(t, a.ns, "bridge", "fdb", "show", "dev", "flotilla.1")
			neigh := ipOut(t, a.ns, "neigh", "show", "dev", "flotilla.1")
			return !strings.Contains(fdb, "10.252.0.3") && !strings.Contains(neigh, "10.42.3.0"), fdb + neigh
		})
		for _, ag := range agents {
			ag.stop()
		}
		createNode(t, cs, c)
	})

	t.Run("vxlan everywhere", func(t *testing.T) {
		var agents []*agent
		for _, h := range []*host{a, b, c} {
			agents = append(agents, runController(t, cs, h, podnet.BackendVXLAN, false))
		}
		aRoutes := []string{"10.42.2.0/24 via 10.42.2.0 dev flotilla.1 onlink", "10.42.3.0/24 via 10.42.3.0 dev flotilla.1 onlink"}
		waitRoutes(t, a, aRoutes...)
		waitRoutes(t, b, "10.42.1.0/24 via 10.42.1.0 dev flotilla.1 onlink", "10.42.3.0/24 via 10.42.3.0 dev flotilla.1 onlink")
		for _, p := range [][2]*host{{a, b}, {b, a}, {a, c}} {
			if seen := talk(t, p[0].pod, p[1].podIP+":8080"); seen != p[0].podIP {
				t.Errorf("pod %s -> pod %s seen from %s, want %s", p[0].name, p[1].name, seen, p[0].podIP)
			}
		}

		// An agent on a loopback address sharing a's namespace (a test's
		// extra node) leaves a's routes, entries and device alone. Its
		// sync is over once it has withdrawn its node's VTEP MAC.
		for _, ag := range agents {
			ag.stop()
		}
		fdbBefore := ipOutCmd(t, a.ns, "bridge", "fdb", "show", "dev", "flotilla.1")
		extra := &host{name: "extra", ns: a.ns, ip: "127.0.0.1", podCIDR: "10.42.50.0/24"}
		createNode(t, cs, extra)
		if _, err := cs.CoreV1().Nodes().Patch(ctx, "extra", types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+podnet.AnnotationVTEPMAC+`":"02:00:00:00:00:01"}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		runController(t, cs, extra, podnet.BackendVXLAN, false)
		testserver.Eventually(t, 10*time.Second, "the loopback agent's sync", func() (bool, string) {
			mac := annotation(t, cs, "extra")
			return mac == "", mac
		})
		waitRoutes(t, a, aRoutes...)
		if fdb := ipOutCmd(t, a.ns, "bridge", "fdb", "show", "dev", "flotilla.1"); fdb != fdbBefore {
			t.Errorf("the loopback agent changed a's forwarding entries:\n%s\nwas\n%s", fdb, fdbBefore)
		}
		if err := cs.CoreV1().Nodes().Delete(ctx, "extra", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("host-gw", func(t *testing.T) {
		for _, h := range []*host{a, b, c} {
			runController(t, cs, h, podnet.BackendHostGW, false)
		}
		// c is on no subnet a or b is connected to: no route there.
		waitRoutes(t, a, "10.42.2.0/24 via 10.251.0.2 dev eth0")
		waitRoutes(t, c)
		testserver.Eventually(t, 10*time.Second, "VXLAN device gone and MAC withdrawn", func() (bool, string) {
			out, _ := exec.Command("ip", "-n", a.ns.Name, "link", "show", "flotilla.1").CombinedOutput()
			mac := annotation(t, cs, "a")
			return strings.Contains(string(out), "does not exist") && mac == "", string(out) + " mac=" + mac
		})
		if seen := talk(t, b.pod, a.podIP+":8080"); seen != b.podIP {
			t.Errorf("pod b -> pod a seen from %s, want %s", seen, b.podIP)
		}
		if seen := talk(t, b.pod, outsideIP+":8080"); seen != b.ip {
			t.Errorf("pod b -> outside seen from %s, want %s", seen, b.ip)
		}
	})
	if out := ipOut(t, a.ns, "route", "show", "10.42.99.0/24"); strings.TrimSpace(out) != "" {
		t.Errorf("the stale route with our protocol is still there: %q", out)
	}
}

func annotation(t *testing.T, cs kubernetes.Interface, node string) string {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Annotations[podnet.AnnotationVTEPMAC]
}

// ipOutCmd runs an iproute2 command (bridge, ...) inside ns.
func ipOutCmd(t *testing.T, ns *nettest.NS, args ...string) string {
	t.Helper()
	out, err := ns.Exec(args[0], args[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
