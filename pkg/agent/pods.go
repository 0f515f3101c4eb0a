package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
)

// relistEvery is how often the runtime's state is compared with the pods,
// which is how container exits are noticed.
const relistEvery = time.Second

type podController struct {
	a      *Agent
	pods   listersv1.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
	synced cache.InformerSynced

	// Runtime state seen at the last relist, by pod key, and when every
	// pod was last queued regardless of change.
	lastState  map[string]string
	lastResync time.Time
}

// resyncEvery is how often a pod whose runtime state did not change is
// reconciled anyway (back-off expiry, deadlines, volume refresh).
const resyncEvery = 5 * time.Second

// runPods runs the pod reconcilers until ctx ends.
func (a *Agent) runPods(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(a.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
	}))
	inf := factory.Core().V1().Pods()
	pc := &podController{
		a:      a,
		pods:   inf.Lister(),
		queue:  workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second)),
		synced: inf.Informer().HasSynced,
	}
	// Probe results change readiness: the pod's status is rewritten.
	defer a.probes.attach(ctx, func(key string) { pc.queue.Add(key) })()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			pc.queue.Add(key)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue}); err != nil {
		return err
	}
	node := a.watchNode()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	node.factory.Start(ctx.Done())
	defer node.factory.Shutdown()
	defer pc.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), pc.synced, node.synced) {
		return ctx.Err()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// The static pods are known before mirror pods are judged orphans.
	sw := staticpods.NewWatcher(a.static, staticpods.WatcherConfig{
		Dir: a.cfg.StaticPodPath, URL: a.cfg.ManifestURL, NodeName: a.cfg.NodeName, Events: a.events, Log: a.log,
		Changed: func(keys []string) {
			for _, k := range keys {
				pc.queue.Add(k)
			}
		},
	})
	sw.Load(ctx)
	if err := a.startAdmission(ctx, pc.pods, node.lister); err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sw.Run(ctx)
	}()
	// More than a few concurrent sandbox starts only adds latency here.
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pc.next(ctx) {
			}
		}()
	}
	t := time.NewTicker(relistEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			pc.queue.ShutDown()
			return nil
		case <-t.C:
			pc.relist(ctx)
		}
	}
}

// relist queues every pod the runtime knows of and every pod bound here,
// so exits, crashes and orphans are seen within a second.
func (pc *podController) relist(ctx context.Context) {
	rt := pc.a.runtime.Runtime
	sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		pc.a.log.Warn("list sandboxes", "err", err)
		return
	}
	ctrs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		pc.a.log.Warn("list containers", "err", err)
		return
	}
	// A pod's runtime state in one string: its sandboxes' and containers'
	// ids and states. Only pods whose state changed are queued at once.
	state := map[string]string{}
	bySandbox := map[string]string{}
	for _, sb := range sbs.Items {
		if ns, name := sb.Labels[podrun.LabelPodNamespace], sb.Labels[podrun.LabelPodName]; name != "" {
			key := ns + "/" + name
			bySandbox[sb.Id] = key
			state[key] += sb.Id + "=" + sb.State.String() + ";"
		}
	}
	for _, c := range ctrs.Containers {
		if key, ok := bySandbox[c.PodSandboxId]; ok {
			state[key] += c.Id + "=" + c.State.String() + ";"
		}
	}
	resync := time.Since(pc.lastResync) >= resyncEvery
	if resync {
		pc.lastResync = time.Now()
	}
	for key, st := range state {
		if resync || pc.lastState[key] != st {
			pc.queue.Add(key)
		}
	}
	for key := range pc.lastState {
		if _, ok := state[key]; !ok {
			pc.queue.Add(key) // its sandbox went
		}
	}
	pc.lastState = state
	for _, k := range pc.a.static.Keys() {
		if resync || state[k] == "" {
			pc.queue.Add(k)
		}
	}
	pods, _ := pc.pods.List(labels.Everything())
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		// A pod whose last sync failed waits out its back-off: retrying
		// it every relist would repeat the failure (and its event) every
		// second.
		if pc.queue.NumRequeues(p.Namespace+"/"+p.Name) > 0 {
			continue
		}
		// Pods still starting (or waiting for something to appear) are
		// retried every relist; running ones at the resync period.
		if resync || p.Status.Phase == corev1.PodPending || state[p.Namespace+"/"+p.Name] == "" || !allReady(p) {
			pc.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
}

// allReady reports whether every container of a pod runs and is ready.
func allReady(p *corev1.Pod) bool {
	if len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready {
			return false
		}
	}
	return true
}

func (pc *podController) next(ctx context.Context) bool {
	key, quit := pc.queue.Get()
	if quit {
		return false
	}
	defer pc.queue.Done(key)
	if err := pc.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			pc.a.log.Warn("sync pod", "pod", key, "err", err)
		}
		pc.queue.AddRateLimited(key)
		return true
	}
	pc.queue.Forget(key)
	return true
}

func (pc *podController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := pc.pods.Pods(ns).Get(name)
	if err != nil {
		pod = nil // gone from the API: only cleanup remains
	}
	// Static pods run from their manifests; the API has their mirrors.
	if static := pc.a.static.Get(key); static != nil || staticpods.IsMirror(pod) {
		return pc.syncStatic(ctx, ns, name, static, pod)
	}
	sandboxes, err := pc.a.sandboxesOf(ctx, ns, name)
	if err != nil {
		return err
	}
	// Sandboxes of another pod of the same name (deleted and recreated)
	// go first.
	var own []*runtimeapi.PodSandbox
	for _, sb := range sandboxes {
		if pod == nil || sb.Metadata.Uid != string(pod.UID) {
			if err := pc.a.teardown(ctx, sb, 0); err != nil {
				return err
			}
			continue
		}
		own = append(own, sb)
	}
	if pod == nil {
		return nil
	}
	return pc.a.syncPod(ctx, pod.DeepCopy(), own)
}

func (a *Agent) sandboxesOf(ctx context.Context, ns, name string) ([]*runtimeapi.PodSandbox, error) {
	resp, err := a.runtime.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{podrun.LabelPodNamespace: ns, podrun.LabelPodName: name},
	}})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	return resp.Items, nil
}
