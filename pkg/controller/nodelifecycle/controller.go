package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
	"github.com/flotilla-io/flotilla/pkg/podutil"
	"github.com/flotilla-io/flotilla/pkg/scheduler"
)

// Condition reasons and messages written on nodes and pods, in upstream's
// wording where upstream has one.
const (
	ReasonNodeStatusUnknown       = "NodeStatusUnknown"
	MessageNodeStatusUnknown      = "Kubelet stopped posting node status."
	ReasonNodeStatusNeverUpdated  = "NodeStatusNeverUpdated"
	MessageNodeStatusNeverUpdated = "Kubelet never posted node status."

	// DisruptionTarget reasons on evicted pods.
	ReasonDeletionByTaintManager         = "DeletionByTaintManager"
	ReasonDeletionByRequiredNodeAffinity = "DeletionByRequiredNodeAffinity"

	// Event reasons on evicted pods.
	EventTaintManagerEviction = "TaintManagerEviction"
	EventNodeAffinityEviction = "NodeAffinityEviction"

	// ReasonNodeLost is the status reason of a pod failed because its
	// node stopped answering.
	ReasonNodeLost = "NodeLost"
)

// Defaults for Config, upstream's.
const (
	DefaultGracePeriod   = 40 * time.Second
	DefaultMonitorPeriod = 5 * time.Second
)

const (
	fieldManager  = "flotilla-node-lifecycle"
	nodeNameIndex = "flotilla.io/nodelifecycle-spec.nodeName"
)

// Config tunes the controller; zero fields take the defaults.
type Config struct {
	// GracePeriod is how long a node may go without renewing its lease
	// or its Ready heartbeat before it is declared unknown
	// (upstream's --node-monitor-grace-period).
	GracePeriod time.Duration
	// MonitorPeriod is how often node health is checked
	// (upstream's --node-monitor-period).
	MonitorPeriod time.Duration
}

// Controller watches node health and evicts pods from tainted nodes.
type Controller struct {
	client   kubernetes.Interface
	recorder eventrecorder.Recorder // set by Run
	// taintRecorder records as the taint-eviction-controller.
	taintRecorder eventrecorder.Recorder
	nodes         listersv1.NodeLister
	pods          listersv1.PodLister
	podIndex      cache.Indexer
	indexed       bool
	leases        coordinationlisters.LeaseLister
	synced        []cache.InformerSynced
	queue         workqueue.TypedRateLimitingInterface[string] // pod keys
	cfg           Config
	log           *slog.Logger

	// health is only touched by the monitor goroutine.
	health map[string]*nodeHealth

	mu      sync.Mutex
	pending map[string]pendingEviction // pod key → scheduled taint eviction
}

// nodeHealth is what the monitor last saw of a node's heartbeats, and
// when (on the local clock) it last saw one of them move.
type nodeHealth struct {
	renew     time.Time // lease spec.renewTime
	heartbeat time.Time // Ready condition lastHeartbeatTime
	probe     time.Time
}

type pendingEviction struct {
	since time.Time // when the pod was first found on the tainted node
	at    time.Time
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = DefaultGracePeriod
	}
	if cfg.MonitorPeriod <= 0 {
		cfg.MonitorPeriod = DefaultMonitorPeriod
	}
	nodes, pods, leases := factory.Core().V1().Nodes(), factory.Core().V1().Pods(), factory.Coordination().V1().Leases()
	c := &Controller{
		recorder: eventrecorder.Discard(), taintRecorder: eventrecorder.Discard(),
		client: client, nodes: nodes.Lister(), pods: pods.Lister(), leases: leases.Lister(),
		podIndex: pods.Informer().GetIndexer(),
		synced:   []cache.InformerSynced{nodes.Informer().HasSynced, pods.Informer().HasSynced, leases.Informer().HasSynced},
		queue:    workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodelifecycle"}),
		cfg:      cfg,
		log:      log.With("controller", "nodelifecycle"),
		health:   map[string]*nodeHealth{},
		pending:  map[string]pendingEviction{},
	}
	err := pods.Informer().AddIndexers(cache.Indexers{nodeNameIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
	if err != nil {
		c.log.Warn("pods by node index unavailable, listing all pods instead", "err", err)
	} else {
		c.indexed = true
	}
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, n any) { c.podChanged(n) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.mu.Lock()
				delete(c.pending, key)
				c.mu.Unlock()
			}
		},
	})
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*corev1.Node); ok {
				c.enqueueNodePods(n.Name)
			}
		},
		UpdateFunc: func(o, n any) {
			oldNode, ok1 := o.(*corev1.Node)
			newNode, ok2 := n.(*corev1.Node)
			if ok1 && ok2 && nodeChangeMatters(oldNode, newNode) {
				c.enqueueNodePods(newNode.Name)
			}
		},
	})
	return c
}

// Run monitors nodes and works the eviction queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	nodeRec, stopNodeEvents := eventrecorder.Start(ctx, c.client, "node-controller", "")
	defer stopNodeEvents()
	taintRec, stopTaintEvents := eventrecorder.Start(ctx, c.client, "taint-eviction-controller", "")
	defer stopTaintEvents()
	c.recorder, c.taintRecorder = nodeRec, taintRec
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(c.cfg.MonitorPeriod)
		defer t.Stop()
		for {
			c.monitor(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	worker.Run(ctx, c.queue, workers, c.syncPod, c.log)
	wg.Wait()
}

func (c *Controller) podChanged(obj any) {
	if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
		if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
			c.queue.Add(key)
		}
	}
}

func (c *Controller) enqueueNodePods(node string) {
	for _, p := range c.podsOnNode(node) {
		if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
			c.queue.Add(key)
		}
	}
}

// nodeChangeMatters tells whether pods on the node need another look:
// their eviction depends on the node's taints, labels and readiness.
func nodeChangeMatters(o, n *corev1.Node) bool {
	if !labels.Equals(o.Labels, n.Labels) || len(o.Spec.Taints) != len(n.Spec.Taints) {
		return true
	}
	for i := range o.Spec.Taints {
		if !o.Spec.Taints[i].MatchTaint(&n.Spec.Taints[i]) || !o.Spec.Taints[i].TimeAdded.Equal(n.Spec.Taints[i].TimeAdded) {
			return true
		}
	}
	return readyStatus(o) != readyStatus(n)
}

func (c *Controller) podsOnNode(node string) []*corev1.Pod {
	var out []*corev1.Pod
	if c.indexed {
		objs, err := c.podIndex.ByIndex(nodeNameIndex, node)
		if err == nil {
			for _, o := range objs {
				if p, ok := o.(*corev1.Pod); ok {
					out = append(out, p)
				}
			}
			return out
		}
	}
	all, _ := c.pods.List(labels.Everything())
	for _, p := range all {
		if p.Spec.NodeName == node {
			out = append(out, p)
		}
	}
	return out
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	if r := readyCondition(n); r != nil {
		return r.Status
	}
	return ""
}

func metaTime(t time.Time) metav1.Time { return metav1.NewTime(t) }

// --- node health -----------------------------------------------------------

// monitor checks every node once.
func (c *Controller) monitor(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.log.Warn("list nodes", "err", err)
		return
	}
	now := time.Now()
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n.Name] = true
		if err := c.monitorNode(ctx, n, now); err != nil && ctx.Err() == nil {
			c.log.Warn("monitor node", "node", n.Name, "err", err)
		}
	}
	for name := range c.health {
		if !seen[name] {
			delete(c.health, name)
		}
	}
}

// observe records node's heartbeats and returns its health. A node's
// probe time moves whenever its lease's renewTime or its Ready
// lastHeartbeatTime changes; a node seen for the first time (at start,
// notably) gets the time it is first seen, hence a full grace period.
func (c *Controller) observe(node *corev1.Node, now time.Time) *nodeHealth {
	var renew, heartbeat time.Time
	if l, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name); err == nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	if r := readyCondition(node); r != nil {
		heartbeat = r.LastHeartbeatTime.Time
	}
	h := c.health[node.Name]
	if h == nil {
		h = &nodeHealth{renew: renew, heartbeat: heartbeat, probe: now}
		c.health[node.Name] = h
		return h
	}
	if !h.renew.Equal(renew) || !h.heartbeat.Equal(heartbeat) {
		h.renew, h.heartbeat, h.probe = renew, heartbeat, now
	}
	return h
}

func (c *Controller) monitorNode(ctx context.Context, node *corev1.Node, now time.Time) error {
	h := c.observe(node, now)
	ready := readyCondition(node)
	if now.Sub(h.probe) > c.cfg.GracePeriod && (ready == nil || ready.Status != corev1.ConditionUnknown) {
		updated, err := c.markUnknown(ctx, node, now)
		if err != nil {
			return err
		}
		c.log.Info("node stopped posting status", "node", node.Name, "silentFor", now.Sub(h.probe).Round(time.Second))
		node = updated
		ready = readyCondition(node)
	}
	if ready != nil && ready.Status == corev1.ConditionUnknown {
		c.markPodsNotReady(ctx, node.Name, now)
	}
	taints, changed := reconcileTaints(node.Spec.Taints, wantedTaints(node), now)
	if !changed {
		return nil
	}
	fresh := node.DeepCopy()
	fresh.Spec.Taints = taints
	if _, err := c.client.CoreV1().Nodes().Update(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // the next pass sees the new version
		}
		return fmt.Errorf("update taints: %w", err)
	}
	return nil
}

// markUnknown sets the node's Ready and pressure conditions Unknown, as
// upstream does for a node whose kubelet went silent.
func (c *Controller) markUnknown(ctx context.Context, node *corev1.Node, now time.Time) (*corev1.Node, error) {
	fresh := node.DeepCopy()
	for _, t := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		i := conditionIndex(fresh.Status.Conditions, t)
		if i < 0 {
			fresh.Status.Conditions = append(fresh.Status.Conditions, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: ReasonNodeStatusNeverUpdated, Message: MessageNodeStatusNeverUpdated,
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: metaTime(now),
			})
			continue
		}
		cond := &fresh.Status.Conditions[i]
		if cond.Status != corev1.ConditionUnknown {
			cond.Status, cond.LastTransitionTime = corev1.ConditionUnknown, metaTime(now)
		}
		cond.Reason, cond.Message = ReasonNodeStatusUnknown, MessageNodeStatusUnknown
	}
	out, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return nil, fmt.Errorf("mark node status unknown: %w", err)
	}
	return out, nil
}

func conditionIndex(conds []corev1.NodeCondition, t corev1.NodeConditionType) int {
	for i := range conds {
		if conds[i].Type == t {
			return i
		}
	}
	return -1
}

// markPodsNotReady turns the Ready condition of the node's live pods
// False, as upstream's MarkPodsNotReady: nobody vouches for them any more.
// Failures are retried on the next pass.
func (c *Controller) markPodsNotReady(ctx context.Context, node string, now time.Time) {
	for _, p := range c.podsOnNode(node) {
		if podutil.IsPodTerminal(p) {
			continue
		}
		i, ready := podutil.GetPodCondition(&p.Status, corev1.PodReady)
		if ready == nil || ready.Status == corev1.ConditionFalse {
			continue
		}
		fresh := p.DeepCopy()
		cond := &fresh.Status.Conditions[i]
		cond.Status, cond.LastTransitionTime = corev1.ConditionFalse, metaTime(now)
		_, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
			c.log.Warn("mark pod not ready", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
}

// --- pod eviction ----------------------------------------------------------

func (c *Controller) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.cancel(ctx, key, nil)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		c.cancel(ctx, key, nil)
		return nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		c.cancel(ctx, key, nil)
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now()
	if pod.DeletionTimestamp != nil {
		c.cancel(ctx, key, nil)
		return c.finishOnLostNode(ctx, key, pod, node, now)
	}
	if podutil.IsPodTerminal(pod) {
		c.cancel(ctx, key, nil)
		return nil
	}

	if taints := noExecuteTaints(node.Spec.Taints); len(taints) > 0 {
		c.mu.Lock()
		p, scheduled := c.pending[key]
		c.mu.Unlock()
		since := now
		if scheduled {
			since = p.since
		}
		at, evict := EvictionTime(taints, pod.Spec.Tolerations, since)
		switch {
		case evict && !at.After(now):
			return c.evict(ctx, key, pod, node, ReasonDeletionByTaintManager, "Taint manager: deleting due to NoExecute taint",
				EventTaintManagerEviction, fmt.Sprintf("Marking for deletion Pod %s", key), "taint-eviction-controller")
		case evict:
			c.mu.Lock()
			c.pending[key] = pendingEviction{since: since, at: at}
			c.mu.Unlock()
			c.queue.AddAfter(key, at.Sub(now))
			if !scheduled || !p.at.Equal(at) {
				c.log.Debug("eviction scheduled", "pod", key, "node", node.Name, "at", at)
			}
		default:
			c.cancel(ctx, key, pod)
		}
	} else {
		c.cancel(ctx, key, pod)
	}

	sel, err := scheduler.RequiredDuringExecution(pod)
	if err != nil {
		c.log.Warn("ignoring unparsable node selector", "pod", key, "err", err)
		return nil
	}
	if sel != nil {
		if !scheduler.NodeMatches(sel, node) {
			return c.evict(ctx, key, pod, node, ReasonDeletionByRequiredNodeAffinity,
				fmt.Sprintf("Node %s no longer matches the pod's required node affinity during execution", node.Name),
				EventNodeAffinityEviction, fmt.Sprintf("Marking for deletion Pod %s: node %s no longer matches its required node affinity", key, node.Name), "node-controller")
		}
	}
	return nil
}

// cancel drops a scheduled taint eviction; with pod, it tells the pod.
func (c *Controller) cancel(ctx context.Context, key string, pod *corev1.Pod) {
	c.mu.Lock()
	_, scheduled := c.pending[key]
	delete(c.pending, key)
	c.mu.Unlock()
	if scheduled && pod != nil {
		c.log.Debug("eviction cancelled", "pod", key)
		c.event(ctx, pod, corev1.EventTypeNormal, EventTaintManagerEviction, fmt.Sprintf("Cancelling deletion of Pod %s", key), "taint-eviction-controller")
	}
}

// evict marks pod as a disruption target, records an Event, and deletes
// it with its own grace period.
func (c *Controller) evict(ctx context.Context, key string, pod *corev1.Pod, node *corev1.Node, reason, message, eventReason, eventMessage, component string) error {
	i, target := podutil.GetPodCondition(&pod.Status, corev1.DisruptionTarget)
	if target == nil || target.Status != corev1.ConditionTrue || target.Reason != reason {
		fresh := pod.DeepCopy()
		cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: metaTime(time.Now())}
		if i < 0 {
			fresh.Status.Conditions = append(fresh.Status.Conditions, cond)
		} else {
			fresh.Status.Conditions[i] = cond
		}
		if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("set DisruptionTarget condition: %w", err)
		}
	}
	c.log.Info("evicting pod", "pod", key, "node", node.Name, "reason", reason)
	c.event(ctx, pod, corev1.EventTypeNormal, eventReason, eventMessage, component)
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod: %w", err)
	}
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
	return nil
}

// finishOnLostNode completes the deletion of a terminating pod whose node
// is unknown, since no agent is left to do it: once the pod's grace
// period is over it is marked Failed (reason NodeLost) and force-deleted.
func (c *Controller) finishOnLostNode(ctx context.Context, key string, pod *corev1.Pod, node *corev1.Node, now time.Time) error {
	if readyStatus(node) != corev1.ConditionUnknown {
		return nil
	}
	if wait := pod.DeletionTimestamp.Time.Sub(now); wait > 0 {
		c.queue.AddAfter(key, wait+100*time.Millisecond)
		return nil
	}
	if !podutil.IsPodTerminal(pod) {
		fresh := pod.DeepCopy()
		fresh.Status.Phase = corev1.PodFailed
		fresh.Status.Reason = ReasonNodeLost
		fresh.Status.Message = fmt.Sprintf("Node %s which was running pod %s is unresponsive", node.Name, pod.Name)
		if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("mark pod failed: %w", err)
		}
	}
	c.log.Info("force-deleting pod on lost node", "pod", key, "node", node.Name)
	zero, uid := int64(0), pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("force-delete pod: %w", err)
	}
	return nil
}

// event records an Event on pod as component (node-controller or
// taint-eviction-controller); a failure only costs the Event.
func (c *Controller) event(_ context.Context, pod *corev1.Pod, typ, reason, message, component string) {
	rec := c.recorder
	if component == "taint-eviction-controller" {
		rec = c.taintRecorder
	}
	rec.Event(pod, typ, reason, message)
}
