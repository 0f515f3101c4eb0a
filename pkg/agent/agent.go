package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/agent/admission"
	"github.com/flotilla-io/flotilla/pkg/agent/containers"
	"github.com/flotilla-io/flotilla/pkg/agent/eviction"
	"github.com/flotilla-io/flotilla/pkg/agent/images"
	"github.com/flotilla-io/flotilla/pkg/agent/podnet"
	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
	"github.com/flotilla-io/flotilla/pkg/agent/stats"
	"github.com/flotilla-io/flotilla/pkg/agent/stream"
	"github.com/flotilla-io/flotilla/pkg/agent/volumes"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// Config is what one node agent needs; the flags of `flotilla agent` and
// `flotilla server` fill it.
type Config struct {
	NodeName string
	DataDir  string // the agent's own directory (containerd, CNI, pod logs)
	// RuntimeEndpoint is an existing CRI socket; "" starts and supervises
	// the agent's own containerd under DataDir.
	RuntimeEndpoint string
	Labels          map[string]string
	Taints          []corev1.Taint
	MaxPods         int
	// PodCIDR is this node's pod addresses; when unset (the usual case)
	// the server's nodeipam controller assigns the Node a range and the
	// agent waits for it before running pods.
	PodCIDR   netip.Prefix
	CNIBinDir string
	// ClusterCIDR is the pod range of the whole cluster and ServiceCIDR
	// the Services' range: the Service proxy masquerades what comes from
	// outside the pods, the DNS server answers reverse names inside both.
	ClusterCIDR netip.Prefix
	ServiceCIDR netip.Prefix
	// ClusterDNS is the kube-dns Service's address pods are given as
	// their nameserver, ClusterDomain the cluster's DNS domain.
	ClusterDNS    netip.Addr
	ClusterDomain string
	// PodBridge is the host bridge this node's pods attach to
	// (DefaultPodBridge when empty). Agents sharing a network namespace,
	// as test clusters do, each need their own: the CNI bridge plugin
	// holds one pod range's gateway per bridge.
	PodBridge string
	// DisableProxy and DisableDNS leave out this node's Service proxy and
	// DNS server (only one agent per network namespace may run them).
	DisableProxy bool
	DisableDNS   bool
	// DisableNetworkPolicy leaves NetworkPolicies unenforced on this node
	// (for a network plugin that enforces them); DisableIngress runs no
	// ingress controller on ports 80 and 443 here.
	DisableNetworkPolicy bool
	DisableIngress       bool
	// PodNetwork is how pods reach other nodes' pods (package podnet;
	// "" = vxlan); PodNetworkDirectRouting, with vxlan, routes peers on a
	// shared subnet without encapsulation.
	PodNetwork              podnet.Backend
	PodNetworkDirectRouting bool
	// StaticPodPath is a directory of pod manifests and ManifestURL a URL
	// serving them: static pods this node runs without the API server.
	StaticPodPath string
	ManifestURL   string
	// AllowedUnsafeSysctls are the sysctls (names, or prefixes ending in
	// '*') pods may set besides the safe set, as the kubelet's
	// --allowed-unsafe-sysctls; each must be namespaced by the kernel.
	AllowedUnsafeSysctls []string
	// LogMaxSize (bytes) and LogMaxFiles bound each container's logs.
	LogMaxSize  int64
	LogMaxFiles int
	// NodeIP is the address the node reports ("" = the first global
	// unicast IPv4 address of the machine).
	NodeIP string
	// Stream, when set, is where the agent serves the API server's
	// logs, exec, attach and port-forward requests for its pods. An agent
	// running inside the server needs none.
	Stream *StreamServing
	// Pressure is how the node watches its resources: eviction
	// thresholds, reservations and image garbage collection.
	Pressure Pressure
	// RuntimeHandlerAliases are more runtime handlers of the agent's own
	// containerd, each running runc as the default one does (test
	// clusters add upstream's "test-handler" for RuntimeClass specs).
	RuntimeHandlerAliases []string
}

// Pressure is the kubelet's resource management settings.
type Pressure struct {
	// EvictionHard are the hard eviction thresholds; nil means
	// upstream's defaults (eviction.DefaultHard), empty none.
	EvictionHard []eviction.Threshold
	// TransitionPeriod keeps a pressure condition True after its
	// threshold was last met (0 = 5m).
	TransitionPeriod time.Duration
	// SystemReserved and KubeReserved are kept from pods: allocatable is
	// capacity less both and the hard eviction thresholds.
	SystemReserved, KubeReserved corev1.ResourceList
	// ImageGCHighThreshold and ImageGCLowThreshold are the image file
	// system's used percentages that start and end image garbage
	// collection (0 = 85 and 80).
	ImageGCHighThreshold, ImageGCLowThreshold int
}

// The network defaults, k3s's. The service range is the API server's
// (fixed for now: registry.ServiceCIDR).
const (
	DefaultClusterCIDR   = "10.42.0.0/16"
	DefaultServiceCIDR   = "10.43.0.0/16"
	DefaultClusterDNS    = "10.43.0.10"
	DefaultClusterDomain = "cluster.local"
	DefaultPodBridge     = "flotilla0"
)

// StreamServing is the streaming endpoint of an agent on another machine
// than the server.
type StreamServing = stream.Serving

// The streaming endpoint's names the API server shares with its agents.
const (
	// APIServerClientName is the common name of the certificate the API
	// server presents to node agents; it is the only client an agent's
	// streaming endpoint serves.
	APIServerClientName = stream.APIServerClientName
	// StreamPath is where an agent serves a pod's streaming subresource:
	// StreamPath + NAMESPACE/NAME/SUBRESOURCE, with the API request's query.
	StreamPath = stream.Path
	// StreamPodUIDHeader carries the UID of the pod the API server
	// resolved, so the agent serves that pod and not a namesake created
	// since.
	StreamPodUIDHeader = stream.PodUIDHeader
)

// Agent runs one node.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	cs     kubernetes.Interface
	nodeIP string

	// The parts that outlive a run: the static pods, the volumes' tokens
	// and the streaming endpoint, which also answers between runs.
	events  *eventRecorder
	objects apiObjects
	alloc   allocatableCache
	static  *staticpods.Table // pods of StaticPodPath and ManifestURL
	mirrors *staticpods.Mirrors
	volumes *volumes.Manager
	configs *containers.Builder
	// services feeds the configs' Service env vars; each run runs it.
	services *containers.ServiceCache
	streams  *stream.Server
	stats    http.Handler // the node's usage, served on the streaming endpoint
	metrics  *agentMetrics
	usage    *stats.Collector // the same, read by the eviction manager
	// pressure watches the node's resources; health is the runtime's
	// last known health (the Ready condition); statusNow asks for a node
	// status update at once.
	pressure  *eviction.Manager
	health    atomic.Pointer[runtimeHealth]
	statusNow chan struct{}
	// imageGC is the current run's, nil between runs.
	imageGC atomic.Pointer[images.GC]
	// sysctls are the sysctls pods may set (admission refuses others).
	sysctls *admission.SysctlAllowlist

	// podCIDR is the node's pod range once known (Config.PodCIDR or the
	// server's assignment).
	podCIDR atomic.Pointer[netip.Prefix]

	mu             sync.Mutex
	runtime        *cri.Client // set by Run; request handlers read it under mu
	runtimeVersion string
}

// New checks the configuration and prepares an agent; Run starts it.
func New(cfg Config, rc *rest.Config, log *slog.Logger) (*Agent, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("agent: a node name is required")
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = 110
	}
	if !cfg.ClusterCIDR.IsValid() {
		cfg.ClusterCIDR = netip.MustParsePrefix(DefaultClusterCIDR)
	}
	if !cfg.ServiceCIDR.IsValid() {
		cfg.ServiceCIDR = netip.MustParsePrefix(DefaultServiceCIDR)
	}
	if !cfg.ClusterDNS.IsValid() {
		cfg.ClusterDNS = netip.MustParseAddr(DefaultClusterDNS)
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = DefaultClusterDomain
	}
	if cfg.PodBridge == "" {
		cfg.PodBridge = DefaultPodBridge
	}
	if cfg.CNIBinDir == "" {
		cfg.CNIBinDir = "/usr/lib/cni"
	}
	if cfg.LogMaxSize <= 0 {
		cfg.LogMaxSize = stream.DefaultLogMaxSize
	}
	if cfg.LogMaxFiles < 2 {
		cfg.LogMaxFiles = stream.DefaultLogMaxFiles
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = DefaultNodeIP(cfg.PodBridge)
	}
	sysctls, err := admission.NewSysctlAllowlist(cfg.AllowedUnsafeSysctls)
	if err != nil {
		return nil, fmt.Errorf("agent: allowed unsafe sysctls: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	log = log.With("component", "agent", "node", cfg.NodeName)
	a := &Agent{cfg: cfg, log: log, cs: cs, nodeIP: cfg.NodeIP, sysctls: sysctls,
		events:  &eventRecorder{},
		objects: apiObjects{cs: cs},
		static:  &staticpods.Table{},
		mirrors: staticpods.NewMirrors(cs, cfg.NodeName, log),
	}
	if a.cfg.Pressure.EvictionHard == nil {
		if a.cfg.Pressure.EvictionHard, err = eviction.ParseThresholds(eviction.DefaultHard); err != nil {
			return nil, err
		}
	}
	a.statusNow = make(chan struct{}, 1)
	a.alloc.measure = a.measureCapacity
	a.alloc.allocatable = func(capacity corev1.ResourceList) corev1.ResourceList {
		return eviction.Allocatable(capacity, a.cfg.Pressure.SystemReserved, a.cfg.Pressure.KubeReserved, a.cfg.Pressure.EvictionHard)
	}
	a.volumes = volumes.New(volumes.Config{DataDir: cfg.DataDir, NodeName: cfg.NodeName, Client: cs, Objects: a.objects, Allocatable: a.alloc.get, Log: log})
	a.services = containers.NewServiceCache(cs)
	a.configs = containers.New(containers.Config{DataDir: cfg.DataDir, NodeIP: cfg.NodeIP, RuntimeClasses: cs.NodeV1(), Objects: a.objects, Volumes: a.volumes, Allocatable: a.alloc.get,
		ClusterDNS: []string{cfg.ClusterDNS.String()}, ClusterDomain: cfg.ClusterDomain, Services: a.services, Events: a.events})
	a.usage = stats.NewCollector(stats.Config{NodeName: cfg.NodeName, Runtime: a.statsRuntime, Log: log})
	a.stats = stats.Handler(a.usage, log)
	a.pressure = a.newPressureManager()
	a.metrics = newAgentMetrics(a.volumes)
	a.streams = stream.New(stream.Config{NodeName: cfg.NodeName, DataDir: cfg.DataDir, Pods: cs.CoreV1(), Runtime: a.streamRuntime, Static: a.static, Stats: a.stats, Metrics: a.metrics.handler(), Log: log})
	return a, nil
}

// StatsHandler serves the node's usage (GET /metrics/resource and GET
// /stats/summary, package stats) in the agent's own process: the server
// reads its own node's usage through it, as an agent on another machine
// serves it on its endpoint.
func (a *Agent) StatsHandler() http.Handler { return a.stats }

// ServeNode serves a GET of the agent's endpoint (the node's usage, the
// agent's own metrics) in the agent's own process, for the API server's
// nodes/NAME/proxy/PATH; other paths are 404.
func (a *Agent) ServeNode(w http.ResponseWriter, r *http.Request, path string) {
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = path, ""
	switch {
	case r.Method != http.MethodGet:
		http.Error(w, "only GET is served", http.StatusMethodNotAllowed)
	case path == stream.MetricsPath:
		a.metrics.handler().ServeHTTP(w, r2)
	case path == stats.ResourceMetricsPath || path == stats.SummaryPath:
		a.stats.ServeHTTP(w, r2)
	default:
		http.NotFound(w, r2)
	}
}

// ServePod serves a pod's log, exec, attach or portforward request for
// the API server in the agent's own process.
func (a *Agent) ServePod(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, subresource string) error {
	return a.streams.ServePod(w, r, pod, subresource)
}

// RegistryConfigDir is where the agent's own containerd reads registry
// settings: one directory per registry host holding a containerd
// hosts.toml (plain HTTP, mirrors, CA files).
func (a *Agent) RegistryConfigDir() string { return filepath.Join(a.cfg.DataDir, "registries.d") }

// NodeName is the node this agent runs.
func (a *Agent) NodeName() string { return a.cfg.NodeName }
