package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// workload is what the controller needs of a ReplicaSet or a
// ReplicationController, whichever kind it serves.
type workload struct {
	meta            *metav1.ObjectMeta // the cached object's; never modified
	replicas        int32
	minReadySeconds int32
	selector        labels.Selector // nil selects nothing
	template        *corev1.PodTemplateSpec
	status          status
	raw             any // the cached object, for writing its status back
}

// status is the status both kinds share; terminating is nil for kinds
// without terminatingReplicas.
type status struct {
	replicas, fullyLabeled, ready, available int32
	terminating                              *int32
	observedGeneration                       int64
	conditions                               []condition
}

type condition struct {
	typ                string
	status             corev1.ConditionStatus
	lastTransitionTime metav1.Time
	reason, message    string
}

// kind adapts one API kind to the controller.
type kind interface {
	// name is the controller's name: "replicaset" or "replicationcontroller".
	name() string
	gvk() schema.GroupVersionKind
	informer() cache.SharedIndexInformer
	convert(obj any) (*workload, bool)
	get(ns, name string) (*workload, error)
	list(ns string) ([]*workload, error)
	// fresh reads the object from the API server, bypassing the cache.
	fresh(ctx context.Context, ns, name string) (*workload, error)
	// countsTerminating says whether the kind's status has terminatingReplicas.
	countsTerminating() bool
	// writeStatus replaces w's status with st through the status subresource.
	writeStatus(ctx context.Context, w *workload, st status) error
}

const replicaFailure = "ReplicaFailure" // both kinds' failure condition type

func convertAll[T any](items []T, convert func(any) (*workload, bool)) []*workload {
	out := make([]*workload, 0, len(items))
	for _, it := range items {
		if w, ok := convert(it); ok {
			out = append(out, w)
		}
	}
	return out
}

func int32Or(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// ReplicaSets.

type replicaSets struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister appslisters.ReplicaSetLister
}

func newReplicaSets(client kubernetes.Interface, factory informers.SharedInformerFactory) *replicaSets {
	i := factory.Apps().V1().ReplicaSets()
	return &replicaSets{client: client, inf: i.Informer(), lister: i.Lister()}
}

func (*replicaSets) name() string            { return "replicaset" }
func (*replicaSets) countsTerminating() bool { return true }
func (*replicaSets) gvk() schema.GroupVersionKind {
	return appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
}
func (k *replicaSets) informer() cache.SharedIndexInformer { return k.inf }

func (*replicaSets) convert(obj any) (*workload, bool) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil, false
	}
	w := &workload{
		meta: &rs.ObjectMeta, replicas: int32Or(rs.Spec.Replicas, 1), minReadySeconds: rs.Spec.MinReadySeconds,
		template: &rs.Spec.Template, raw: rs,
		status: status{
			replicas: rs.Status.Replicas, fullyLabeled: rs.Status.FullyLabeledReplicas, ready: rs.Status.ReadyReplicas,
			available: rs.Status.AvailableReplicas, terminating: rs.Status.TerminatingReplicas, observedGeneration: rs.Status.ObservedGeneration,
		},
	}
	if sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector); err == nil && rs.Spec.Selector != nil && !sel.Empty() {
		w.selector = sel
	}
	for _, c := range rs.Status.Conditions {
		w.status.conditions = append(w.status.conditions, condition{string(c.Type), c.Status, c.LastTransitionTime, c.Reason, c.Message})
	}
	return w, true
}

func (k *replicaSets) get(ns, name string) (*workload, error) {
	rs, err := k.lister.ReplicaSets(ns).Get(name)
	if err != nil {
		return nil, err
	}
	w, _ := k.convert(rs)
	return w, nil
}

func (k *replicaSets) list(ns string) ([]*workload, error) {
	rss, err := k.lister.ReplicaSets(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return convertAll(rss, k.convert), nil
}

func (k *replicaSets) fresh(ctx context.Context, ns, name string) (*workload, error) {
	rs, err := k.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	w, _ := k.convert(rs)
	return w, nil
}

func (k *replicaSets) writeStatus(ctx context.Context, w *workload, st status) error {
	rs := w.raw.(*appsv1.ReplicaSet).DeepCopy()
	rs.Status = appsv1.ReplicaSetStatus{
		Replicas: st.replicas, FullyLabeledReplicas: st.fullyLabeled, ReadyReplicas: st.ready, AvailableReplicas: st.available,
		TerminatingReplicas: st.terminating, ObservedGeneration: st.observedGeneration,
	}
	for _, c := range st.conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.typ), Status: c.status, LastTransitionTime: c.lastTransitionTime, Reason: c.reason, Message: c.message,
		})
	}
	_, err := k.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{FieldManager: fieldManagerPrefix + k.name()})
	return err
}

// ReplicationControllers.

type replicationControllers struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister listersv1.ReplicationControllerLister
}

func newReplicationControllers(client kubernetes.Interface, factory informers.SharedInformerFactory) *replicationControllers {
	i := factory.Core().V1().ReplicationControllers()
	return &replicationControllers{client: client, inf: i.Informer(), lister: i.Lister()}
}

func (*replicationControllers) name() string            { return "replicationcontroller" }
func (*replicationControllers) countsTerminating() bool { return false }
func (*replicationControllers) gvk() schema.GroupVersionKind {
	return corev1.SchemeGroupVersion.WithKind("ReplicationController")
}
func (k *replicationControllers) informer() cache.SharedIndexInformer { return k.inf }

func (*replicationControllers) convert(obj any) (*workload, bool) {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil, false
	}
	w := &workload{
		meta: &rc.ObjectMeta, replicas: int32Or(rc.Spec.Replicas, 1), minReadySeconds: rc.Spec.MinReadySeconds,
		template: rc.Spec.Template, raw: rc,
		status: status{
			replicas: rc.Status.Replicas, fullyLabeled: rc.Status.FullyLabeledReplicas, ready: rc.Status.ReadyReplicas,
			available: rc.Status.AvailableReplicas, observedGeneration: rc.Status.ObservedGeneration,
		},
	}
	// The API server defaults an empty selector to the template's labels;
	// one still empty selects nothing here rather than everything.
	if len(rc.Spec.Selector) > 0 {
		w.selector = labels.SelectorFromSet(rc.Spec.Selector)
	}
	for _, c := range rc.Status.Conditions {
		w.status.conditions = append(w.status.conditions, condition{string(c.Type), c.Status, c.LastTransitionTime, c.Reason, c.Message})
	}
	return w, true
}

func (k *replicationControllers) get(ns, name string) (*workload, error) {
	rc, err := k.lister.ReplicationControllers(ns).Get(name)
	if err != nil {
		return nil, err
	}
	w, _ := k.convert(rc)
	return w, nil
}

func (k *replicationControllers) list(ns string) ([]*workload, error) {
	rcs, err := k.lister.ReplicationControllers(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return convertAll(rcs, k.convert), nil
}

func (k *replicationControllers) fresh(ctx context.Context, ns, name string) (*workload, error) {
	rc, err := k.client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	w, _ := k.convert(rc)
	return w, nil
}

func (k *replicationControllers) writeStatus(ctx context.Context, w *workload, st status) error {
	rc := w.raw.(*corev1.ReplicationController).DeepCopy()
	rc.Status = corev1.ReplicationControllerStatus{
		Replicas: st.replicas, FullyLabeledReplicas: st.fullyLabeled, ReadyReplicas: st.ready, AvailableReplicas: st.available,
		ObservedGeneration: st.observedGeneration,
	}
	for _, c := range st.conditions {
		rc.Status.Conditions = append(rc.Status.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.typ), Status: c.status, LastTransitionTime: c.lastTransitionTime, Reason: c.reason, Message: c.message,
		})
	}
	_, err := k.client.CoreV1().ReplicationControllers(rc.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{FieldManager: fieldManagerPrefix + k.name()})
	return err
}
