package daemonset

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/refmanager"
	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

const fieldManager = "flotilla-daemonset"

// Event reasons, as upstream's.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedCreate     = "FailedCreate"
	ReasonFailedDelete     = "FailedDelete"
	ReasonFailedDaemonPod  = "FailedDaemonPod"
	ReasonSelectingAll     = "SelectingAll"
)

// Back-off of a node's failed daemon pods: the first is replaced at once,
// then after 1 s, doubling up to 15 min.
const (
	failedPodBackoffInitial = time.Second
	failedPodBackoffMax     = 15 * time.Minute
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller reconciles DaemonSets.
type Controller struct {
	client    kubernetes.Interface
	dss       appslisters.DaemonSetLister
	pods      listersv1.PodLister
	nodes     listersv1.NodeLister
	revisions appslisters.ControllerRevisionLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string] // DaemonSet keys
	expect    *expectations
	backoff   *flowcontrol.Backoff   // failed pods, by DaemonSet UID and node
	recorder  eventrecorder.Recorder // set by Run
	log       *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	dss, pods := factory.Apps().V1().DaemonSets(), factory.Core().V1().Pods()
	nodes, revs := factory.Core().V1().Nodes(), factory.Apps().V1().ControllerRevisions()
	c := &Controller{
		client: client, dss: dss.Lister(), pods: pods.Lister(), nodes: nodes.Lister(), revisions: revs.Lister(),
		synced:   []cache.InformerSynced{dss.Informer().HasSynced, pods.Informer().HasSynced, nodes.Informer().HasSynced, revs.Informer().HasSynced},
		queue:    workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset"}),
		expect:   newExpectations(),
		backoff:  flowcontrol.NewBackOff(failedPodBackoffInitial, failedPodBackoffMax),
		recorder: eventrecorder.Discard(), // replaced by Run
		log:      log.With("controller", "daemonset"),
	}
	_, _ = dss.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, n any) { c.enqueue(n) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.expect.forget(key)
				c.queue.Add(key)
			}
		},
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podAdded,
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podDeleted,
	})
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(o, n any) {
			on, ok1 := o.(*corev1.Node)
			nn, ok2 := n.(*corev1.Node)
			if !ok1 || !ok2 || !labels.Equals(on.Labels, nn.Labels) || !equalJSON(on.Spec.Taints, nn.Spec.Taints) {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	revOwner := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if r, ok := obj.(*appsv1.ControllerRevision); ok {
			if ds := c.owner(r.Namespace, metav1.GetControllerOfNoCopy(r)); ds != nil {
				c.enqueue(ds)
			}
		}
	}
	_, _ = revs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: revOwner, DeleteFunc: revOwner})
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	rec, stopEvents := eventrecorder.Start(ctx, c.client, "daemonset-controller", "")
	defer stopEvents()
	c.recorder = rec
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // forget the back-off of nodes whose pods stopped failing
		defer wg.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.backoff.GC()
			}
		}
	}()
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
	wg.Wait()
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueAll() {
	all, err := c.dss.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		c.enqueue(ds)
	}
}

// owner resolves a controller reference to a DaemonSet in the cache.
func (c *Controller) owner(ns string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	ds, err := c.dss.DaemonSets(ns).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

// selecting are the DaemonSets of ns whose selector matches lbls: the
// candidates to adopt an orphan.
func (c *Controller) selecting(ns string, lbls map[string]string) []*appsv1.DaemonSet {
	all, err := c.dss.DaemonSets(ns).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.DaemonSet
	for _, ds := range all {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbls)) {
			continue
		}
		out = append(out, ds)
	}
	return out
}

func (c *Controller) podAdded(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		c.podDeleted(pod) // seen for the first time already on its way out
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ds := c.owner(pod.Namespace, ref); ds != nil {
			key, _ := cache.MetaNamespaceKeyFunc(ds)
			c.expect.created(key)
			c.queue.Add(key)
		}
		return
	}
	for _, ds := range c.selecting(pod.Namespace, pod.Labels) {
		c.enqueue(ds)
	}
}

func (c *Controller) podUpdated(o, n any) {
	old, ok1 := o.(*corev1.Pod)
	pod, ok2 := n.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == pod.ResourceVersion {
		return
	}
	if pod.DeletionTimestamp != nil {
		c.podDeleted(pod)
		return
	}
	oldRef, ref := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(pod)
	if oldRef != nil && (ref == nil || oldRef.UID != ref.UID) {
		if ds := c.owner(old.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if ref != nil {
		if ds := c.owner(pod.Namespace, ref); ds != nil {
			c.enqueue(ds)
		}
		return
	}
	if !labels.Equals(old.Labels, pod.Labels) || oldRef != nil {
		for _, ds := range c.selecting(pod.Namespace, pod.Labels) {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) podDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if ds := c.owner(pod.Namespace, metav1.GetControllerOfNoCopy(pod)); ds != nil {
		key, _ := cache.MetaNamespaceKeyFunc(ds)
		c.expect.deleted(key, pod.UID)
		c.queue.Add(key)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.dss.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if ds.DeletionTimestamp != nil {
		return nil // the garbage collector takes the pods
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil // validation keeps these out; nothing to retry
	}
	if sel.Empty() {
		c.recorder.Event(ds, corev1.EventTypeWarning, ReasonSelectingAll, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	pods, err := c.claimPods(ctx, ds, sel)
	if err != nil {
		return err
	}
	cur, old, err := c.history(ctx, ds, sel)
	if err != nil {
		return err
	}
	hash := cur.Labels[appsv1.ControllerRevisionHashLabelKey]
	byNode := podsByNode(pods)

	if c.expect.satisfied(key) {
		if err := c.manage(ctx, ds, key, nodes, byNode, hash); err != nil {
			return err
		}
		if c.expect.satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			if err := c.rollingUpdate(ctx, ds, key, nodes, byNode, hash); err != nil {
				return err
			}
		}
		if c.expect.satisfied(key) {
			if err := c.pruneHistory(ctx, ds, old, pods); err != nil {
				return err
			}
		}
	}
	return c.updateStatus(ctx, ds, key, nodes, byNode, hash)
}

// live reads ds from the API server, past the cache.
func (c *Controller) live(ds *appsv1.DaemonSet) refmanager.Getter {
	return func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	}
}

// current rereads ds past the cache and reports whether it still exists as
// the same object (UID) and is not being deleted.
func (c *Controller) current(ctx context.Context, ds *appsv1.DaemonSet) (bool, error) {
	current, err := refmanager.Current(ctx, ds, c.live(ds))
	if err != nil {
		return false, fmt.Errorf("recheck daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return current, nil
}

// asOwner is ds as the owner of what it claims (refmanager.Claim).
func (c *Controller) asOwner(ds *appsv1.DaemonSet, sel labels.Selector) refmanager.Owner {
	return refmanager.Owner{Object: ds, Kind: controllerKind, Selector: sel, Get: c.live(ds), Log: c.log}
}

// claimPods returns the pods ds controls, adopting orphans its selector
// matches and releasing owned pods it no longer matches.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return refmanager.Claim(ctx, c.asOwner(ds, sel), refmanager.Pods(c.client, fieldManager), all)
}

// podsByNode groups pods by the node they are for; pods both deleted and
// terminal are left out (they are as good as gone), as are pods for no
// particular node.
func podsByNode(pods []*corev1.Pod) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil && podutil.IsPodTerminal(p) {
			continue
		}
		if n := targetNode(p); n != "" {
			out[n] = append(out[n], p)
		}
	}
	for _, ps := range out {
		sortPods(ps)
	}
	return out
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
