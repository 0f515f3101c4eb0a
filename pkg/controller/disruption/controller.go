package disruption

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	listersv1 "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
)

const fieldManager = "flotilla-disruption"

// Config tunes the controller; zero fields take the defaults.
type Config struct {
	// DeletionTimeout is how long a pod recorded in disruptedPods counts
	// as gone before the eviction is considered to have failed
	// (DefaultDeletionTimeout).
	DeletionTimeout time.Duration
}

// Controller maintains PodDisruptionBudget status.
type Controller struct {
	client       kubernetes.Interface
	pdbs         policylisters.PodDisruptionBudgetLister
	pods         listersv1.PodLister
	rcs          listersv1.ReplicationControllerLister
	rss          appslisters.ReplicaSetLister
	deployments  appslisters.DeploymentLister
	statefulSets appslisters.StatefulSetLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string] // budget keys
	cfg          Config
	log          *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.DeletionTimeout <= 0 {
		cfg.DeletionTimeout = DefaultDeletionTimeout
	}
	pdbs, pods := factory.Policy().V1().PodDisruptionBudgets(), factory.Core().V1().Pods()
	rcs, rss := factory.Core().V1().ReplicationControllers(), factory.Apps().V1().ReplicaSets()
	deps, sts := factory.Apps().V1().Deployments(), factory.Apps().V1().StatefulSets()
	c := &Controller{
		client: client, pdbs: pdbs.Lister(), pods: pods.Lister(),
		rcs: rcs.Lister(), rss: rss.Lister(), deployments: deps.Lister(), statefulSets: sts.Lister(),
		synced: []cache.InformerSynced{
			pdbs.Informer().HasSynced, pods.Informer().HasSynced, rcs.Informer().HasSynced,
			rss.Informer().HasSynced, deps.Informer().HasSynced, sts.Informer().HasSynced,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "disruption"}),
		cfg:   cfg,
		log:   log.With("controller", "disruption"),
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = pdbs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.podChanged,
		UpdateFunc: func(o, n any) {
			c.podChanged(n)
			if op, ok := o.(*corev1.Pod); ok {
				if np, ok := n.(*corev1.Pod); ok && !labels.Equals(op.Labels, np.Labels) {
					c.podChanged(o) // budgets that selected the old labels
				}
			}
		},
		DeleteFunc: c.podChanged,
	})
	// A controller's replica count feeds the budgets of its namespace.
	byNamespace := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			c.enqueueNamespace(m.GetNamespace())
		}
	}
	scaleHandler := cache.ResourceEventHandlerFuncs{AddFunc: byNamespace, UpdateFunc: func(o, n any) {
		if replicas(o) != replicas(n) {
			byNamespace(n)
		}
	}, DeleteFunc: byNamespace}
	for _, inf := range []cache.SharedIndexInformer{rcs.Informer(), rss.Informer(), deps.Informer(), sts.Informer()} {
		_, _ = inf.AddEventHandler(scaleHandler)
	}
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func (c *Controller) podChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pdbs, err := c.pdbs.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if key, err := cache.MetaNamespaceKeyFunc(pdb); err == nil {
			c.queue.Add(key)
		}
	}
}

func (c *Controller) enqueueNamespace(ns string) {
	pdbs, err := c.pdbs.PodDisruptionBudgets(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		if key, err := cache.MetaNamespaceKeyFunc(pdb); err == nil {
			c.queue.Add(key)
		}
	}
}

// replicas is the spec.replicas of a scalable controller, -1 otherwise.
func replicas(obj any) int32 {
	var r *int32
	switch o := obj.(type) {
	case *corev1.ReplicationController:
		r = o.Spec.Replicas
	case *appsv1.ReplicaSet:
		r = o.Spec.Replicas
	case *appsv1.Deployment:
		r = o.Spec.Replicas
	case *appsv1.StatefulSet:
		r = o.Spec.Replicas
	default:
		return -1
	}
	if r == nil {
		return 1
	}
	return *r
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = c.trySync(ctx, key, pdb)
	if err == nil || apierrors.IsConflict(err) {
		return err
	}
	// Upstream's fail-safe: no disruption while the budget is unknown.
	if cond := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition); cond != nil &&
		cond.Reason == policyv1.SyncFailedReason && cond.Message == err.Error() && pdb.Status.DisruptionsAllowed == 0 {
		return nil // already recorded; a change to the budget, its pods or controllers retries
	}
	c.log.Warn("sync failed; allowing no disruption", "pdb", key, "err", err)
	fresh := pdb.DeepCopy()
	fresh.Status.DisruptionsAllowed = 0
	if fresh.Status.Conditions == nil {
		fresh.Status.Conditions = []metav1.Condition{}
	}
	apimeta.SetStatusCondition(&fresh.Status.Conditions, metav1.Condition{
		Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse, Reason: policyv1.SyncFailedReason,
		Message: err.Error(), ObservedGeneration: fresh.Status.ObservedGeneration,
	})
	if _, uerr := c.client.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); uerr != nil && !apierrors.IsNotFound(uerr) {
		return fmt.Errorf("record sync failure: %w", uerr)
	}
	return nil
}

func (c *Controller) trySync(ctx context.Context, key string, pdb *policyv1.PodDisruptionBudget) error {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return fmt.Errorf("selector: %w", err)
	}
	pods, err := c.pods.Pods(pdb.Namespace).List(sel)
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	expected, desired, unmanaged, err := expectedPodCount(pdb, pods, c.findScale)
	if err != nil {
		return fmt.Errorf("failed to calculate the number of expected pods: %w", err)
	}
	if len(unmanaged) > 0 {
		c.log.Debug("budget selects pods without a controller; set an integer minAvailable to count them", "pdb", key, "pods", unmanaged)
	}
	now := time.Now()
	disrupted, recheck, overdue := pruneDisrupted(pods, pdb.Status.DisruptedPods, now, c.cfg.DeletionTimeout)
	if len(overdue) > 0 {
		c.log.Info("pods expected to be deleted were not", "pdb", key, "pods", overdue)
	}
	healthy := countHealthy(pods, disrupted, now, c.cfg.DeletionTimeout)
	allowed := disruptionsAllowed(healthy, desired, expected)

	st := &pdb.Status
	if st.CurrentHealthy != healthy || st.DesiredHealthy != desired || st.ExpectedPods != expected ||
		st.DisruptionsAllowed != allowed || !sameTimes(st.DisruptedPods, disrupted) || !conditionsUpToDate(pdb) {
		fresh := pdb.DeepCopy()
		fresh.Status = policyv1.PodDisruptionBudgetStatus{
			CurrentHealthy: healthy, DesiredHealthy: desired, ExpectedPods: expected, DisruptionsAllowed: allowed,
			DisruptedPods: disrupted, ObservedGeneration: pdb.Generation, Conditions: fresh.Status.Conditions,
		}
		setDisruptionAllowed(fresh)
		if _, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			if apierrors.IsConflict(err) {
				return err
			}
			return fmt.Errorf("update status: %w", err)
		}
	}
	if !recheck.IsZero() {
		c.queue.AddAfter(key, recheck.Sub(now)+time.Second)
	}
	return nil
}

// findScale resolves a pod's controller reference to the controller that
// owns the replica count, as upstream's finders: a ReplicaSet controlled
// by a Deployment counts as the Deployment.
func (c *Controller) findScale(ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "", 0, false, nil
	}
	switch {
	case ref.Kind == "ReplicaSet" && (gv.Group == "apps" || gv.Group == "extensions"):
		rs, err := c.rss.ReplicaSets(ns).Get(ref.Name)
		if apierrors.IsNotFound(err) {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		if rs.UID != ref.UID {
			return "", 0, false, nil
		}
		if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == "Deployment" {
			d, err := c.deployments.Deployments(ns).Get(dref.Name)
			if apierrors.IsNotFound(err) {
				return "", 0, false, nil
			}
			if err != nil {
				return "", 0, false, err
			}
			if d.UID != dref.UID {
				return "", 0, false, nil
			}
			return d.UID, replicas(d), true, nil
		}
		return rs.UID, replicas(rs), true, nil
	case ref.Kind == "ReplicationController" && gv.Group == "":
		rc, err := c.rcs.ReplicationControllers(ns).Get(ref.Name)
		if apierrors.IsNotFound(err) {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		if rc.UID != ref.UID {
			return "", 0, false, nil
		}
		return rc.UID, replicas(rc), true, nil
	case ref.Kind == "StatefulSet" && gv.Group == "apps":
		ss, err := c.statefulSets.StatefulSets(ns).Get(ref.Name)
		if apierrors.IsNotFound(err) {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		if ss.UID != ref.UID {
			return "", 0, false, nil
		}
		return ss.UID, replicas(ss), true, nil
	}
	return "", 0, false, nil
}
