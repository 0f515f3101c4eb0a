package agent

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
	"github.com/flotilla-io/flotilla/pkg/defaults"
)

// rejectedPrefix starts the status message of a pod the node refused,
// as upstream's kubelet words it.
const rejectedPrefix = "Pod was rejected: "

// nodeWatch is an informer on this node's Node object alone.
type nodeWatch struct {
	factory informers.SharedInformerFactory
	lister  listersv1.NodeLister
	synced  cache.InformerSynced
}

func (a *Agent) watchNode() *nodeWatch {
	f := informers.NewSharedInformerFactoryWithOptions(a.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", a.cfg.NodeName).String()
	}))
	inf := f.Core().V1().Nodes()
	return &nodeWatch{factory: f, lister: inf.Lister(), synced: inf.Informer().HasSynced}
}

// startAdmission sets up the admitter for runPods, once the informers
// are in sync: the pods that have a sandbox already run, so they were
// admitted before (by an earlier run of the agent) and are not checked.
func (a *Agent) startAdmission(ctx context.Context, pods listersv1.PodLister, nodes listersv1.NodeLister) error {
	ad := admission.New(func() *corev1.Node {
		if n, err := nodes.Get(a.cfg.NodeName); err == nil {
			return n
		}
		return a.nodeObject() // not seen yet: what the agent registers
	}, func() []*corev1.Pod { return a.nodePods(pods) })
	resp, err := a.runtime.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	for _, sb := range resp.Items {
		if sb.Metadata != nil && sb.Metadata.Uid != "" {
			ad.Running(types.UID(sb.Metadata.Uid))
		}
	}
	a.admission = ad
	return nil
}

// nodePods is every pod the node is to run: the API's pods bound here,
// except mirrors and pods shadowed by a static pod of the same name, and
// the static pods with their mirrors' status.
func (a *Agent) nodePods(lister listersv1.PodLister) []*corev1.Pod {
	api, _ := lister.List(labels.Everything())
	var out []*corev1.Pod
	for _, p := range api {
		if !staticpods.IsMirror(p) && a.static.Get(p.Namespace+"/"+p.Name) == nil {
			out = append(out, p)
		}
	}
	for _, key := range a.static.Keys() {
		sp := a.static.Get(key)
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
func (a *Agent) admitted(ctx context.Context, pod *corev1.Pod, sandboxes []*runtimeapi.PodSandbox) (bool, error) {
	if a.admission == nil {
		return true, nil
	}
	if len(sandboxes) > 0 {
		a.admission.Running(pod.UID)
		return true, nil
	}
	res, first := a.admission.Admit(pod)
	if res.Admit {
		return true, nil
	}
	if first {
		a.log.Info("pod rejected", "pod", pod.Namespace+"/"+pod.Name, "reason", res.Reason, "message", res.Message)
		a.events.Event(ctx, pod, corev1.EventTypeWarning, res.Reason, res.Message)
	}
	return false, a.putStatus(ctx, pod, rejectedStatus(pod, res))
}

// rejectedStatus is the status of a pod the node refused: Failed, with
// the reason and message of the refusal, and none of the conditions the
// agent owns (the pod never started).
func rejectedStatus(pod *corev1.Pod, res admission.Result) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{
		Phase:     corev1.PodFailed,
		Reason:    res.Reason,
		Message:   rejectedPrefix + res.Message,
		QOSClass:  old.QOSClass,
		StartTime: old.StartTime,
	}
	if st.QOSClass == "" {
		st.QOSClass = defaults.PodQOSClass(pod)
	}
	if st.StartTime == nil {
		now := metav1.Now()
		st.StartTime = &now
	}
	for _, c := range old.Conditions {
		switch c.Type {
		case corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReadyToStartContainers:
		default:
			st.Conditions = append(st.Conditions, c)
		}
	}
	return st
}
