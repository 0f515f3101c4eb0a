package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	fdns "github.com/flotilla-io/flotilla/pkg/dns"
)

// dnsChildEnv, set to a kubeconfig path, makes the bench binary run
// pkg/dns alone (see dnsChild): the server then gets a process of its own,
// as CoreDNS does, and shares the machine with the load on equal terms.
const dnsChildEnv = "FLOTILLA_BENCH_DNS_CHILD"

const (
	dnsServices = 1000
	dnsWorkers  = 16
	dnsDuration = 10 * time.Second
	dnsNS       = "dnsbench"
)

// benchDNS measures Service A queries against pkg/dns and, when it can be
// built from hack/bench/coredns, against CoreDNS's kubernetes plugin, both
// answering from the same API server with the same Services.
func benchDNS(bin, corednsBin string) {
	dir, err := os.MkdirTemp("", "flotilla-bench-dns-")
	check(err)
	defer os.RemoveAll(dir)
	srv := start(bin, dir, "--disable-agent")
	defer srv.stop()
	cs := srv.client()
	ctx := context.Background()
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dnsNS}}, metav1.CreateOptions{})
	check(err)
	parallel(dnsServices, 32, func(i int) time.Duration {
		_, err := cs.CoreV1().Services(dnsNS).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i)},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
		}, metav1.CreateOptions{})
		check(err)
		return 0
	})
	names := make([]string, dnsServices)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%d.%s.svc.cluster.local.", i, dnsNS)
	}

	self, err := os.Executable()
	check(err)
	child := exec.Command(self)
	child.Env = append(os.Environ(), dnsChildEnv+"="+srv.kubeconfig)
	ours, oursErr := runDNSPeer(child, dir, "flotilla-dns", names)

	peer, theirs, peerErr := benchCoreDNS(corednsBin, dir, srv.kubeconfig, names)

	label := fmt.Sprintf("DNS Service A @%d, %d Services: queries/s", dnsWorkers, dnsServices)
	latLabel := "  DNS p50 / p99"
	if oursErr != nil {
		record(label, "failed: "+oursErr.Error(), "")
		return
	}
	theirRate, theirLat := "CoreDNS not measured: "+errString(peerErr), ""
	if peerErr == nil {
		theirRate = fmt.Sprintf("%s %.0f/s", peer, theirs.rate)
		theirLat = fmt.Sprintf(" (%s %s / %s)", peer, ms(theirs.p(50)), ms(theirs.p(99)))
	}
	record(label, fmt.Sprintf("%.0f/s (%s)", ours.rate, theirRate), "")
	record(latLabel, ms(ours.p(50))+" / "+ms(ours.p(99))+theirLat, "")
}

// benchCoreDNS loads CoreDNS (corednsBin; "" builds it, "none" skips it)
// with the same queries, its kubernetes plugin on the same API server.
func benchCoreDNS(corednsBin, dir, kubeconfig string, names []string) (string, *latencies, error) {
	if corednsBin == "none" {
		return "", nil, errors.New("skipped (-coredns none)")
	}
	if corednsBin == "" {
		var err error
		if corednsBin, err = buildCoreDNS(dir); err != nil {
			return "", nil, err
		}
	}
	out, err := exec.Command(corednsBin, "-version").Output()
	if err != nil {
		return "", nil, fmt.Errorf("%s -version: %w", corednsBin, err)
	}
	peer := strings.Fields(string(out))[0]
	port, err := freeUDPTCPPort()
	if err != nil {
		return "", nil, err
	}
	corefile := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(corefile, []byte(fmt.Sprintf(`cluster.local:%d {
    bind 127.0.0.1
    kubernetes cluster.local {
        kubeconfig %s
        pods insecure
    }
}
`, port, kubeconfig)), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(corednsBin, "-conf", corefile, "-quiet")
	l, err := runDNSPeer(cmd, dir, "coredns", names, fmt.Sprintf("127.0.0.1:%d", port))
	return peer, l, err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// runDNSPeer starts a DNS server process, waits until it answers the last
// Service, loads it and stops it. addr is where it serves; without it the
// process prints its address on its first line of output.
func runDNSPeer(cmd *exec.Cmd, dir, name string, names []string, addr ...string) (*latencies, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	var stdout *bufio.Reader
	if len(addr) == 0 {
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		stdout = bufio.NewReader(pipe)
	} else {
		cmd.Stdout = logf
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	target := ""
	if stdout != nil {
		line, err := stdout.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("%s printed no address: %w (see %s.log)", name, err, name)
		}
		target = strings.TrimSpace(line)
	} else {
		target = addr[0]
	}
	last := names[len(names)-1]
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m := new(mdns.Msg)
		m.SetQuestion(last, mdns.TypeA)
		r, err := mdns.Exchange(m, target)
		if err == nil && r.Rcode == mdns.RcodeSuccess && len(r.Answer) == 1 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s does not answer %s: %v %v", name, last, err, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	dnsLoad(target, names, dnsWorkers, 2*time.Second) // warm up
	fmt.Fprintf(os.Stderr, "  measuring %s on %s\n", name, target)
	return dnsLoad(target, names, dnsWorkers, dnsDuration), nil
}

// dnsLoad sends A queries for names from workers closed loops over UDP
// for d, each worker on its own socket, and checks every reply is a
// one-record NOERROR answer to its query.
func dnsLoad(addr string, names []string, workers int, d time.Duration) *latencies {
	packets := make([][]byte, len(names))
	for i, n := range names {
		m := new(mdns.Msg)
		m.SetQuestion(n, mdns.TypeA)
		b, err := m.Pack()
		check(err)
		packets[i] = b
	}
	var bad atomic.Int64
	out := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	t0 := time.Now()
	end := t0.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp", addr)
			check(err)
			defer c.Close()
			q := make([]byte, 512)
			buf := make([]byte, 4096)
			for i := w; time.Now().Before(end); i += workers {
				p := packets[i%len(packets)]
				q = append(q[:0], p...)
				id := uint16(i)
				binary.BigEndian.PutUint16(q, id)
				s := time.Now()
				_ = c.SetDeadline(s.Add(2 * time.Second))
				if _, err := c.Write(q); err != nil {
					bad.Add(1)
					continue
				}
				n, err := c.Read(buf)
				if err != nil || n < 12 || binary.BigEndian.Uint16(buf) != id || buf[3]&0xf != 0 || binary.BigEndian.Uint16(buf[6:]) != 1 {
					bad.Add(1)
					continue
				}
				out[w] = append(out[w], time.Since(s))
			}
		}()
	}
	wg.Wait()
	l := &latencies{}
	for _, o := range out {
		l.d = append(l.d, o...)
	}
	l.rate = float64(len(l.d)) / time.Since(t0).Seconds()
	if b := bad.Load(); b > 0 {
		fmt.Fprintf(os.Stderr, "  %s: %d queries failed or timed out\n", addr, b)
	}
	return l
}

// buildCoreDNS builds the peer from its own module under hack/bench.
func buildCoreDNS(dir string) (string, error) {
	src := filepath.Join("hack", "bench", "coredns")
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return "", fmt.Errorf("no %s (run from the repository root): %w", src, err)
	}
	out := filepath.Join(dir, "coredns")
	fmt.Fprintln(os.Stderr, "  building CoreDNS from", src)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build CoreDNS: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// freeUDPTCPPort is a loopback port that was free for both protocols a
// moment ago.
func freeUDPTCPPort() (int, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("no port free for UDP and TCP")
}

// dnsChild runs pkg/dns on loopback against the API server of kubeconfig
// until interrupted, and prints its address once it is ready.
func dnsChild(kubeconfig string) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	check(err)
	cfg.QPS, cfg.Burst = -1, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	check(err)
	factory := informers.NewSharedInformerFactory(cs, 0)
	srv, err := fdns.New(fdns.Config{
		Addresses: []string{"127.0.0.1:0"},
		Informers: factory,
		NoForward: true,
		Log:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	check(err)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
		fmt.Println(srv.Addrs()[0])
	case err := <-done:
		check(err)
		return
	}
	check(<-done)
}
