package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flotilla-io/flotilla/pkg/agent"
	"github.com/flotilla-io/flotilla/pkg/agent/eviction"
	"github.com/flotilla-io/flotilla/pkg/agent/images"
	"github.com/flotilla-io/flotilla/pkg/agent/podnet"
)

// agentFlags are the node agent's flags, k3s's names.
type agentFlags struct {
	runtimeEndpoint string
	nodeName        string
	labels          []string
	taints          []string
	maxPods         int
	clusterCIDR     string
	podManifests    string
	manifestURL     string
	logMaxSize      string
	logMaxFiles     int
	nodeIP          string
	handlerAliases  []string
	clusterDNS      string
	clusterDomain   string
	podBridge       string
	disableProxy    bool
	disableDNS      bool
	disableNetpol   bool
	disableIngress  bool
	flannelBackend  string
	directRouting   bool
	unsafeSysctls   []string
	evictionHard    string
	transition      time.Duration
	systemReserved  string
	kubeReserved    string
	imageGCHigh     int
	imageGCLow      int
}

func (a *agentFlags) register(f *pflag.FlagSet) {
	f.StringVar(&a.runtimeEndpoint, "container-runtime-endpoint", "", "CRI socket of an existing runtime (empty: the agent runs its own containerd)")
	f.StringVar(&a.nodeName, "node-name", "", "name of this node (default: the host name)")
	f.StringArrayVar(&a.labels, "node-label", nil, "label KEY=VALUE for this node (repeatable)")
	f.StringArrayVar(&a.taints, "node-taint", nil, "taint KEY[=VALUE]:EFFECT for this node (repeatable)")
	f.IntVar(&a.maxPods, "max-pods", 110, "pods this node accepts")
	f.StringVar(&a.clusterCIDR, "cluster-cidr", "10.42.0.0/16", "pod addresses of the cluster (the server gives each node a range of it)")
	f.StringVar(&a.clusterDNS, "cluster-dns", agent.DefaultClusterDNS, "address of the cluster DNS Service (kube-dns) pods use as their nameserver")
	f.StringVar(&a.clusterDomain, "cluster-domain", agent.DefaultClusterDomain, "the cluster's DNS domain")
	f.StringVar(&a.podBridge, "pod-bridge", agent.DefaultPodBridge, "host bridge this node's pods attach to (agents sharing a network namespace each need their own)")
	f.BoolVar(&a.disableProxy, "disable-kube-proxy", false, "do not run the node's Service proxy")
	f.BoolVar(&a.disableDNS, "disable-cluster-dns", false, "do not run the node's cluster DNS server")
	f.BoolVar(&a.disableNetpol, "disable-network-policy", false, "do not enforce NetworkPolicies on this node")
	f.BoolVar(&a.disableIngress, "disable-ingress", false, "run no ingress controller on this node's ports 80 and 443 (on `flotilla server`: also no default IngressClass, so no node runs one)")
	f.StringVar(&a.flannelBackend, "flannel-backend", string(podnet.BackendVXLAN), "how pods reach other nodes' pods: vxlan (an overlay over UDP 8472), host-gw (routes via the nodes' addresses; all nodes on one subnet) or none; the same on every node")
	f.BoolVar(&a.directRouting, "flannel-direct-routing", false, "with --flannel-backend=vxlan, route nodes on a directly connected subnet without encapsulation (flannel's DirectRouting)")
	f.StringVar(&a.podManifests, "pod-manifest-path", "", "directory of static pod manifests this node runs (polled)")
	f.StringVar(&a.manifestURL, "manifest-url", "", "URL serving static pod manifests this node runs (polled)")
	f.StringVar(&a.logMaxSize, "container-log-max-size", "10Mi", "size at which a container's log is rotated")
	f.StringVar(&a.nodeIP, "node-ip", "", "IPv4 address the node reports (default: the machine's first global address)")
	f.IntVar(&a.logMaxFiles, "container-log-max-files", 5, "log files kept per container, the live one included")
	f.StringSliceVar(&a.unsafeSysctls, "allowed-unsafe-sysctls", nil, "unsafe sysctls (names, or prefixes ending in '*', e.g. kernel.msg*) pods may set besides the safe set; each must be namespaced by the kernel (comma-separated)")
	f.StringVar(&a.evictionHard, "eviction-hard", eviction.DefaultHard, "hard eviction thresholds, SIGNAL<QUANTITY or SIGNAL<PERCENT% separated by commas (memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree, pid.available); signals not named have none")
	f.DurationVar(&a.transition, "eviction-pressure-transition-period", eviction.DefaultPressureTransitionPeriod, "how long a pressure condition stays True after its threshold was last met")
	f.StringVar(&a.systemReserved, "system-reserved", "", "resources kept for the system, NAME=QUANTITY separated by commas (cpu, memory, ephemeral-storage, pid)")
	f.StringVar(&a.kubeReserved, "kube-reserved", "", "resources kept for Kubernetes' own daemons, as --system-reserved")
	f.IntVar(&a.imageGCHigh, "image-gc-high-threshold", images.DefaultGCHighThreshold, "percent of the image file system used that starts image garbage collection")
	f.IntVar(&a.imageGCLow, "image-gc-low-threshold", images.DefaultGCLowThreshold, "percent of the image file system used that image garbage collection frees down to")
	f.StringArrayVar(&a.handlerAliases, "runtime-handler-alias", nil, "another CRI runtime handler of the agent's own containerd that runs runc like the default, e.g. test-handler for upstream's e2e suite (repeatable)")
}

func (a *agentFlags) config() (agent.Config, error) {
	cfg := agent.Config{RuntimeEndpoint: a.runtimeEndpoint, NodeName: a.nodeName, MaxPods: a.maxPods, Labels: map[string]string{},
		StaticPodPath: a.podManifests, ManifestURL: a.manifestURL, LogMaxFiles: a.logMaxFiles, AllowedUnsafeSysctls: a.unsafeSysctls}
	size, err := resource.ParseQuantity(a.logMaxSize)
	if err != nil || size.Value() < 1024 {
		return cfg, fmt.Errorf("--container-log-max-size %q: want a size of at least 1Ki, e.g. 10Mi", a.logMaxSize)
	}
	cfg.LogMaxSize = size.Value()
	if a.logMaxFiles < 2 {
		return cfg, fmt.Errorf("--container-log-max-files must be at least 2")
	}
	for _, l := range a.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return cfg, fmt.Errorf("--node-label %q: want KEY=VALUE", l)
		}
		cfg.Labels[k] = v
	}
	for _, t := range a.taints {
		kv, effect, ok := strings.Cut(t, ":")
		k, v, _ := strings.Cut(kv, "=")
		switch corev1.TaintEffect(effect) {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			ok = false
		}
		if !ok || k == "" {
			return cfg, fmt.Errorf("--node-taint %q: want KEY[=VALUE]:NoSchedule|PreferNoSchedule|NoExecute", t)
		}
		cfg.Taints = append(cfg.Taints, corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)})
	}
	if a.nodeIP != "" {
		ip, err := netip.ParseAddr(a.nodeIP)
		if err != nil || !ip.Is4() {
			return cfg, fmt.Errorf("--node-ip %q: want an IPv4 address", a.nodeIP)
		}
		cfg.NodeIP = ip.String()
	}
	for _, h := range a.handlerAliases {
		if msgs := validation.IsDNS1123Label(h); len(msgs) > 0 {
			return cfg, fmt.Errorf("--runtime-handler-alias %q: %s", h, strings.Join(msgs, "; "))
		}
		if a.runtimeEndpoint != "" {
			return cfg, fmt.Errorf("--runtime-handler-alias needs the agent's own containerd, not --container-runtime-endpoint")
		}
		cfg.RuntimeHandlerAliases = append(cfg.RuntimeHandlerAliases, h)
	}
	if cfg.Pressure, err = a.pressure(); err != nil {
		return cfg, err
	}
	if cfg.ClusterCIDR, err = a.clusterRange(); err != nil {
		return cfg, err
	}
	cfg.ServiceCIDR = netip.MustParsePrefix(agent.DefaultServiceCIDR)
	dnsIP, err := netip.ParseAddr(a.clusterDNS)
	if err != nil || !dnsIP.Is4() || !cfg.ServiceCIDR.Contains(dnsIP) {
		return cfg, fmt.Errorf("--cluster-dns %q: want an IPv4 address inside --service-cidr %s", a.clusterDNS, cfg.ServiceCIDR)
	}
	cfg.ClusterDNS = dnsIP
	if msgs := validation.IsDNS1123Subdomain(a.clusterDomain); len(msgs) > 0 {
		return cfg, fmt.Errorf("--cluster-domain %q: %s", a.clusterDomain, strings.Join(msgs, "; "))
	}
	cfg.ClusterDomain = a.clusterDomain
	if !validInterfaceName(a.podBridge) {
		return cfg, fmt.Errorf("--pod-bridge %q: want a network interface name: 1 to 15 bytes, no '/', ':' or white space", a.podBridge)
	}
	cfg.PodBridge = a.podBridge
	cfg.DisableProxy, cfg.DisableDNS = a.disableProxy, a.disableDNS
	cfg.DisableNetworkPolicy, cfg.DisableIngress = a.disableNetpol, a.disableIngress
	if cfg.PodNetwork, err = podnet.ParseBackend(a.flannelBackend); err != nil {
		return cfg, fmt.Errorf("--flannel-backend: %w", err)
	}
	if a.directRouting && cfg.PodNetwork != podnet.BackendVXLAN {
		return cfg, fmt.Errorf("--flannel-direct-routing is an option of --flannel-backend=vxlan")
	}
	cfg.PodNetworkDirectRouting = a.directRouting
	return cfg, nil
}

// clusterRange is --cluster-cidr, the pod addresses of the whole cluster.
func (a *agentFlags) clusterRange() (netip.Prefix, error) {
	cidr, err := netip.ParsePrefix(a.clusterCIDR)
	if err != nil || !cidr.Addr().Is4() || cidr.Bits() > 24 {
		return netip.Prefix{}, fmt.Errorf("--cluster-cidr %q: want an IPv4 prefix of /24 or larger", a.clusterCIDR)
	}
	return cidr.Masked(), nil
}

// pressure is the node's resource management flags, checked as the
// kubelet checks them.
func (a *agentFlags) pressure() (agent.Pressure, error) {
	var p agent.Pressure
	var err error
	if p.EvictionHard, err = eviction.ParseThresholds(a.evictionHard); err != nil {
		return p, fmt.Errorf("--eviction-hard %q: %w", a.evictionHard, err)
	}
	if a.transition < 0 {
		return p, fmt.Errorf("--eviction-pressure-transition-period %v must not be negative", a.transition)
	}
	p.TransitionPeriod = a.transition
	if p.SystemReserved, err = eviction.ParseReserved(a.systemReserved); err != nil {
		return p, fmt.Errorf("--system-reserved %q: %w", a.systemReserved, err)
	}
	if p.KubeReserved, err = eviction.ParseReserved(a.kubeReserved); err != nil {
		return p, fmt.Errorf("--kube-reserved %q: %w", a.kubeReserved, err)
	}
	if a.imageGCHigh < 0 || a.imageGCHigh > 100 {
		return p, fmt.Errorf("--image-gc-high-threshold %d must be between 0 and 100, inclusive", a.imageGCHigh)
	}
	if a.imageGCLow < 0 || a.imageGCLow > 100 {
		return p, fmt.Errorf("--image-gc-low-threshold %d must be between 0 and 100, inclusive", a.imageGCLow)
	}
	if a.imageGCLow > a.imageGCHigh {
		return p, fmt.Errorf("--image-gc-low-threshold %d must be less than --image-gc-high-threshold %d", a.imageGCLow, a.imageGCHigh)
	}
	p.ImageGCHighThreshold, p.ImageGCLowThreshold = a.imageGCHigh, a.imageGCLow
	return p, nil
}

// validInterfaceName reports whether the kernel takes name for a network
// interface (dev_valid_name): at most 15 bytes, not "." or "..", without
// '/', ':' or white space.
func validInterfaceName(name string) bool {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) })
}
