package podworker

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
)

// relistEvery is how often the runtime's state is compared with the pods,
// which is how container exits are noticed.
const relistEvery = time.Second

// resyncEvery is how often a pod whose runtime state did not change is
// reconciled anyway (back-off expiry, deadlines, volume refresh).
const resyncEvery = 5 * time.Second

// Run runs the pod reconcilers until ctx ends: informers on the node's
// pods and Node, three workers taking pods from the queue, the relist
// every second and the housekeeping.
func (w *Worker) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(w.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", w.nodeName).String()
	}))
	inf := factory.Core().V1().Pods()
	w.pods = inf.Lister()
	synced := inf.Informer().HasSynced
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			w.queue.Add(key)
		}
	}
	gone := func(obj any) {
		enqueue(obj)
		w.podGone()
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: gone}); err != nil {
		return err
	}
	node := w.watchNode()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	node.factory.Start(ctx.Done())
	defer node.factory.Shutdown()
	defer w.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), synced, node.synced) {
		return ctx.Err()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if err := w.startAdmission(ctx, w.pods, node.lister); err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.runHousekeeping(ctx)
	}()
	// More than a few concurrent sandbox starts only adds latency here.
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w.next(ctx) {
			}
		}()
	}
	t := time.NewTicker(relistEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.queue.ShutDown()
			return nil
		case <-t.C:
			w.relist(ctx)
		}
	}
}

func (w *Worker) next(ctx context.Context) bool {
	key, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(key)
	if err := w.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("sync pod", "pod", key, "err", err)
		}
		w.queue.AddRateLimited(key)
		return true
	}
	w.queue.Forget(key)
	return true
}

func (w *Worker) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := w.pods.Pods(ns).Get(name)
	if err != nil {
		pod = nil // gone from the API: only cleanup remains
	}
	// Static pods run from their manifests; the API has their mirrors.
	if static := w.static.Get(key); static != nil || staticpods.IsMirror(pod) {
		return w.syncStatic(ctx, ns, name, static, pod)
	}
	sandboxes, err := w.sandboxesOf(ctx, ns, name)
	if err != nil {
		return err
	}
	// Sandboxes of another pod of the same name (deleted and recreated)
	// go first.
	var own []*runtimeapi.PodSandbox
	for _, sb := range sandboxes {
		if pod == nil || sb.Metadata.Uid != string(pod.UID) {
			if err := w.teardown(ctx, sb, 0); err != nil {
				return err
			}
			continue
		}
		own = append(own, sb)
	}
	if pod == nil {
		return nil
	}
	return w.syncPod(ctx, pod.DeepCopy(), own)
}

func (w *Worker) sandboxesOf(ctx context.Context, ns, name string) ([]*runtimeapi.PodSandbox, error) {
	resp, err := w.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{podrun.LabelPodNamespace: ns, podrun.LabelPodName: name},
	}})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	return resp.Items, nil
}
