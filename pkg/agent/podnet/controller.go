package podnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Controller keeps one node's routes to the other nodes' pods, its VXLAN
// device and its masquerading in line with the cluster's Nodes.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	factory informers.SharedInformerFactory
	nodes   listersv1.NodeLister
	synced  cache.InformerSynced
	trigger chan struct{}

	// skipped is what the last sync logged about peers without a route,
	// so a reason is logged when it changes, not at every sync.
	skipped map[string]string
}

// New prepares the controller on the factory's Node informer; Run
// programs the kernel.
func New(factory informers.SharedInformerFactory, cfg Config) (*Controller, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	inf := factory.Core().V1().Nodes()
	c := &Controller{
		cfg: cfg, log: cfg.Log.With("component", "podnet"), factory: factory,
		nodes: inf.Lister(), synced: inf.Informer().HasSynced,
		trigger: make(chan struct{}, 1),
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.kick() },
		UpdateFunc: func(o, n any) {
			// Every node writes its status every few seconds; only the
			// pod range, the address and the VTEP MAC matter here.
			on, ok1 := o.(*corev1.Node)
			nn, ok2 := n.(*corev1.Node)
			if ok1 && ok2 && !relevantChange(on, nn) {
				return
			}
			c.kick()
		},
		DeleteFunc: func(any) { c.kick() },
	}); err != nil {
		return nil, fmt.Errorf("podnet: node handler: %w", err)
	}
	return c, nil
}

func relevantChange(o, n *corev1.Node) bool {
	po, ro := peerOf(o)
	pn, rn := peerOf(n)
	return ro != rn || po.podCIDR != pn.podCIDR || po.nodeIP != pn.nodeIP || po.mac.String() != pn.mac.String() ||
		o.Annotations[AnnotationVTEPMAC] != n.Annotations[AnnotationVTEPMAC]
}

func (c *Controller) kick() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// PodMTU is the MTU pods of this node should use: the VXLAN device's
// (the underlay's less the encapsulation) when this node runs one, 0
// (the CNI plugin's default) otherwise.
func (c *Controller) PodMTU() (int, error) {
	if !c.cfg.overlay() {
		return 0, nil
	}
	k, err := openKernel(c.cfg.NetNSPath)
	if err != nil {
		return 0, err
	}
	defer k.close()
	parent, err := k.parentOf(c.cfg.NodeIP)
	if err != nil {
		return 0, err
	}
	return parent.Attrs().MTU - vxlanOverhead, nil
}

// Run programs the kernel until ctx ends: at once with what the informer
// holds (removing what an earlier run left that is no longer wanted),
// then at every relevant Node change and every ResyncInterval. When it
// returns everything stays in place, so pods keep reaching other nodes
// while the agent restarts. Run may be called again after it returned.
func (c *Controller) Run(ctx context.Context) error {
	if c.cfg.Backend == BackendNone {
		<-ctx.Done()
		return nil
	}
	k, err := openKernel(c.cfg.NetNSPath)
	if err != nil {
		return fmt.Errorf("podnet: %w", err)
	}
	defer k.close()
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return nil
	}
	c.skipped = map[string]string{}
	c.log.Info("pod network starting", "backend", c.cfg.Backend, "directRouting", c.cfg.DirectRouting, "nodeIP", c.cfg.NodeIP, "podCIDR", c.cfg.PodCIDR)
	resync := time.NewTicker(c.cfg.ResyncInterval)
	defer resync.Stop()
	var retry <-chan time.Time
	backoff := time.Second
	masq := true // the rules are written at the first sync and at every resync
	c.kick()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.trigger:
		case <-resync.C:
			masq = true
		case <-retry:
		}
		retry = nil
		if err := c.sync(ctx, k, masq); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Error("pod network sync failed; retrying", "err", err, "in", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		masq, backoff = false, time.Second
	}
}

// sync makes the kernel match the Nodes the informer holds.
func (c *Controller) sync(ctx context.Context, k *kernel, masq bool) error {
	var errs []error
	if c.cfg.NodeIP.IsLoopback() {
		if masq {
			errs = append(errs, k.ensureMasquerade(c.cfg.ClusterCIDR, c.cfg.ServiceCIDR))
		}
		return errors.Join(append(errs, c.announce(ctx, ""))...)
	}
	vxlanIndex := 0
	mac := ""
	var dev netlink.Link
	if c.cfg.overlay() {
		l, err := k.ensureVXLAN(c.cfg.NodeIP, vtepMAC(c.cfg.NodeName), c.cfg.PodCIDR.Addr(), c.cfg.ClusterCIDR)
		if err != nil {
			return err
		}
		dev, vxlanIndex, mac = l, l.Attrs().Index, l.Attrs().HardwareAddr.String()
	} else if removed, err := k.removeVXLAN(); err != nil {
		errs = append(errs, err)
	} else if removed {
		c.log.Info("removed the VXLAN device: this node runs none", "device", VXLANDevice)
	}
	if err := c.announce(ctx, mac); err != nil {
		errs = append(errs, err)
	}
	if masq {
		if err := k.ensureMasquerade(c.cfg.ClusterCIDR, c.cfg.ServiceCIDR); err != nil {
			errs = append(errs, err)
		}
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	p, err := makePlan(&c.cfg, nodes, k)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	c.logSkipped(p.skipped)
	var changes []change
	if dev != nil {
		// The entries first, so the first packet on a new route finds them.
		ch, err := k.syncFDB(dev, p.fdb)
		changes, errs = append(changes, ch...), append(errs, err)
		ch, err = k.syncNeighbours(dev, p.neigh)
		changes, errs = append(changes, ch...), append(errs, err)
	}
	ch, err := k.syncRoutes(p.routes, vxlanIndex)
	changes, errs = append(changes, ch...), append(errs, err)
	for _, x := range changes {
		c.log.Info("pod network "+x.what+" "+x.op, "key", x.key, "to", x.to)
	}
	return errors.Join(errs...)
}

func (c *Controller) logSkipped(now map[string]string) {
	for name, why := range now {
		if c.skipped[name] != why {
			c.log.Warn("no route to the pods of a node", "peer", name, "reason", why)
		}
	}
	for name := range c.skipped {
		if _, still := now[name]; !still {
			c.log.Info("node's pods routable again or node gone", "peer", name)
		}
	}
	c.skipped = now
}

// announce sets (mac "": removes) this node's VTEP MAC annotation unless
// the Node already says so. A Node not (yet) in the cache is left alone:
// its creation triggers another sync.
func (c *Controller) announce(ctx context.Context, mac string) error {
	self, err := c.nodes.Get(c.cfg.NodeName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", c.cfg.NodeName, err)
	}
	if have, has := self.Annotations[AnnotationVTEPMAC]; have == mac && (has || mac == "") {
		return nil
	}
	var value any = mac
	if mac == "" {
		value = nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationVTEPMAC: value}}})
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err = c.cfg.Client.CoreV1().Nodes().Patch(ctx, c.cfg.NodeName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "flotilla-agent"})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("announce the VTEP MAC on node %s: %w", c.cfg.NodeName, err)
	}
	return nil
}
