package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// SchedulerName is the schedulerName this scheduler serves (besides "").
const SchedulerName = "default-scheduler"

// Scheduler binds pending pods to nodes.
type Scheduler struct {
	client     kubernetes.Interface
	pods       listersv1.PodLister
	nodes      listersv1.NodeLister
	namespaces listersv1.NamespaceLister
	classes    schedulinglisters.PriorityClassLister
	synced     []cache.InformerSynced
	queue      *schedulingQueue
	cache      *schedulerCache
	log        *slog.Logger
	now        func() time.Time
	// recorder records the scheduler's Events (set by Run).
	recorder eventrecorder.Recorder
	// Used by the scheduling goroutine only: the snapshot it keeps up to
	// date, the sampling state, and the binders' queue Run sets up.
	snap  *Snapshot
	algo  *algorithm
	binds chan bindJob
}

// Pool sizes: bindings are written by goroutines Run owns, so the
// scheduling loop never waits for the API server unless all binders are
// busy (Events are written by the recorder's own writer).
const (
	bindWorkers   = 32
	bindQueueSize = 256
)

// bindJob is a pod assumed on node, waiting for its binding POST.
type bindJob struct {
	qp   *queuedPod
	pod  *v1.Pod
	node string
}

// New builds the scheduler on a shared informer factory (the caller starts
// the factory).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Scheduler {
	pods, nodes := factory.Core().V1().Pods(), factory.Core().V1().Nodes()
	namespaces, classes := factory.Core().V1().Namespaces(), factory.Scheduling().V1().PriorityClasses()
	s := &Scheduler{
		client: client, pods: pods.Lister(), nodes: nodes.Lister(), namespaces: namespaces.Lister(), classes: classes.Lister(),
		synced:   []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced, namespaces.Informer().HasSynced, classes.Informer().HasSynced},
		queue:    newSchedulingQueue(time.Now),
		cache:    newSchedulerCache(time.Now),
		log:      log.With("component", SchedulerName),
		now:      time.Now,
		recorder: eventrecorder.Discard(),
		snap:     &Snapshot{},
		algo:     &algorithm{rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))},
	}
	claims, volumes, storageClasses := factory.Core().V1().PersistentVolumeClaims(), factory.Core().V1().PersistentVolumes(), factory.Storage().V1().StorageClasses()
	s.synced = append(s.synced, claims.Informer().HasSynced, volumes.Informer().HasSynced, storageClasses.Informer().HasSynced)
	lookup := &volumeLookup{claims: claims.Lister(), volumes: volumes.Lister(), classes: storageClasses.Lister()}
	s.snap.Volumes = lookup.constraint
	// A claim bound or a volume made may let a waiting pod in.
	volumeChanged := cache.ResourceEventHandlerFuncs{AddFunc: func(any) { s.queue.MoveAll() }, UpdateFunc: func(any, any) { s.queue.MoveAll() }}
	_, _ = claims.Informer().AddEventHandler(volumeChanged)
	_, _ = volumes.Informer().AddEventHandler(volumeChanged)
	s.snap.NamespaceLabels = func(ns string) map[string]string {
		if n, err := s.namespaces.Get(ns); err == nil {
			return n.Labels
		}
		return nil
	}
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: s.podAdded, UpdateFunc: s.podUpdated, DeleteFunc: s.podDeleted})
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*v1.Node); ok {
				s.cache.AddNode(n)
			}
			s.queue.MoveAll()
		},
		UpdateFunc: func(o, n any) {
			old, ok1 := o.(*v1.Node)
			cur, ok2 := n.(*v1.Node)
			if !ok1 || !ok2 {
				return
			}
			s.cache.AddNode(cur)
			if nodeChangeMatters(old, cur) {
				s.queue.MoveAll()
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if n, ok := obj.(*v1.Node); ok {
				s.cache.RemoveNode(n.Name)
			}
		},
	})
	_, _ = namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(o, n any) {
			old, ok1 := o.(*v1.Namespace)
			cur, ok2 := n.(*v1.Namespace)
			if ok1 && ok2 && !labels.Equals(old.Labels, cur.Labels) {
				s.queue.MoveAll() // namespaceSelectors may match differently
			}
		},
	})
	return s
}

// Run schedules until ctx ends (waits for cache sync first). It owns
// the binding and event writers and waits for them before returning.
func (s *Scheduler) Run(ctx context.Context) {
	s.queue.Open()
	defer s.queue.Close()
	rec, stopEvents := eventrecorder.Start(ctx, s.client, SchedulerName, "")
	defer stopEvents()
	s.recorder = rec
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return
	}
	s.log.Info("scheduler started")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(flushInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.queue.Close() // wakes the loop below
				return
			case <-t.C:
				if s.cache.CleanupExpired() {
					s.queue.MoveAll() // their room is free
				}
				s.queue.Flush()
			}
		}
	}()
	binds := make(chan bindJob, bindQueueSize)
	s.binds = binds
	var binders sync.WaitGroup
	for range bindWorkers {
		binders.Add(1)
		go func() {
			defer binders.Done()
			for j := range binds {
				s.bind(ctx, j)
			}
		}()
	}
	for s.scheduleOne(ctx) {
	}
	close(binds)
	binders.Wait()
	wg.Wait()
	s.log.Info("scheduler stopped")
}

// responsible: the pod waits for this scheduler.
func responsible(pod *v1.Pod) bool {
	return pod.Spec.NodeName == "" && (pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == SchedulerName) &&
		podutil.IsPodActive(pod)
}

func podKey(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

func asPod(obj any) (*v1.Pod, bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	p, ok := obj.(*v1.Pod)
	return p, ok
}

func (s *Scheduler) podAdded(obj any) {
	pod, ok := asPod(obj)
	if !ok {
		return
	}
	s.cache.TrackNominated(pod)
	if pod.Spec.NodeName != "" {
		s.cache.AddPod(pod)
	}
	if responsible(pod) {
		s.queue.Add(pod, podKey(pod), s.priority(pod), false)
		return
	}
	if pod.Spec.NodeName != "" && !podutil.IsPodTerminal(pod) {
		s.queue.MoveAll() // a new neighbour may satisfy affinity or spreading
	}
}

func (s *Scheduler) podUpdated(o, n any) {
	old, ok1 := asPod(o)
	pod, ok2 := asPod(n)
	if !ok1 || !ok2 {
		return
	}
	s.cache.TrackNominated(pod)
	if pod.Spec.NodeName != "" {
		s.cache.AddPod(pod) // confirms an assumption; a finished pod leaves
	}
	if responsible(pod) {
		s.queue.Add(pod, podKey(pod), s.priority(pod), podChangeMatters(old, pod))
		return
	}
	s.queue.Delete(podKey(pod))
	switch {
	case old.Spec.NodeName != pod.Spec.NodeName,
		pod.Spec.NodeName != "" && podutil.IsPodTerminal(pod) != podutil.IsPodTerminal(old),
		pod.Spec.NodeName != "" && !labels.Equals(old.Labels, pod.Labels):
		s.queue.MoveAll()
	}
}

func (s *Scheduler) podDeleted(obj any) {
	pod, ok := asPod(obj)
	if !ok {
		return
	}
	s.queue.Delete(podKey(pod))
	wasAssumed := s.cache.RemovePod(pod)
	if pod.Spec.NodeName != "" || wasAssumed {
		s.queue.MoveAll() // its room is free
	}
}

// podChangeMatters: something that can change where a pod fits changed
// (not just its status, as when we mark it unschedulable).
func podChangeMatters(old, cur *v1.Pod) bool {
	strip := func(p *v1.Pod) *v1.Pod {
		c := p.DeepCopy()
		c.ResourceVersion, c.Generation, c.ManagedFields, c.Status = "", 0, nil, v1.PodStatus{}
		return c
	}
	a, b := strip(old), strip(cur)
	return !apiequality.Semantic.DeepEqual(a, b)
}

// nodeChangeMatters: a node change that can let a pod in (not a
// heartbeat).
func nodeChangeMatters(old, cur *v1.Node) bool {
	return !labels.Equals(old.Labels, cur.Labels) ||
		!apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) ||
		!apiequality.Semantic.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable) ||
		readyStatus(old) != readyStatus(cur) ||
		len(old.Status.Images) != len(cur.Status.Images)
}

func readyStatus(n *v1.Node) v1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status
		}
	}
	return v1.ConditionUnknown
}

// priority resolves the pod's priority from its PriorityClass.
func (s *Scheduler) priority(pod *v1.Pod) int32 {
	p, _ := s.priorityAndPolicy(pod)
	return p
}

func (s *Scheduler) priorityAndPolicy(pod *v1.Pod) (int32, v1.PreemptionPolicy) {
	if pod.Spec.Priority != nil && pod.Spec.PreemptionPolicy != nil {
		return *pod.Spec.Priority, *pod.Spec.PreemptionPolicy
	}
	classes, err := s.classes.List(labels.Everything())
	if err != nil {
		s.log.Warn("list priority classes", "err", err)
	}
	return priorityOf(pod, classes)
}

// snapshot is the cluster for scheduling pod: the cache's assigned and
// assumed pods, plus the pods nominated to nodes with at least pod's
// priority, which hold their room.
func (s *Scheduler) snapshot(pod *v1.Pod, prio int32) *Snapshot {
	s.cache.UpdateSnapshot(s.snap)
	nominated := map[string][]*v1.Pod{}
	for _, p := range s.cache.Nominated() {
		if n := p.Status.NominatedNodeName; p.UID != pod.UID && s.priority(p) >= prio {
			nominated[n] = append(nominated[n], p)
		}
	}
	if len(nominated) == 0 {
		return s.snap
	}
	var changed []*NodeInfo
	for name, ps := range nominated {
		if ni := s.snap.Node(name); ni != nil {
			changed = append(changed, ni.with(ps...))
		}
	}
	return s.snap.replace(changed...)
}

// scheduleOne tries the next pod; false when the queue is closed.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	qp, cycle, ok := s.queue.Pop()
	if !ok {
		return false
	}
	pod, err := s.pods.Pods(qp.pod.Namespace).Get(qp.pod.Name)
	if err != nil || pod.UID != qp.pod.UID || !responsible(pod) || s.cache.IsAssumed(pod.UID) {
		return true // gone, placed or taken over meanwhile
	}
	prio, policy := s.priorityAndPolicy(pod)
	snap := s.snapshot(pod, prio)
	node, fitErr := s.algo.schedule(pod, snap)
	if fitErr != nil {
		s.unschedulable(ctx, s.log.With("pod", podKey(pod)), qp, cycle, pod, prio, policy, snap, fitErr)
		return true
	}
	// Count the pod on its node from now on, and bind in the background.
	placed := pod.DeepCopy()
	placed.Spec.NodeName = node
	s.cache.Assume(placed)
	s.binds <- bindJob{qp: qp, pod: pod, node: node}
	return true
}

// bind POSTs an assumed pod's binding; on failure the assumption goes
// and the pod is retried (unless it was bound or deleted meanwhile).
func (s *Scheduler) bind(ctx context.Context, j bindJob) {
	pod, node := j.pod, j.node
	bctx, cancel := context.WithTimeout(ctx, writeTimeout)
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(bctx, &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	cancel()
	if err == nil {
		s.cache.FinishBinding(pod.UID)
		s.log.Debug("bound", "pod", podKey(pod), "node", node)
		s.event(pod, v1.EventTypeNormal, "Scheduled", "Binding", fmt.Sprintf("Successfully assigned %s to %s", podKey(pod), node))
		return
	}
	s.cache.Forget(pod.UID)
	s.queue.MoveAll() // pods judged while it held room may fit now
	if ctx.Err() != nil {
		return
	}
	err = fmt.Errorf("bind %s to %s: %w", podKey(pod), node, err)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		s.log.Info("binding refused", "pod", podKey(pod), "node", node, "err", err)
		return // assigned or deleted meanwhile: the informer will tell
	}
	s.log.Error("bind", "pod", podKey(pod), "node", node, "err", err)
	s.queue.Retry(j.qp)
	s.event(pod, v1.EventTypeWarning, "FailedScheduling", "Scheduling", fmt.Sprintf("Binding rejected: %v", err))
}

// unschedulable handles a pod that fits nowhere: try preemption, record
// why on the pod and in an event, and park it until the cluster changes.
func (s *Scheduler) unschedulable(ctx context.Context, log *slog.Logger, qp *queuedPod, cycle int64, pod *v1.Pod, prio int32, policy v1.PreemptionPolicy, snap *Snapshot, fitErr *FitError) {
	defer s.queue.Unschedulable(qp, cycle)
	nominate := ""
	if ok, why := eligibleToPreempt(pod, prio, policy, snap, s.priority); !ok {
		fitErr.PostFilterMsg = "preemption: " + why
		nominate = pod.Status.NominatedNodeName // keep waiting for the victims
	} else if cand, statuses := findPreemption(pod, prio, snap, fitErr.NodeStatus, s.priority); cand == nil {
		fitErr.PostFilterMsg = "preemption: " + (&FitError{NumAllNodes: len(snap.Nodes), NodeStatus: statuses}).Error()
	} else {
		nominate = cand.node
		if err := s.preempt(ctx, log, pod, cand); err != nil {
			log.Error("preempt", "node", cand.node, "err", err)
		}
	}
	msg := fitErr.Error()
	log.Info("unschedulable", "reason", msg)
	if err := s.markUnschedulable(ctx, pod, msg, nominate); err != nil && ctx.Err() == nil {
		log.Warn("update pod status", "err", err)
	}
	s.event(pod, v1.EventTypeWarning, "FailedScheduling", "Scheduling", msg)
}

// preempt deletes the victims so the preemptor fits on cand.node.
func (s *Scheduler) preempt(ctx context.Context, log *slog.Logger, preemptor *v1.Pod, cand *preemption) error {
	var errs []error
	for _, victim := range cand.victims {
		if err := s.markDisruptionTarget(ctx, victim); err != nil && !apierrors.IsNotFound(err) {
			log.Warn("mark preemption victim", "victim", podKey(victim), "err", err)
		}
		uid := victim.UID
		err := s.client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete victim %s: %w", podKey(victim), err))
			continue
		}
		log.Info("preempted", "victim", podKey(victim), "node", cand.node)
		s.event(victim, v1.EventTypeNormal, "Preempted", "Preempting", fmt.Sprintf("Preempted by pod %s on node %s", preemptor.UID, cand.node))
	}
	return errors.Join(errs...)
}
