package statefulset

import (
	"context"
	"fmt"
	"log/slog"
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
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/refmanager"
	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

const fieldManager = "flotilla-statefulset"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller reconciles StatefulSets.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.StatefulSetLister
	pods      listersv1.PodLister
	claims    listersv1.PersistentVolumeClaimLister
	revisions appslisters.ControllerRevisionLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string] // set keys
	recorder  eventrecorder.Recorder                       // set by Run
	log       *slog.Logger
	recreated recreations // back-off of finished pods' replacements
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	sets, pods := factory.Apps().V1().StatefulSets(), factory.Core().V1().Pods()
	pvcs, revs := factory.Core().V1().PersistentVolumeClaims(), factory.Apps().V1().ControllerRevisions()
	c := &Controller{
		client: client, sets: sets.Lister(), pods: pods.Lister(), claims: pvcs.Lister(), revisions: revs.Lister(),
		synced: []cache.InformerSynced{sets.Informer().HasSynced, pods.Informer().HasSynced, pvcs.Informer().HasSynced, revs.Informer().HasSynced},
		queue:  workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset"}),
		log:    log.With("controller", "statefulset"),
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = sets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.objectChanged,
		UpdateFunc: func(o, n any) {
			c.objectChanged(n)
			om, ok1 := o.(metav1.Object)
			nm, ok2 := n.(metav1.Object)
			if ok1 && ok2 && (!labels.Equals(om.GetLabels(), nm.GetLabels()) || !sameController(om, nm)) {
				c.objectChanged(o) // the set it may have left
			}
		},
		DeleteFunc: c.objectChanged,
	})
	_, _ = revs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.objectChanged})
	return c
}

func sameController(a, b metav1.Object) bool {
	ra, rb := metav1.GetControllerOf(a), metav1.GetControllerOf(b)
	if ra == nil || rb == nil {
		return ra == rb
	}
	return ra.UID == rb.UID
}

// objectChanged queues the set controlling a pod or revision or, for an
// orphan pod, every set that could adopt it.
func (c *Controller) objectChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(m); ref != nil {
		if ref.Kind != controllerKind.Kind {
			return
		}
		if set, err := c.sets.StatefulSets(m.GetNamespace()).Get(ref.Name); err == nil && set.UID == ref.UID {
			c.queue.Add(m.GetNamespace() + "/" + set.Name)
		}
		return
	}
	if _, isPod := obj.(*corev1.Pod); !isPod || m.GetDeletionTimestamp() != nil {
		return
	}
	sets, err := c.sets.StatefulSets(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range sets {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(m.GetLabels())) {
			c.queue.Add(set.Namespace + "/" + set.Name)
		}
	}
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	rec, stopEvents := eventrecorder.Start(ctx, c.client, "statefulset-controller", "")
	defer stopEvents()
	c.recorder = rec
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.syncKey, c.log)
}

// syncKey syncs the key and, on success, schedules the requeue sync asks for.
func (c *Controller) syncKey(ctx context.Context, key string) error {
	requeue, err := c.sync(ctx, key)
	if err != nil {
		return err
	}
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return nil
}

// sync reconciles one set; a positive duration asks for another look
// then (pods becoming available after minReadySeconds, a lagging cache).
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	set, err := c.sets.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.recreated.forget(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		c.log.Warn("invalid selector; ignoring the set", "statefulset", key, "err", err)
		return 0, nil
	}
	pods, err := c.claimPods(ctx, set, sel)
	if err != nil {
		return 0, err
	}
	revisions, err := c.ownedRevisions(ctx, set, sel)
	if err != nil {
		return 0, err
	}
	current, update, collisions, err := c.syncRevisions(ctx, set, revisions)
	if err != nil {
		return 0, err
	}
	if update.Revision > maxRevision(revisions) {
		revisions = append(revisions, update)
	}
	var requeue time.Duration
	if set.DeletionTimestamp == nil {
		if requeue, err = c.reconcilePods(ctx, set, current, update, pods); err != nil {
			return 0, err
		}
	}
	st := computeStatus(set, pods, current, update, collisions, time.Now())
	if wait := availableAfter(set, pods, time.Now()); wait > 0 && (requeue == 0 || wait < requeue) {
		requeue = wait
	}
	if err := c.updateStatus(ctx, set, st); err != nil {
		return 0, err
	}
	if err := c.truncateHistory(ctx, set, pods, revisions, current, update); err != nil {
		return 0, err
	}
	return requeue, nil
}

func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	st.Conditions = set.Status.Conditions
	if statusEqual(set.Status, st) {
		return nil
	}
	fresh := set.DeepCopy()
	fresh.Status = st
	if _, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}

// claimPods returns the member pods the set controls, adopting orphans
// and releasing pods that no longer belong (refmanager.Claim).
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	pods := refmanager.Pods(c.client, fieldManager)
	pods.Filter = func(pod *corev1.Pod) bool { return isMemberOf(set, pod) }
	return refmanager.Claim(ctx, c.asOwner(set, sel), pods, all)
}

// asOwner is set as the owner of what it claims.
func (c *Controller) asOwner(set *appsv1.StatefulSet, sel labels.Selector) refmanager.Owner {
	return refmanager.Owner{Object: set, Kind: controllerKind, Selector: sel, Get: c.live(set), Log: c.log}
}

// live reads set from the API server, past the cache.
func (c *Controller) live(set *appsv1.StatefulSet) refmanager.Getter {
	return func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	}
}

// stillCurrent re-reads the set from the API server, as upstream does
// before adopting, so that a set deleted or replaced meanwhile (the cache
// may lag) adopts and creates nothing.
func (c *Controller) stillCurrent(ctx context.Context, set *appsv1.StatefulSet) (bool, error) {
	current, err := refmanager.Current(ctx, set, c.live(set))
	if err != nil {
		return false, fmt.Errorf("recheck set: %w", err)
	}
	return current, nil
}
