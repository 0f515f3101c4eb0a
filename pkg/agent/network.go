package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"

	"github.com/flotilla-io/flotilla/pkg/agent/podnet"
	"github.com/flotilla-io/flotilla/pkg/controller/clusterdns"
	"github.com/flotilla-io/flotilla/pkg/dns"
	"github.com/flotilla-io/flotilla/pkg/ingress"
	"github.com/flotilla-io/flotilla/pkg/netpol"
	"github.com/flotilla-io/flotilla/pkg/proxy"
)

// startNetwork prepares the node's pod network for podCIDR (kernel
// settings, the pod bridge with its gateway address, the CNI config) and
// starts, on informers of their own, the routes to other nodes' pods
// with the masquerading of pod traffic leaving the cluster (package
// podnet), the node's Service proxy and its DNS server; wg tracks their
// goroutines, which end with ctx. None of them is stopped with routes,
// rules or sockets removed: pods keep reaching each other and Services
// while the agent restarts.
func (a *Agent) startNetwork(ctx context.Context, wg *sync.WaitGroup, podCIDR netip.Prefix) error {
	gw := podCIDR.Masked().Addr().Next()
	if err := nodeSysctls(); err != nil {
		return err
	}
	// The bridge exists before the first pod so that the DNS server can
	// bind the gateway address, which every pod reaches; the CNI bridge
	// plugin adopts it.
	if err := ensureBridge(a.cfg.PodBridge, netip.PrefixFrom(gw, podCIDR.Bits())); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(a.cs, 0)
	var run []func(context.Context) error
	mtu := 0
	if a.cfg.PodNetwork != podnet.BackendNone {
		pn, err := a.podNetwork(factory, podCIDR)
		if err != nil {
			return err
		}
		run = append(run, pn.Run)
		// Pods fit their packets into the VXLAN device's MTU; without it
		// they count on path MTU discovery through the node's NAT.
		if mtu, err = pn.PodMTU(); err != nil {
			a.log.Warn("pod MTU: the CNI default instead", "err", err)
		}
	}
	if a.cfg.RuntimeEndpoint == "" {
		if err := writeCNIConfig(a.cniConfDir(), a.cfg.PodBridge, podCIDR, mtu); err != nil {
			return err
		}
	}
	if a.cfg.DisableDNS {
		a.announceDNS(ctx, "")
	}
	if !a.cfg.DisableProxy {
		p, err := proxy.New(factory, proxy.Config{NodeName: a.cfg.NodeName, ClusterCIDR: a.cfg.ClusterCIDR, ServiceCIDR: a.cfg.ServiceCIDR, Log: a.log})
		if err != nil {
			return err
		}
		run = append(run, p.Run)
	}
	if !a.cfg.DisableNetworkPolicy {
		np, err := netpol.New(factory, netpol.Config{NodeName: a.cfg.NodeName, Log: a.log})
		if err != nil {
			return err
		}
		run = append(run, np.Run)
	}
	if !a.cfg.DisableIngress {
		// It holds ports 80 and 443 only while an IngressClass of its
		// controller exists (the server's --disable-ingress removes it).
		ing, err := ingress.New(factory, ingress.Config{NodeName: a.cfg.NodeName, Client: a.cs, Log: a.log})
		if err != nil {
			return err
		}
		run = append(run, ing.Run)
	}
	if !a.cfg.DisableDNS {
		d, err := dns.New(dns.Config{
			Domain:        a.cfg.ClusterDomain,
			Addresses:     []string{net.JoinHostPort(gw.String(), "53")},
			ReverseCIDRs:  []netip.Prefix{a.cfg.ClusterCIDR, a.cfg.ServiceCIDR},
			NameserverIPs: []netip.Addr{a.cfg.ClusterDNS},
			Informers:     factory,
			Log:           a.log,
		})
		if err != nil {
			return err
		}
		run = append(run, d.Run)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
			case <-d.Ready():
				a.announceDNS(ctx, gw.String())
			}
		}()
	}
	if len(run) == 0 {
		return nil
	}
	factory.Start(ctx.Done())
	for _, r := range run {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.keepRunning(ctx, r)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		factory.Shutdown()
	}()
	return nil
}

// podNetwork prepares the routes to the other nodes' pods (see package
// podnet) for this node's address and pod range.
func (a *Agent) podNetwork(factory informers.SharedInformerFactory, podCIDR netip.Prefix) (*podnet.Controller, error) {
	nodeIP, err := netip.ParseAddr(a.nodeIP)
	if err != nil || !nodeIP.Is4() {
		return nil, fmt.Errorf("pod network: node address %q is not an IPv4 address", a.nodeIP)
	}
	return podnet.New(factory, podnet.Config{
		NodeName: a.cfg.NodeName, NodeIP: nodeIP, PodCIDR: podCIDR,
		ClusterCIDR: a.cfg.ClusterCIDR, ServiceCIDR: a.cfg.ServiceCIDR,
		Backend: a.cfg.PodNetwork, DirectRouting: a.cfg.PodNetworkDirectRouting,
		Client: a.cs, Log: a.log,
	})
}

// keepRunning runs part until ctx ends, starting it again a few seconds
// after it fails (a DNS address taken, the kernel refusing a table): the
// pods of the node run on meanwhile.
func (a *Agent) keepRunning(ctx context.Context, part func(context.Context) error) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := part(ctx)
		if ctx.Err() != nil {
			return
		}
		a.log.Error("node network service stopped; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// nodeSysctls sets what the Service proxy needs of the kernel: forwarding
// and bridged pod traffic passing the IPv4 netfilter hooks (see package
// proxy). In a network namespace these settings are the namespace's own.
func nodeSysctls() error {
	const bridgeNF = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	if _, err := os.Stat(bridgeNF); errors.Is(err, os.ErrNotExist) {
		if out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput(); err != nil {
			return fmt.Errorf("load br_netfilter (Services need bridged pod traffic to pass netfilter): %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	for path, want := range map[string]string{"/proc/sys/net/ipv4/ip_forward": "1", bridgeNF: "1"} {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			return fmt.Errorf("set %s: %w", path, err)
		}
	}
	return nil
}

// ensureBridge makes the pod bridge exist, up, holding gw (the gateway
// address with the pod range's prefix length).
func ensureBridge(name string, gw netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if _, missing := err.(netlink.LinkNotFoundError); missing {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		link, err = netlink.LinkByName(name)
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("%s exists and is a %s, not a bridge", name, link.Type())
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.Addr().AsSlice(), Mask: net.CIDRMask(gw.Bits(), 32)}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", gw, name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	return nil
}

// announceDNS sets (or, with addr "", removes) the Node annotation that
// puts this node's DNS server in the kube-dns Service's endpoints (see
// package clusterdns). A failure is retried until ctx ends: without it
// the node's pods have no DNS.
func (a *Agent) announceDNS(ctx context.Context, addr string) {
	var value any = addr
	if addr == "" {
		value = nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{clusterdns.AnnotationDNSAddress: value}}})
	backoff := 200 * time.Millisecond
	for {
		_, err := a.cs.CoreV1().Nodes().Patch(ctx, a.cfg.NodeName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "flotilla-agent"})
		if err == nil {
			return
		}
		a.log.Warn("announce the node's DNS server", "err", err, "retryIn", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}
