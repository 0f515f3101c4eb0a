package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/proxy"
	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
)

// The proxy benchmark: Services programmed into a node namespace (built
// by pkg/proxy/nettest, nothing in the host's own namespace) by Flotilla's
// proxier and, when it builds, by upstream's kube-proxy in nftables mode,
// one after the other on the same API server and the same workload.

const (
	proxyNS       = "proxybench"
	proxyNode     = "node-a"
	proxyPort     = 8080
	proxyChildEnv = "FLOTILLA_BENCH_PROXIER" // kubeconfig; the child runs the proxier
	proxyNetNSEnv = "FLOTILLA_BENCH_PROXIER_NETNS"
)

// proxyPeer is one proxy under test, as the benchmark drives it.
type proxyPeer struct {
	name  string
	table string // its nftables table (family ip)
	// start runs it until the returned stop (pid: the process whose
	// memory is measured).
	start func() (stop func(), pid int, err error)
	// firstSync and fullSync: the duration of its first full sync, and of
	// n more full syncs of a populated table (which fullSync causes).
	firstSync func() (time.Duration, error)
	fullSync  func(n int) ([]time.Duration, error)
}

type proxyFigures struct {
	first       time.Duration
	full        []time.Duration
	change      *latencies
	rss         int64
	direct, svc *latencies
	err         error
}

func benchProxy(bin, kubeProxyBin string, services, perService, changes int) {
	if os.Geteuid() != 0 {
		record("proxy", "not measured: needs root (network namespaces)", "")
		return
	}
	dir, err := os.MkdirTemp("", "flotilla-bench-proxy-")
	check(err)
	defer os.RemoveAll(dir)
	srv := start(bin, dir, "--disable-agent")
	defer srv.stop()
	cs := srv.client()
	ctx := context.Background()

	node, err := nettest.NewNode(1, true)
	check(err)
	defer func() { _ = node.Delete() }()
	// The requests come from the "remote" pod, routed through the node
	// either way, so that the two paths differ only by the Service's
	// rules (a pod on the same bridge reaches a pod IP by bridging alone).
	// Many short connections: a wide port range.
	check(node.Remote.Sysctl("net.ipv4.ip_local_port_range", "10000 65000"))
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopEcho, err := nettest.EchoServer(bctx, node.Pods[0], fmt.Sprintf(":%d", proxyPort), "pod0")
	check(err)
	defer stopEcho()

	fmt.Fprintf(os.Stderr, "  proxy: creating %d Services × %d endpoints\n", services, perService)
	echoIP := createProxyWorkload(ctx, cs, services, perService)

	figs := map[string]*proxyFigures{}
	ours := flotillaPeer(srv.kubeconfig, node)
	figs[ours.name] = measureProxy(ctx, cs, node, ours, echoIP, services, changes)
	check(proxy.Cleanup(node.NS.Path))

	if kubeProxyBin == "none" {
		figs["kube-proxy"] = &proxyFigures{err: fmt.Errorf("skipped (-kube-proxy none)")}
	} else if kp, err := kubeProxyPeer(ctx, cs, kubeProxyBin, dir, srv.kubeconfig, node); err != nil {
		figs["kube-proxy"] = &proxyFigures{err: err}
	} else {
		figs[kp.name] = measureProxy(ctx, cs, node, kp, echoIP, services, changes)
	}
	reportProxy(services, perService, figs[ours.name], figs["kube-proxy"])
}

// createProxyWorkload writes the Services and their EndpointSlices (the
// endpoints need not exist: only the rules are timed), and one Service
// "echo" whose endpoint is pod0's echo server; it returns echo's
// ClusterIP.
func createProxyWorkload(ctx context.Context, cs kubernetes.Interface, services, perService int) string {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: proxyNS}}, metav1.CreateOptions{})
	check(err)
	parallel(services, 32, func(i int) time.Duration {
		name := fmt.Sprintf("svc-%d", i)
		createSvcWithEndpoints(ctx, cs, name, endpointIPs(i, perService))
		return 0
	})
	return createSvcWithEndpoints(ctx, cs, "echo", []string{nettest.PodIP(0)})
}

func createSvcWithEndpoints(ctx context.Context, cs kubernetes.Interface, name string, ips []string) string {
	svc, err := cs.CoreV1().Services(proxyNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(proxyPort),
		}}},
	}, metav1.CreateOptions{})
	check(err)
	_, err = cs.DiscoveryV1().EndpointSlices(proxyNS).Create(ctx, benchSlice(name, ips), metav1.CreateOptions{})
	check(err)
	return svc.Spec.ClusterIP
}

func benchSlice(svc string, ips []string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "flotilla-bench",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](proxyPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{ip}, NodeName: ptr.To(proxyNode),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		})
	}
	return s
}

// endpointIPs are made-up pod addresses (10.245.0.0/16 and up), unique
// per Service.
func endpointIPs(svc, n int) []string {
	out := make([]string, n)
	for j := range out {
		k := svc*n + j
		out[j] = fmt.Sprintf("10.%d.%d.%d", 245+k/65000, (k%65000)/250, 1+k%250)
	}
	return out
}

// endpointChain is the chain both proxies name an endpoint's DNAT by
// (upstream's nftables naming, which Flotilla's follows).
func endpointChain(svc, ip string) string {
	base := fmt.Sprintf("%s/%s/tcp/http__%s/%d", proxyNS, svc, ip, proxyPort)
	sum := sha256.Sum256([]byte(base))
	return "endpoint-" + base32.StdEncoding.EncodeToString(sum[:])[:8] + "-" + base
}

func measureProxy(ctx context.Context, cs kubernetes.Interface, node *nettest.Node, p *proxyPeer, echoIP string, services, changes int) *proxyFigures {
	f := &proxyFigures{}
	fmt.Fprintf(os.Stderr, "  proxy: %s\n", p.name)
	stop, pid, err := p.start()
	if err != nil {
		return &proxyFigures{err: err}
	}
	defer stop()
	if f.first, err = p.firstSync(); err != nil {
		return &proxyFigures{err: err}
	}
	if f.change, err = changeLatency(ctx, cs, node, p.table, services, changes); err != nil {
		return &proxyFigures{err: err}
	}
	if f.full, err = p.fullSync(3); err != nil {
		return &proxyFigures{err: err}
	}
	f.rss = rss(pid)
	svcAddr := net.JoinHostPort(echoIP, "80")
	if _, _, err := nettest.Ask(node.Remote, svcAddr, 5*time.Second); err != nil {
		return &proxyFigures{err: fmt.Errorf("echo Service through %s: %w", p.name, err)}
	}
	direct := net.JoinHostPort(nettest.PodIP(0), fmt.Sprint(proxyPort))
	// Interleaved rounds, so that the load of whatever else runs on the
	// machine hits both paths alike.
	const rounds = 5
	f.direct, f.svc = &latencies{}, &latencies{}
	for range rounds {
		for _, x := range []struct {
			addr string
			into *latencies
		}{{direct, f.direct}, {svcAddr, f.svc}} {
			l := connectLoad(node.Remote, x.addr, 8, 2*time.Second)
			x.into.d = append(x.into.d, l.d...)
			x.into.rate += l.rate / rounds
		}
	}
	return f
}

// changeSeq numbers the endpoint addresses changeLatency writes.
var changeSeq int

// changeLatency replaces one endpoint of a random Service at a time and
// times from the API write to its DNAT chain existing in the kernel.
func changeLatency(ctx context.Context, cs kubernetes.Interface, node *nettest.Node, table string, services, n int) (*latencies, error) {
	f, err := os.Open(node.NS.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	nft, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())), nftables.AsLasting())
	if err != nil {
		return nil, err
	}
	defer nft.CloseLasting()
	tbl := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	l := &latencies{}
	for i := range n {
		svc := fmt.Sprintf("svc-%d", (i*7919)%services)
		slice, err := cs.DiscoveryV1().EndpointSlices(proxyNS).Get(ctx, svc, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		// A new address each time, across proxies too: the next proxy
		// starts from the slices the previous one saw changed.
		changeSeq++
		ip := fmt.Sprintf("10.250.%d.%d", changeSeq/250, 1+changeSeq%250)
		slice.Endpoints[0].Addresses = []string{ip}
		chain := endpointChain(svc, ip)
		t0 := time.Now()
		if _, err := cs.DiscoveryV1().EndpointSlices(proxyNS).Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			return nil, err
		}
		for {
			if _, err := nft.ListChain(tbl, chain); err == nil {
				break
			}
			if time.Since(t0) > 30*time.Second {
				return nil, fmt.Errorf("chain %s not in table %s after 30 s", chain, table)
			}
			time.Sleep(100 * time.Microsecond)
		}
		l.d = append(l.d, time.Since(t0))
		time.Sleep(200 * time.Millisecond) // past both proxies' minimum sync interval
	}
	return l, nil
}

// connectLoad opens, reads and closes connections to addr from ns with
// the given workers for d: each sample is one whole request.
func connectLoad(ns *nettest.NS, addr string, workers int, d time.Duration) *latencies {
	out := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	t0 := time.Now()
	buf := make([][]byte, workers)
	for w := range workers {
		buf[w] = make([]byte, 128)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The whole loop runs on one thread inside the namespace, so
			// dialing costs no namespace switch.
			_ = ns.Do(func() error {
				for time.Now().Before(deadline) {
					s := time.Now()
					c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
					if err != nil {
						continue
					}
					_, err = io.ReadFull(bufio.NewReader(c), buf[w][:5])
					_ = c.Close()
					if err == nil {
						out[w] = append(out[w], time.Since(s))
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	l := &latencies{}
	for _, o := range out {
		l.d = append(l.d, o...)
	}
	l.rate = float64(len(l.d)) / time.Since(t0).Seconds()
	return l
}

func reportProxy(services, perService int, ours, theirs *proxyFigures) {
	peer := func(f func(*proxyFigures) string) string {
		if theirs == nil || theirs.err != nil {
			msg := "not measured"
			if theirs != nil {
				msg += ": " + theirs.err.Error()
			}
			return " (kube-proxy " + msg + ")"
		}
		return " (kube-proxy nftables " + f(theirs) + ")"
	}
	label := fmt.Sprintf("proxy, %d Services × %d endpoints: endpoint change → rule in kernel p50 / p99", services, perService)
	if ours.err != nil {
		record(label, "failed: "+ours.err.Error(), "")
		return
	}
	change := func(f *proxyFigures) string { return ms(f.change.p(50)) + " / " + ms(f.change.p(99)) }
	record(label, change(ours)+peer(change), "")
	full := func(f *proxyFigures) string {
		s := slices.Clone(f.full)
		slices.Sort(s)
		return ms(s[len(s)/2])
	}
	record("  full resync of the programmed set (median of 3)", full(ours)+peer(full), "")
	first := func(f *proxyFigures) string { return ms(f.first) }
	record("  first sync into an empty table", first(ours)+peer(first), "")
	mem := func(f *proxyFigures) string { return mib(f.rss) }
	record("  proxy process RSS with the set programmed", mem(ours)+peer(mem), "")
	lat := func(f *proxyFigures) string {
		return fmt.Sprintf("ClusterIP %s / %s, pod IP %s / %s", ms(f.svc.p(50)), ms(f.svc.p(99)), ms(f.direct.p(50)), ms(f.direct.p(99)))
	}
	record("  request (new TCP connection) p50 / p99 @8", lat(ours)+peer(lat), "")
	rate := func(f *proxyFigures) string {
		return fmt.Sprintf("ClusterIP %.0f/s, pod IP %.0f/s (Service path %.1f%% fewer)", f.svc.rate, f.direct.rate, 100*(f.direct.rate-f.svc.rate)/f.direct.rate)
	}
	record("  requests/s @8, from a pod routed via the node either way", rate(ours)+peer(rate), "Service path < 5% slower")
}

// flotillaPeer runs Flotilla's proxier in a child process (this binary
// again), so its memory is measured alone.
func flotillaPeer(kubeconfig string, node *nettest.Node) *proxyPeer {
	var mu sync.Mutex
	var syncs []proxySyncLine
	var child *os.Process
	changed := make(chan struct{}, 1)
	p := &proxyPeer{name: "flotilla", table: "flotilla"}
	p.start = func() (func(), int, error) {
		self, err := os.Executable()
		if err != nil {
			return nil, 0, err
		}
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), proxyChildEnv+"="+kubeconfig, proxyNetNSEnv+"="+node.NS.Path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, 0, err
		}
		if err := cmd.Start(); err != nil {
			return nil, 0, err
		}
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var l proxySyncLine
				if json.Unmarshal(sc.Bytes(), &l) == nil {
					mu.Lock()
					syncs = append(syncs, l)
					mu.Unlock()
					select {
					case changed <- struct{}{}:
					default:
					}
				}
			}
		}()
		child = cmd.Process
		return func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }, cmd.Process.Pid, nil
	}
	// fulls waits for the n-th full sync and returns the durations of all.
	fulls := func(n int) ([]time.Duration, error) {
		deadline := time.After(2 * time.Minute)
		for {
			mu.Lock()
			var got []time.Duration
			for _, s := range syncs {
				if s.Err != "" {
					mu.Unlock()
					return nil, fmt.Errorf("flotilla proxier sync failed: %s", s.Err)
				}
				if s.Full {
					got = append(got, time.Duration(s.Micros)*time.Microsecond)
				}
			}
			mu.Unlock()
			if len(got) >= n {
				return got, nil
			}
			select {
			case <-changed:
			case <-deadline:
				return nil, fmt.Errorf("flotilla proxier: %d full syncs, waited for %d", len(got), n)
			}
		}
	}
	p.firstSync = func() (time.Duration, error) {
		got, err := fulls(1)
		if err != nil {
			return 0, err
		}
		return got[0], nil
	}
	p.fullSync = func(n int) ([]time.Duration, error) {
		var out []time.Duration
		for range n {
			have, err := fulls(0)
			if err != nil {
				return nil, err
			}
			// SIGUSR1 makes the child call Resync.
			if err := child.Signal(syscall.SIGUSR1); err != nil {
				return nil, err
			}
			got, err := fulls(len(have) + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, got[len(have)])
		}
		return out, nil
	}
	return p
}

// proxySyncLine is one sync, as the child reports it on stdout.
type proxySyncLine struct {
	Full     bool   `json:"full"`
	Services int    `json:"services"`
	Messages int    `json:"messages"`
	Micros   int64  `json:"us"`
	Err      string `json:"err,omitempty"`
}

// proxyChild runs Flotilla's proxier on the node namespace until
// interrupted, reporting each sync as a JSON line.
func proxyChild(kubeconfig string) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	check(err)
	cfg.QPS, cfg.Burst = -1, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	check(err)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	enc := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	p, err := proxy.New(informers.NewSharedInformerFactory(cs, 0), proxy.Config{
		NodeName:      proxyNode,
		NodeAddresses: []netip.Addr{netip.MustParseAddr(nettest.NodeIP)},
		ClusterCIDR:   netip.MustParsePrefix(nettest.ClusterCIDR),
		ServiceCIDR:   netip.MustParsePrefix("10.43.0.0/16"),
		NetNSPath:     os.Getenv(proxyNetNSEnv),
		OnSync: func(r proxy.SyncResult) {
			l := proxySyncLine{Full: r.Full, Services: len(r.Services), Messages: r.Messages, Micros: r.Duration.Microseconds()}
			if r.Err != nil {
				l.Err = r.Err.Error()
			}
			mu.Lock()
			_ = enc.Encode(l)
			mu.Unlock()
		},
	})
	check(err)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				p.Resync()
			}
		}
	}()
	if err := p.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "proxier:", strings.TrimSpace(err.Error()))
		os.Exit(1)
	}
}
