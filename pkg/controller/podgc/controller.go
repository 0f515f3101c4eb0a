package podgc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// Upstream's defaults.
const (
	// DefaultThreshold is --terminated-pod-gc-threshold.
	DefaultThreshold = 12500
	// DefaultPeriod is how often the collector looks.
	DefaultPeriod = 20 * time.Second
	// DefaultQuarantine is how long a pod's Node must have been missing
	// before the pod is deleted: an informer may lag behind a Node just
	// created.
	DefaultQuarantine = 40 * time.Second
	// deleteWorkers delete terminated pods in parallel.
	deleteWorkers = 20
	fieldManager  = "PodGC"
	// ReasonDeletionByPodGC is the DisruptionTarget reason of a pod
	// deleted because its Node is gone.
	ReasonDeletionByPodGC = "DeletionByPodGC"
)

// Config tunes the collector; zero fields take upstream's defaults.
type Config struct {
	// Threshold is how many terminated pods may exist before the oldest
	// are deleted (negative: never).
	Threshold  int
	Period     time.Duration
	Quarantine time.Duration
	Clock      clock.WithTicker
}

// Controller collects pods nothing else will remove.
type Controller struct {
	client kubernetes.Interface
	pods   listersv1.PodLister
	nodes  listersv1.NodeLister
	synced []cache.InformerSynced
	cfg    Config
	log    *slog.Logger
	// missing holds the names of Nodes pods are bound to but that the
	// informer does not know, each until its quarantine ends.
	missing workqueue.TypedDelayingInterface[string]
}

// New builds the collector on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Quarantine <= 0 {
		cfg.Quarantine = DefaultQuarantine
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	pods, nodes := factory.Core().V1().Pods(), factory.Core().V1().Nodes()
	return &Controller{
		client: client, pods: pods.Lister(), nodes: nodes.Lister(),
		synced: []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		cfg:    cfg,
		log:    log.With("controller", "podgc"),
		missing: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{
			Name: "orphaned_pods_nodes", Clock: cfg.Clock}),
	}
}

// Run collects every period until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer c.missing.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	t := c.cfg.Clock.NewTicker(c.cfg.Period)
	defer t.Stop()
	for {
		c.collect(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// collect is one pass, in upstream's order.
func (c *Controller) collect(ctx context.Context) {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		c.log.Error("list pods", "err", err)
		return
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.log.Error("list nodes", "err", err)
		return
	}
	if c.cfg.Threshold > 0 {
		c.collectTerminated(ctx, pods)
	}
	c.collectOrphaned(ctx, pods, nodes)
	c.collectUnscheduledTerminating(ctx, pods)
}

// collectTerminated deletes the terminated pods above the threshold:
// evicted ones first, then the oldest.
func (c *Controller) collectTerminated(ctx context.Context, pods []*corev1.Pod) {
	var done []*corev1.Pod
	for _, p := range pods {
		if podutil.IsPodTerminal(p) {
			done = append(done, p)
		}
	}
	excess := len(done) - c.cfg.Threshold
	if excess <= 0 {
		return
	}
	sort.SliceStable(done, func(i, j int) bool {
		ei, ej := done[i].Status.Reason == "Evicted", done[j].Status.Reason == "Evicted"
		if ei != ej {
			return ei
		}
		ti, tj := done[i].CreationTimestamp, done[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return done[i].Namespace+"/"+done[i].Name < done[j].Namespace+"/"+done[j].Name
	})
	c.log.Info("garbage collecting terminated pods", "count", excess, "threshold", c.cfg.Threshold)
	work := make(chan *corev1.Pod)
	var wg sync.WaitGroup
	for range min(deleteWorkers, excess) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if err := c.failAndDelete(ctx, p, nil); err != nil {
					c.log.Warn("delete terminated pod", "pod", p.Namespace+"/"+p.Name, "err", err)
				}
			}
		}()
	}
	for _, p := range done[:excess] {
		work <- p
	}
	close(work)
	wg.Wait()
}

// collectOrphaned deletes the pods of Nodes that are gone: a Node the
// informer misses is quarantined first, then confirmed gone by a GET.
func (c *Controller) collectOrphaned(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	known := sets.New[string]()
	for _, n := range nodes {
		known.Insert(n.Name)
	}
	for _, p := range pods {
		if p.Spec.NodeName != "" && !known.Has(p.Spec.NodeName) {
			c.missing.AddAfter(p.Spec.NodeName, c.cfg.Quarantine)
		}
	}
	gone := sets.New[string]()
	for c.missing.Len() > 0 {
		name, quit := c.missing.Get()
		if quit {
			return
		}
		c.missing.Done(name)
		if known.Has(name) {
			continue
		}
		exists, err := c.nodeExists(ctx, name)
		switch {
		case err != nil:
			c.log.Warn("check whether node exists", "node", name, "err", err)
		case !exists:
			gone.Insert(name)
		}
	}
	if gone.Len() == 0 {
		return
	}
	cond := &corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: ReasonDeletionByPodGC, Message: "PodGC: node no longer exists",
	}
	for _, p := range pods {
		if !gone.Has(p.Spec.NodeName) {
			continue
		}
		c.log.Info("deleting orphaned pod of a node that no longer exists", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
		if err := c.failAndDelete(ctx, p, cond); err != nil {
			c.log.Warn("delete orphaned pod", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
}

// nodeExists asks the API, not the informer: the informer may not have
// seen a Node created a moment ago.
func (c *Controller) nodeExists(ctx context.Context, name string) (bool, error) {
	_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// collectUnscheduledTerminating deletes at once the pods being deleted
// that were never bound: no node agent will ever finish them.
func (c *Controller) collectUnscheduledTerminating(ctx context.Context, pods []*corev1.Pod) {
	for _, p := range pods {
		if p.DeletionTimestamp == nil || p.Spec.NodeName != "" {
			continue
		}
		c.log.Info("deleting unscheduled terminating pod", "pod", p.Namespace+"/"+p.Name)
		if err := c.failAndDelete(ctx, p, nil); err != nil {
			c.log.Warn("delete unscheduled terminating pod", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
}

// failAndDelete marks a pod that has not finished Failed (with cond, if
// any), as upstream does so that its owner counts it as failed, then
// deletes it at once.
func (c *Controller) failAndDelete(ctx context.Context, pod *corev1.Pod, cond *corev1.PodCondition) error {
	if !podutil.IsPodTerminal(pod) {
		// A strategic merge patch: no resourceVersion to lose a race on,
		// and the condition merges into the others by type.
		st := map[string]any{"phase": corev1.PodFailed}
		if cond != nil {
			cond := *cond
			cond.LastTransitionTime = metav1.NewTime(c.cfg.Clock.Now())
			st["conditions"] = []corev1.PodCondition{cond}
		}
		patch, err := json.Marshal(map[string]any{"status": st})
		if err != nil {
			return err
		}
		_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}, "status")
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mark pod failed: %w", err)
		}
	}
	zero, uid := int64(0), pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod: %w", err)
	}
	return nil
}
