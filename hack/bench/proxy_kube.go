package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
)

// kubeProxyVersion is the upstream release hack/bench/kubeproxy pins.
const kubeProxyVersion = "v1.32.13"

var kubeProxyWait = 120

// kubeProxyPeer prepares upstream's kube-proxy in nftables mode as the
// peer: built from hack/bench/kubeproxy (bin ""), run inside the node
// namespace (so everything it touches, the iptables leftovers it cleans
// and the sysctls it sets included, is that namespace's), reaching the
// API server through a relay listening inside the namespace.
func kubeProxyPeer(ctx context.Context, cs kubernetes.Interface, bin, dir, kubeconfig string, node *nettest.Node) (*proxyPeer, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, errors.New("kube-proxy's nftables mode needs the nft command")
	}
	if bin == "" {
		var err error
		if bin, err = buildKubeProxy(); err != nil {
			return nil, err
		}
	}
	// kube-proxy reads the node's addresses from its Node object.
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: proxyNode}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create Node %s: %w", proxyNode, err)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, proxyNode, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nettest.NodeIP}}
		_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return nil, fmt.Errorf("Node %s status: %w", proxyNode, err)
	}
	kc, err := relayKubeconfig(ctx, kubeconfig, dir, node.NS)
	if err != nil {
		return nil, err
	}
	metrics := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return node.NS.Dial(network, addr, 2*time.Second)
		},
	}}
	full := func() (sum float64, count int, err error) {
		return promHistogram(metrics, "http://127.0.0.1:10249/metrics", "kubeproxy_sync_full_proxy_rules_duration_seconds")
	}
	waitCount := func(min int) (float64, int, error) {
		deadline := time.Now().Add(time.Duration(kubeProxyWait) * time.Second)
		for {
			sum, count, err := full()
			if err == nil && count >= min {
				return sum, count, nil
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "kube-proxy.log"))
				if len(log) > 1500 {
					log = log[len(log)-1500:]
				}
				return 0, 0, fmt.Errorf("kube-proxy: no full sync number %d within 2 min (last %d, %v); its log ends: %s", min, count, err, log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	p := &proxyPeer{name: "kube-proxy", table: "kube-proxy"}
	p.start = func() (func(), int, error) {
		logf, err := os.Create(filepath.Join(dir, "kube-proxy.log"))
		if err != nil {
			return nil, 0, err
		}
		cmd := exec.Command("ip", "netns", "exec", node.NS.Name, bin,
			"--kubeconfig="+kc, "--proxy-mode=nftables", "--hostname-override="+proxyNode,
			"--cluster-cidr="+nettest.ClusterCIDR, "--nodeport-addresses="+nettest.NodeIP+"/32",
			// The same minimum interval as Flotilla's default.
			"--iptables-min-sync-period=100ms", // applies to the nftables mode too
			// Leave the conntrack sysctls alone.
			"--conntrack-max-per-core=0", "--conntrack-min=0",
			"--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
			"--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil { // ip netns exec execs kube-proxy: same pid
			logf.Close()
			return nil, 0, err
		}
		return func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
			logf.Close()
			_, _ = node.NS.Exec("nft", "delete", "table", "ip", "kube-proxy")
		}, cmd.Process.Pid, nil
	}
	p.firstSync = func() (time.Duration, error) {
		sum, count, err := waitCount(1)
		if err != nil {
			return 0, err
		}
		return time.Duration(sum / float64(count) * float64(time.Second)), nil
	}
	p.fullSync = func(times int) ([]time.Duration, error) {
		var out []time.Duration
		for i := range times {
			sum0, count0, err := full()
			if err != nil {
				return nil, err
			}
			// A change of the Node's labels makes kube-proxy resync fully.
			patch := fmt.Sprintf(`{"metadata":{"labels":{"bench-resync":"%d"}}}`, i)
			if _, err := cs.CoreV1().Nodes().Patch(ctx, proxyNode, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
				return nil, err
			}
			sum, count, err := waitCount(count0 + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, time.Duration((sum-sum0)/float64(count-count0)*float64(time.Second)))
		}
		return out, nil
	}
	return p, nil
}

// buildKubeProxy builds upstream's kube-proxy from its own module under
// hack/bench, once (kept in bin/).
func buildKubeProxy() (string, error) {
	src := filepath.Join("hack", "bench", "kubeproxy")
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return "", fmt.Errorf("no %s (run from the repository root): %w", src, err)
	}
	out, err := filepath.Abs(filepath.Join("bin", "kube-proxy-"+kubeProxyVersion))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	fmt.Fprintln(os.Stderr, "  building kube-proxy", kubeProxyVersion, "from", src)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "k8s.io/kubernetes/cmd/kube-proxy")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build kube-proxy: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// relayKubeconfig writes a kubeconfig for a process inside ns: the API
// server (on the host's loopback) is reached through a relay listening on
// the namespace's loopback, the same address family and IP so the
// server's certificate still matches.
func relayKubeconfig(ctx context.Context, kubeconfig, dir string, ns *nettest.NS) (string, error) {
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return "", err
	}
	ln, err := ns.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	var target string
	for _, c := range cfg.Clusters {
		u, err := url.Parse(c.Server)
		if err != nil {
			return "", err
		}
		target = u.Host
		u.Host = ln.Addr().String()
		c.Server = u.String()
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	path := filepath.Join(dir, "kube-proxy.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// promHistogram reads a histogram's _sum and _count from a Prometheus
// text endpoint.
func promHistogram(c *http.Client, url, name string) (float64, int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var sum float64
	count := -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case name + "_sum":
			sum, _ = strconv.ParseFloat(f[1], 64)
		case name + "_count":
			c, _ := strconv.ParseFloat(f[1], 64)
			count = int(c)
		}
	}
	if count < 0 {
		return 0, 0, fmt.Errorf("no %s in %s", name, url)
	}
	return sum, count, sc.Err()
}
