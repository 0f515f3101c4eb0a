package podworker

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/admission"
	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
	"github.com/flotilla-io/flotilla/pkg/agent/status"
)

// nodeWatch is an informer on this node's Node object alone.
type nodeWatch struct {
	factory informers.SharedInformerFactory
	lister  listersv1.NodeLister
	synced  cache.InformerSynced
}

func (w *Worker) watchNode() *nodeWatch {
	f := informers.NewSharedInformerFactoryWithOptions(w.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.nodeName).String()
	}))
	inf := f.Core().V1().Nodes()
	return &nodeWatch{factory: f, lister: inf.Lister(), synced: inf.Informer().HasSynced}
}

// startAdmission sets up the admitter for Run, once the informers
// are in sync: the pods that have a sandbox already run, so they were
// admitted before (by an earlier run of the agent) and are not checked.
func (w *Worker) startAdmission(ctx context.Context, pods listersv1.PodLister, nodes listersv1.NodeLister) error {
	ad := admission.New(func() *corev1.Node {
		if n, err := nodes.Get(w.nodeName); err == nil {
			return n
		}
		return w.registered() // not seen yet: what the agent registers
	}, func() []*corev1.Pod { return w.nodePods(pods) })
	ad.AllowSysctls(w.sysctls)
	resp, err := w.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	for _, sb := range resp.Items {
		if sb.Metadata != nil && sb.Metadata.Uid != "" {
			ad.Running(types.UID(sb.Metadata.Uid))
		}
	}
	w.admission.Store(ad)
	return nil
}

// nodePods is every pod the node is to run: the API's pods bound here,
// except mirrors and pods shadowed by a static pod of the same name, and
// the static pods with their mirrors' status.
func (w *Worker) nodePods(lister listersv1.PodLister) []*corev1.Pod {
	api, _ := lister.List(labels.Everything())
	var out []*corev1.Pod
	for _, p := range api {
		if !staticpods.IsMirror(p) && w.static.Get(p.Namespace+"/"+p.Name) == nil {
			out = append(out, p)
		}
	}
	for _, key := range w.static.Keys() {
		sp := w.static.Get(key)
		if sp == nil {
			continue
		}
		if m, err := lister.Pods(sp.Namespace).Get(sp.Name); err == nil && staticpods.MirrorOf(m, sp) {
			withStatus := *sp
			withStatus.Status = m.Status
			sp = &withStatus
		}
		out = append(out, sp)
	}
	return out
}

// admitted says whether the node runs pod, admitting it before its first
// sandbox. A pod it may not run is failed for good, with an event, as
// upstream's kubelet rejects pods.
func (w *Worker) admitted(ctx context.Context, pod *corev1.Pod, sandboxes []*runtimeapi.PodSandbox) (bool, error) {
	ad := w.admission.Load()
	if ad == nil {
		return true, nil
	}
	if len(sandboxes) > 0 {
		ad.Running(pod.UID)
		return true, nil
	}
	res, first := ad.Admit(pod)
	if res.Admit {
		return true, nil
	}
	if first {
		w.log.Info("pod rejected", "pod", pod.Namespace+"/"+pod.Name, "reason", res.Reason, "message", res.Message)
		w.events.Event(ctx, pod, corev1.EventTypeWarning, res.Reason, res.Message)
	}
	return false, w.status.Put(ctx, pod, status.Rejected(pod, res.Reason, res.Message))
}
