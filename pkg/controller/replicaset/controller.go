package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

const (
	fieldManagerPrefix = "flotilla-"
	// burstReplicas caps the pods created or deleted in one sync
	// (upstream's BurstReplicas).
	burstReplicas = 500
)

// Controller reconciles the pods of ReplicaSets or of
// ReplicationControllers, whichever it was built for.
type Controller struct {
	client   kubernetes.Interface
	recorder eventrecorder.Recorder // set by Run
	kind     kind
	pods     listersv1.PodLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string] // workload keys
	exp      *expectations
	now      func() time.Time
	log      *slog.Logger
}

// New builds the ReplicaSet controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	return newController(client, factory, newReplicaSets(client, factory), log)
}

// NewReplicationController builds the ReplicationController controller on
// a shared informer factory.
func NewReplicationController(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	return newController(client, factory, newReplicationControllers(client, factory), log)
}

func newController(client kubernetes.Interface, factory informers.SharedInformerFactory, k kind, log *slog.Logger) *Controller {
	pods := factory.Core().V1().Pods()
	c := &Controller{
		recorder: eventrecorder.Discard(),
		client:   client, kind: k, pods: pods.Lister(),
		synced: []cache.InformerSynced{k.informer().HasSynced, pods.Informer().HasSynced},
		queue:  workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: k.name()}),
		now:    time.Now,
		log:    log.With("controller", k.name()),
	}
	c.exp = newExpectations(func() time.Time { return c.now() })
	_, _ = k.informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, n any) { c.enqueue(n) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.exp.forget(key)
				c.queue.Add(key)
			}
		},
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod})
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	rec, stopEvents := eventrecorder.Start(ctx, c.client, c.component(), "")
	defer stopEvents()
	c.recorder = rec
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func keyOf(m *metav1.ObjectMeta) string { return m.Namespace + "/" + m.Name }

// Pod events.

// owner resolves a controller reference to the workload it names, if it
// is of this controller's kind and still exists with that UID.
func (c *Controller) owner(ns string, ref *metav1.OwnerReference) *workload {
	gvk := c.kind.gvk()
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || ref.Kind != gvk.Kind || gv.Group != gvk.Group {
		return nil
	}
	w, err := c.kind.get(ns, ref.Name)
	if err != nil || w.meta.UID != ref.UID {
		return nil
	}
	return w
}

// matching lists the workloads of pod's namespace whose selector matches
// it: the candidates to adopt an orphan.
func (c *Controller) matching(pod *corev1.Pod) []*workload {
	all, err := c.kind.list(pod.Namespace)
	if err != nil {
		return nil
	}
	var out []*workload
	for _, w := range all {
		if w.selector != nil && w.selector.Matches(labels.Set(pod.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (e.g. after a
		// restart): it counts as a deletion.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if w := c.owner(pod.Namespace, ref); w != nil {
			key := keyOf(w.meta)
			c.exp.creationObserved(key)
			c.queue.Add(key)
		}
		return
	}
	for _, w := range c.matching(pod) {
		c.queue.Add(keyOf(w.meta))
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !labels.Equals(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// Graceful deletion began: the pod no longer counts, act now
		// rather than when it is finally removed.
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if w := c.owner(old.Namespace, oldRef); w != nil {
			c.queue.Add(keyOf(w.meta))
		}
	}
	if curRef != nil {
		if w := c.owner(cur.Namespace, curRef); w != nil {
			key := keyOf(w.meta)
			c.queue.Add(key)
			// Availability changes minReadySeconds after readiness
			// without any further event: look again then.
			if w.minReadySeconds > 0 && !podutil.IsPodReady(old) && podutil.IsPodReady(cur) {
				c.queue.AddAfter(key, time.Duration(w.minReadySeconds)*time.Second+time.Second)
			}
		}
		return
	}
	if labelsChanged || refChanged {
		for _, w := range c.matching(cur) {
			c.queue.Add(keyOf(w.meta))
		}
	}
}

func (c *Controller) deletePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return
	}
	if w := c.owner(pod.Namespace, ref); w != nil {
		key := keyOf(w.meta)
		c.exp.deletionObserved(key, pod.Namespace+"/"+pod.Name)
		c.queue.Add(key)
	}
}

// Sync.

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	w, err := c.kind.get(ns, name)
	if apierrors.IsNotFound(err) {
		c.exp.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if w.meta.DeletionTimestamp != nil {
		return nil // the garbage collector's now
	}
	if w.selector == nil {
		c.log.Debug("selector selects nothing", "key", key)
		return nil
	}
	// Read expectations before the cache: a pod observed in between is
	// then in the list too.
	needsSync := c.exp.satisfied(key)
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	var active []*corev1.Pod
	for _, p := range all {
		if podutil.IsPodActive(p) {
			active = append(active, p)
		}
	}
	owned, err := c.claim(ctx, w, active)
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync {
		manageErr = c.manage(ctx, key, w, owned, all)
	}
	st := c.computeStatus(w, owned, all, needsSync, manageErr)
	if err := c.writeStatus(ctx, w, st); err != nil {
		return err
	}
	if manageErr == nil && w.minReadySeconds > 0 && st.ready == w.replicas && st.available != w.replicas {
		c.queue.AddAfter(key, time.Duration(w.minReadySeconds)*time.Second)
	}
	return manageErr
}
