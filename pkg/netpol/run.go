package netpol

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	nft "github.com/flotilla-io/flotilla/pkg/nftutil"

	"golang.org/x/sys/unix"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// Run enforces the policies until ctx ends: a full sync once the caches
// are filled (replacing whatever a previous run left), then each change
// as it comes, and a full sync every FullSyncInterval. When it returns
// the rules stay in place, so pods stay isolated while the agent is
// down; use Cleanup to remove them. Run may be called again after it
// returned.
func (c *Controller) Run(ctx context.Context) error {
	fd, closeNS, err := nft.OpenNetNS(c.cfg.NetNSPath)
	if err != nil {
		return fmt.Errorf("netpol: %w", err)
	}
	defer closeNS()
	c.nft = newNFTConn(fd)
	// Without it, pods of this node talking across the bridge bypass the
	// forward hook: policies would hold only for routed traffic.
	if on, err := bridgeNFCallIPTables(c.cfg.NetNSPath); err != nil || !on {
		c.log.Error("bridged pod traffic does not pass netfilter (br_netfilter, net.bridge.bridge-nf-call-iptables=1): policies between pods of this node are not enforced", "err", err)
	}

	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // stopped before the caches filled
	}
	c.load()
	c.log.Info("network policy enforcement starting", "node", c.cfg.NodeName, "policies", len(c.tr.policies))

	nft.SyncLoop{
		MinInterval: c.cfg.MinSyncInterval, FullInterval: c.cfg.FullSyncInterval,
		Trigger: c.trigger, FullDue: func() { c.needFull = true },
		Sync: func() (bool, error) {
			res := c.sync()
			return res.Full, res.Err
		},
		Log: c.log,
	}.Run(ctx)
	return nil
}

// load builds the model from the caches, forgetting what was marked so
// far (events from now on are marked again).
func (c *Controller) load() {
	c.mu.Lock()
	clear(c.dirtyPods)
	clear(c.dirtyPolicies)
	clear(c.dirtyNS)
	c.resync = false
	c.mu.Unlock()
	c.tr, c.applied, c.needFull = newTracker(), nil, true
	nss, _ := c.namespaces.List(labels.Everything())
	for _, ns := range nss {
		c.tr.setNamespace(ns.Name, labels.Set(ns.Labels))
	}
	pods, _ := c.pods.List(labels.Everything())
	for _, p := range pods {
		c.tr.setPod(types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, podInfoOf(p, c.cfg.NodeName))
	}
	nps, _ := c.policies.List(labels.Everything())
	for _, np := range nps {
		c.setPolicy(types.NamespacedName{Namespace: np.Namespace, Name: np.Name})
	}
}

func (c *Controller) setPolicy(k types.NamespacedName) {
	np, err := c.policies.NetworkPolicies(k.Namespace).Get(k.Name)
	if err != nil {
		c.tr.setPolicy(k, nil)
		return
	}
	p, err := compilePolicy(np)
	if err != nil {
		c.log.Warn("network policy partly ignored: parts that cannot be compiled match nothing", "policy", k, "err", err)
	}
	c.tr.setPolicy(k, p)
}

// sync applies what was marked to the model and sends what changed, or
// the whole table when a full sync is due.
func (c *Controller) sync() SyncResult {
	c.mu.Lock()
	pods, policies, nss := c.dirtyPods, c.dirtyPolicies, c.dirtyNS
	c.dirtyPods, c.dirtyPolicies, c.dirtyNS = map[types.NamespacedName]struct{}{}, map[types.NamespacedName]struct{}{}, map[string]struct{}{}
	if c.resync {
		c.needFull, c.resync = true, false
	}
	c.mu.Unlock()

	for name := range nss {
		ns, err := c.namespaces.Get(name)
		switch {
		case apierrors.IsNotFound(err):
			c.tr.setNamespace(name, nil)
		case err == nil:
			c.tr.setNamespace(name, labels.Set(ns.Labels))
		}
	}
	for k := range policies {
		c.setPolicy(k)
	}
	for k := range pods {
		var info *podInfo
		if p, err := c.pods.Pods(k.Namespace).Get(k.Name); err == nil {
			info = podInfoOf(p, c.cfg.NodeName)
		}
		c.tr.setPod(k, info)
	}

	res := SyncResult{Full: c.needFull || c.applied == nil, Start: time.Now()}
	if res.Full {
		res.Ops, res.Err = c.fullSync()
	} else {
		res.Ops, res.Err = c.partialSync()
	}
	res.Duration = time.Since(res.Start)
	// After a failure what the kernel holds is unknown: rebuild it all.
	c.needFull = res.Err != nil
	if res.Err == nil && res.Ops > 0 {
		c.log.Debug("network policies synced", "full", res.Full, "ops", res.Ops, "took", res.Duration)
	}
	if c.cfg.OnSync != nil && (res.Err != nil || res.Ops > 0) {
		c.cfg.OnSync(res)
	}
	return res
}

// Cleanup removes everything the controller put into a network namespace
// (empty path: the caller's): for uninstalling, and for tests. Stopping a
// Controller does not do it, so that pods stay isolated meanwhile.
func Cleanup(netnsPath string) error {
	fd, closeNS, err := nft.OpenNetNS(netnsPath)
	if err != nil {
		return fmt.Errorf("netpol cleanup: %w", err)
	}
	defer closeNS()
	n := newNFTConn(fd)
	exists, err := n.tableExists()
	if err != nil || !exists {
		return err
	}
	c, err := n.conn()
	if err != nil {
		return fmt.Errorf("netpol cleanup: %w", err)
	}
	c.DelTable(n.table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netpol cleanup: delete table inet %s: %w", tableName, err)
	}
	return nil
}

// bridgeNFCallIPTables reads net.bridge.bridge-nf-call-iptables in a
// network namespace (empty path: the caller's); /proc/sys/net shows the
// namespace of the thread reading it.
func bridgeNFCallIPTables(netnsPath string) (bool, error) {
	const key = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	read := func() (bool, error) {
		b, err := os.ReadFile(key)
		if err != nil {
			return false, err
		}
		return strings.TrimSpace(string(b)) == "1", nil
	}
	if netnsPath == "" {
		return read()
	}
	type result struct {
		on  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open(netnsPath)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("setns %s: %w", netnsPath, err)}
			return
		}
		on, err := read()
		// A thread that cannot go back stays locked and dies with this
		// goroutine, so no other goroutine runs in the wrong namespace.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{on, err}
	}()
	r := <-done
	return r.on, r.err
}
