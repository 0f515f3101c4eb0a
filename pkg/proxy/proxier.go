package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flotilla-io/flotilla/pkg/nftutil"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Config is what a node's proxy needs to know.
type Config struct {
	// NodeName is this node's name: endpoints whose nodeName equals it
	// are local (internalTrafficPolicy and externalTrafficPolicy Local).
	NodeName string
	// NodeAddresses are the addresses NodePorts are served on. Empty:
	// every local address of the namespace but loopback.
	NodeAddresses []netip.Addr
	// ClusterCIDR is the pod range: traffic from outside it to a
	// ClusterIP is masqueraded, pods reaching an external address of an
	// externalTrafficPolicy Local Service are not subject to the policy.
	ClusterCIDR netip.Prefix
	// ServiceCIDR, when set, makes addresses of the service range that no
	// Service holds unreachable (dropped) instead of routed onwards.
	ServiceCIDR netip.Prefix
	// NetNSPath names the network namespace to program (a file such as
	// /run/netns/NAME or /proc/PID/ns/net); empty: the caller's.
	NetNSPath string
	// MinSyncInterval spaces syncs: changes arriving within it are
	// applied together (default 100 ms). A change after a quiet period
	// is applied at once.
	MinSyncInterval time.Duration
	// FullSyncInterval is how often the whole table is rewritten from
	// scratch, which also removes anything of ours that is not wanted
	// (default 5 minutes).
	FullSyncInterval time.Duration
	// OnSync, if set, is called after every sync attempt, on the sync
	// goroutine (keep it short).
	OnSync func(SyncResult)
	Log    *slog.Logger
}

// SyncResult describes one sync.
type SyncResult struct {
	Full     bool
	Services []types.NamespacedName // Services whose rules changed (full: all)
	Messages int                    // netlink messages in the transaction
	Start    time.Time
	Duration time.Duration
	Err      error
}

// Proxier programs Services into a network namespace's nftables.
type Proxier struct {
	cfg      Config
	log      *slog.Logger
	services listersv1.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	bySvc    cache.Indexer // EndpointSlices indexed by Service, when the index could be added
	synced   []cache.InformerSynced
	factory  informers.SharedInformerFactory

	mu      sync.Mutex
	dirty   map[types.NamespacedName]struct{}
	resync  bool // a full sync was asked for
	trigger chan struct{}

	// Owned by the sync goroutine.
	nft      *nftConn
	state    *state
	needFull bool
	// fullFailed: the last full sync failed; the next recreates the table.
	fullFailed bool
}

const sliceIndex = "flotilla-proxy-service"

// New builds a proxier on factory's Service and EndpointSlice informers.
// Run starts the factory's informers if the caller has not.
func New(factory informers.SharedInformerFactory, cfg Config) (*Proxier, error) {
	if !cfg.ClusterCIDR.IsValid() || !cfg.ClusterCIDR.Addr().Is4() {
		return nil, fmt.Errorf("proxy: the cluster CIDR (pod range) must be an IPv4 prefix, got %v", cfg.ClusterCIDR)
	}
	if cfg.ServiceCIDR.IsValid() && !cfg.ServiceCIDR.Addr().Is4() {
		return nil, fmt.Errorf("proxy: the service CIDR must be an IPv4 prefix, got %v", cfg.ServiceCIDR)
	}
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = 100 * time.Millisecond
	}
	if cfg.FullSyncInterval <= 0 {
		cfg.FullSyncInterval = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	p := &Proxier{
		cfg: cfg, log: cfg.Log.With("component", "proxy"),
		services: svcInf.Lister(), slices: sliceInf.Lister(), factory: factory,
		synced:  []cache.InformerSynced{svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced},
		dirty:   map[types.NamespacedName]struct{}{},
		trigger: make(chan struct{}, 1),
		state:   newState(), needFull: true,
	}
	// An index of slices by Service, so a Service's sync does not scan
	// its namespace's slices. A factory whose informer already runs
	// cannot take new indexers; the label selector does the same job.
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{sliceIndex: func(obj any) ([]string, error) {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[serviceNameLabel] == "" {
			return nil, nil
		}
		return []string{s.Namespace + "/" + s.Labels[serviceNameLabel]}, nil
	}}); err == nil {
		p.bySvc = sliceInf.Informer().GetIndexer()
	}
	_, _ = svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.serviceChanged,
		UpdateFunc: func(_, n any) { p.serviceChanged(n) },
		DeleteFunc: p.serviceChanged,
	})
	_, _ = sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: p.sliceChanged,
		UpdateFunc: func(o, n any) {
			// A slice moved to another Service changes both.
			os, ok1 := o.(*discoveryv1.EndpointSlice)
			ns, ok2 := n.(*discoveryv1.EndpointSlice)
			if ok1 && ok2 && os.Labels[serviceNameLabel] != ns.Labels[serviceNameLabel] {
				p.sliceChanged(o)
			}
			p.sliceChanged(n)
		},
		DeleteFunc: p.sliceChanged,
	})
	return p, nil
}

func (p *Proxier) serviceChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if s, ok := obj.(*corev1.Service); ok {
		p.markDirty(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
	}
}

func (p *Proxier) sliceChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if s, ok := obj.(*discoveryv1.EndpointSlice); ok && s.Labels[serviceNameLabel] != "" {
		p.markDirty(types.NamespacedName{Namespace: s.Namespace, Name: s.Labels[serviceNameLabel]})
	}
}

func (p *Proxier) markDirty(nsn types.NamespacedName) {
	p.mu.Lock()
	p.dirty[nsn] = struct{}{}
	p.mu.Unlock()
	p.kick()
}

// Resync asks for a full sync as soon as the minimum interval allows: the
// whole table rewritten from what the kernel holds, as at start (say after
// someone flushed the ruleset, or the node's addresses changed).
func (p *Proxier) Resync() {
	p.mu.Lock()
	p.resync = true
	p.mu.Unlock()
	p.kick()
}

func (p *Proxier) kick() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// desiredPorts reads one Service's ports and endpoints from the caches.
func (p *Proxier) desiredPorts(nsn types.NamespacedName) []*servicePort {
	svc, err := p.services.Services(nsn.Namespace).Get(nsn.Name)
	if err != nil {
		return nil // gone (or never seen): nothing to program
	}
	return servicePorts(svc, p.slicesOf(nsn), p.cfg.NodeName)
}

func (p *Proxier) slicesOf(nsn types.NamespacedName) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	if p.bySvc != nil {
		objs, err := p.bySvc.ByIndex(sliceIndex, nsn.Namespace+"/"+nsn.Name)
		if err == nil {
			for _, o := range objs {
				if s, ok := o.(*discoveryv1.EndpointSlice); ok {
					out = append(out, s)
				}
			}
			return out
		}
	}
	out, _ = p.slices.EndpointSlices(nsn.Namespace).List(labels.SelectorFromSet(labels.Set{serviceNameLabel: nsn.Name}))
	return out
}

func (p *Proxier) allDesiredPorts() map[types.NamespacedName][]*servicePort {
	svcs, _ := p.services.List(labels.Everything())
	out := make(map[types.NamespacedName][]*servicePort, len(svcs))
	for _, svc := range svcs {
		nsn := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		if ports := servicePorts(svc, p.slicesOf(nsn), p.cfg.NodeName); len(ports) > 0 {
			out[nsn] = ports
		}
	}
	return out
}

// Run programs the kernel until ctx ends: a full sync once the caches
// are filled (reconciling whatever a previous run left), then each change
// as it comes, and a full sync every FullSyncInterval. When it returns the
// rules stay in place, so pods keep working while the agent is down; use
// Cleanup to remove them.
func (p *Proxier) Run(ctx context.Context) error {
	fd, closeNS, err := nftutil.OpenNetNS(p.cfg.NetNSPath)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer closeNS()
	conn, err := dialNFT(fd)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer conn.close()
	p.nft = conn

	p.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return nil // stopped before the caches filled
	}
	p.log.Info("proxy starting", "node", p.cfg.NodeName, "clusterCIDR", p.cfg.ClusterCIDR)

	nftutil.SyncLoop{
		MinInterval: p.cfg.MinSyncInterval, FullInterval: p.cfg.FullSyncInterval,
		Trigger: p.trigger, FullDue: func() { p.needFull = true }, Sync: p.sync, Log: p.log,
	}.Run(ctx)
	return nil
}

// sync applies what changed since the last sync, or everything when a
// full sync is due; it reports whether it was a full one.
func (p *Proxier) sync() (bool, error) {
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = map[types.NamespacedName]struct{}{}
	if p.resync {
		p.needFull, p.resync = true, false
	}
	p.mu.Unlock()

	res := SyncResult{Full: p.needFull, Start: time.Now()}
	if res.Full {
		res.Messages, res.Services, res.Err = p.fullSync(p.fullFailed)
		p.fullFailed = res.Err != nil
		// A full sync encodes the whole ruleset at once (tens of MB
		// for 10 000 endpoints), garbage the moment it is sent: hand it
		// back to the system now rather than whenever the scavenger gets
		// round to it, so the agent's footprint is its steady state.
		debug.FreeOSMemory()
	} else if len(dirty) > 0 {
		svcs := make([]types.NamespacedName, 0, len(dirty))
		for nsn := range dirty {
			svcs = append(svcs, nsn)
		}
		slices.SortFunc(svcs, compareNSN)
		res.Messages, res.Services, res.Err = p.syncServices(svcs)
	} else {
		return false, nil
	}
	res.Duration = time.Since(res.Start)
	if res.Err != nil {
		// What the kernel holds is now unknown: rebuild it all.
		p.needFull = true
	} else {
		p.needFull = false
		if res.Full || len(res.Services) > 0 {
			p.log.Debug("proxy synced", "full", res.Full, "services", len(res.Services), "messages", res.Messages, "took", res.Duration)
		}
	}
	if p.cfg.OnSync != nil && (res.Full || res.Err != nil || len(res.Services) > 0) {
		p.cfg.OnSync(res)
	}
	return res.Full, res.Err
}

func compareNSN(a, b types.NamespacedName) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// Cleanup removes everything the proxy put into a network namespace
// (empty path: the caller's): for uninstalling, and for tests. Stopping a
// Proxier does not do it, so that running pods keep their Services.
func Cleanup(netnsPath string) error {
	fd, closeNS, err := nftutil.OpenNetNS(netnsPath)
	if err != nil {
		return fmt.Errorf("proxy cleanup: %w", err)
	}
	defer closeNS()
	conn, err := dialNFT(fd)
	if err != nil {
		return fmt.Errorf("proxy cleanup: %w", err)
	}
	defer conn.close()
	have, err := conn.list()
	if err != nil {
		return fmt.Errorf("proxy cleanup: %w", err)
	}
	if !have.exists {
		return nil
	}
	conn.enc.DelTable(conn.table)
	if _, err := conn.commit(); err != nil {
		return fmt.Errorf("proxy cleanup: delete table ip %s: %w", tableName, err)
	}
	return nil
}
