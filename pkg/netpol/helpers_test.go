package netpol_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/netpol"
	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const (
	nodeName = "node-a"
	httpPort = 8080 // the container port named "http" of most test pods
	altPort  = 9090
	udpPort  = 5353
)

// env is a node in a box (pods on a bridge, an outside client, a pod of
// "another node" routed through it) whose pods are Pods of a real API
// server, and a controller programming the node's namespace.
type env struct {
	t    *testing.T
	node *nettest.Node
	cs   kubernetes.Interface
	ctx  context.Context

	mu    sync.Mutex
	syncs []netpol.SyncResult

	stop func()
}

func newEnv(t *testing.T, pods int) *env {
	t.Helper()
	node := nettest.NewTestNode(t, pods)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	serve := func(ns *nettest.NS, name string) {
		for _, port := range []int{httpPort, altPort} {
			stop, err := nettest.EchoServer(ctx, ns, fmt.Sprintf(":%d", port), name)
			if err != nil {
				t.Fatalf("echo server in %s: %v", name, err)
			}
			t.Cleanup(stop)
		}
	}
	for i, pod := range node.Pods {
		serve(pod, fmt.Sprintf("pod%d", i))
		stop, err := udpEcho(ctx, pod, fmt.Sprintf(":%d", udpPort), fmt.Sprintf("pod%d", i))
		if err != nil {
			t.Fatalf("UDP echo server in pod%d: %v", i, err)
		}
		t.Cleanup(stop)
	}
	serve(node.Remote, "remote")
	serve(node.NS, "node")

	srv := testserver.Start(t, testserver.Options{})
	e := &env{t: t, node: node, cs: srv.Clientset(t), ctx: ctx}
	e.start()
	t.Cleanup(func() { e.stop() })
	return e
}

// start runs a controller on a fresh informer factory until stop.
func (e *env) start() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	e.mu.Lock()
	before := len(e.syncs)
	e.mu.Unlock()
	c, err := netpol.New(informers.NewSharedInformerFactory(e.cs, 0), netpol.Config{
		NodeName:  nodeName,
		NetNSPath: e.node.NS.Path,
		OnSync: func(r netpol.SyncResult) {
			e.mu.Lock()
			e.syncs = append(e.syncs, r)
			e.mu.Unlock()
		},
	})
	if err != nil {
		e.t.Fatalf("new controller: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("controller: %v", err)
		}
		e.stop = func() {}
	}
	e.waitSync(before, true)
}

// waitSync waits for a sync (a full one with full) after the first
// `after`, and returns it; a failed sync fails the test.
func (e *env) waitSync(after int, full bool) netpol.SyncResult {
	e.t.Helper()
	var got netpol.SyncResult
	testserver.Eventually(e.t, 30*time.Second, "controller sync", func() (bool, string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, r := range e.syncs[after:] {
			if r.Err != nil {
				e.t.Fatalf("sync failed (does the kernel have nf_tables?): %v", r.Err)
			}
			if r.Full || !full {
				got = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d syncs so far", len(e.syncs))
	})
	return got
}

func (e *env) syncCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.syncs)
}

func (e *env) namespace(name string, lbls map[string]string) {
	e.t.Helper()
	if _, err := e.cs.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create namespace %s: %v", name, err)
	}
	testserver.Settled(e.t, e.cs, name)
}

func (e *env) relabelNamespace(name string, lbls map[string]string) {
	e.t.Helper()
	ns, err := e.cs.CoreV1().Namespaces().Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	ns.Labels = lbls
	ns.Labels[corev1.LabelMetadataName] = name
	if _, err := e.cs.CoreV1().Namespaces().Update(e.ctx, ns, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("relabel namespace %s: %v", name, err)
	}
}

// pod creates a running Pod bound to node whose address is ip: the API's
// view of one of the box's pods. ports are named container ports.
func (e *env) pod(ns, name, node, ip string, lbls map[string]string, ports map[string]int32) {
	e.t.Helper()
	c := corev1.Container{Name: "c", Image: "busybox"}
	for n, p := range ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: n, ContainerPort: p, Protocol: corev1.ProtocolTCP})
	}
	pods := e.cs.CoreV1().Pods(ns)
	p, err := pods.Create(e.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{c}},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: nettest.NodeIP}
	if _, err := pods.UpdateStatus(e.ctx, p, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("pod %s/%s status: %v", ns, name, err)
	}
}

func (e *env) relabelPod(ns, name string, lbls map[string]string) {
	e.t.Helper()
	p, err := e.cs.CoreV1().Pods(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	p.Labels = lbls
	if _, err := e.cs.CoreV1().Pods(ns).Update(e.ctx, p, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("relabel pod %s/%s: %v", ns, name, err)
	}
}

func (e *env) policy(np *networkingv1.NetworkPolicy) {
	e.t.Helper()
	if _, err := e.cs.NetworkingV1().NetworkPolicies(np.Namespace).Create(e.ctx, np, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create policy %s/%s: %v", np.Namespace, np.Name, err)
	}
}

func (e *env) deletePolicy(ns, name string) {
	e.t.Helper()
	if err := e.cs.NetworkingV1().NetworkPolicies(ns).Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatalf("delete policy %s/%s: %v", ns, name, err)
	}
}

// reaches waits until from connects to addr and the echo server there
// answers with its name.
func (e *env) reaches(what string, from *nettest.NS, addr, want string) {
	e.t.Helper()
	testserver.Eventually(e.t, 20*time.Second, what, func() (bool, string) {
		name, _, err := nettest.Ask(from, addr, 2*time.Second)
		if err != nil {
			return false, err.Error()
		}
		return name == want, "answered by " + name
	})
}

// refused waits until connecting from `from` to addr is refused at once
// (the TCP reset of the reject chain), the positive signal of a policy
// denying it.
func (e *env) refused(what string, from *nettest.NS, addr string) {
	e.t.Helper()
	testserver.Eventually(e.t, 20*time.Second, what, func() (bool, string) {
		return refusedNow(from, addr, syscall.ECONNREFUSED)
	})
}

// prohibited waits until connecting fails at once with EHOSTUNREACH: the
// reject chain's ICMP administratively prohibited, which a connection to
// a Service gets.
func (e *env) prohibited(what string, from *nettest.NS, addr string) {
	e.t.Helper()
	testserver.Eventually(e.t, 20*time.Second, what, func() (bool, string) {
		return refusedNow(from, addr, syscall.EHOSTUNREACH)
	})
}

func refusedNow(from *nettest.NS, addr string, want syscall.Errno) (bool, string) {
	t0 := time.Now()
	c, err := from.Dial("tcp4", addr, 5*time.Second)
	took := time.Since(t0)
	if err == nil {
		_ = c.Close()
		return false, "connected"
	}
	if !errors.Is(err, want) {
		return false, fmt.Sprintf("%v after %v", err, took)
	}
	if took > time.Second {
		return false, fmt.Sprintf("refused only after %v", took)
	}
	return true, ""
}

// udpEcho answers every datagram with name.
func udpEcho(ctx context.Context, ns *nettest.NS, addr, name string) (stop func(), err error) {
	pc, err := ns.ListenPacket("udp4", addr)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 512)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(name), from)
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		_ = pc.Close()
	}()
	return func() { cancel(); wg.Wait() }, nil
}

// askUDP sends a datagram from `from` to addr and returns the answer.
func askUDP(from *nettest.NS, addr string) (string, error) {
	c, err := from.Dial("udp4", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("?")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }

// objects lists our table's chains and sets (nil, nil without a table).
func (e *env) objects() (chains, sets []string) {
	e.t.Helper()
	f, err := os.Open(e.node.NS.Path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		e.t.Fatal(err)
	}
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		e.t.Fatalf("list chains: %v", err)
	}
	var found bool
	for _, ch := range all {
		if ch.Table.Name == "flotilla-netpol" {
			chains = append(chains, ch.Name)
			found = true
		}
	}
	if !found {
		return nil, nil
	}
	ss, err := c.GetSets(&nftables.Table{Name: "flotilla-netpol", Family: nftables.TableFamilyINet})
	if err != nil {
		e.t.Fatalf("list sets: %v", err)
	}
	for _, s := range ss {
		sets = append(sets, s.Name)
	}
	return chains, sets
}

// policyObjects are the chains and sets that belong to policies or pods.
func (e *env) policyObjects() []string {
	chains, sets := e.objects()
	var out []string
	for _, n := range append(chains, sets...) {
		for _, p := range []string{"pol-", "pod-", "peers-", "ports-"} {
			if strings.HasPrefix(n, p) {
				out = append(out, n)
			}
		}
	}
	return out
}
