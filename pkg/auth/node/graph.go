package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Object kinds a pod refers to.
const (
	kindSecret         = "secrets"
	kindConfigMap      = "configmaps"
	kindPVC            = "persistentvolumeclaims"
	kindServiceAccount = "serviceaccounts"
)

// ref names an object a pod uses.
type ref struct{ kind, namespace, name string }

// podEntry is what the graph remembers of one pod.
type podEntry struct {
	node string
	refs []ref
}

// Graph indexes, by node, the objects that pods bound to that node use,
// and which volume each claim is bound to. Its methods are safe for
// concurrent use.
type Graph struct {
	mu     sync.RWMutex
	pods   map[string]podEntry         // namespace/name -> entry
	uses   map[string]map[ref]int      // node -> object -> number of its pods using it
	claims map[string]string           // namespace/claim -> bound volume name
	synced atomic.Pointer[func() bool] // nil until informers run
}

// NewGraph returns an empty graph; feed it with Run or SetPod/DeletePod.
func NewGraph() *Graph {
	return &Graph{pods: map[string]podEntry{}, uses: map[string]map[ref]int{}, claims: map[string]string{}}
}

// Run feeds the graph from pod and claim informers until ctx ends.
func (g *Graph) Run(ctx context.Context, cs kubernetes.Interface) error {
	factory := informers.NewSharedInformerFactory(cs, 0)
	pods := factory.Core().V1().Pods().Informer()
	claims := factory.Core().V1().PersistentVolumeClaims().Informer()
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { g.podChanged(obj) },
		UpdateFunc: func(_, obj any) { g.podChanged(obj) },
		DeleteFunc: func(obj any) { g.podDeleted(obj) },
	}); err != nil {
		return fmt.Errorf("node graph: %w", err)
	}
	if _, err := claims.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { g.claimChanged(obj) },
		UpdateFunc: func(_, obj any) { g.claimChanged(obj) },
		DeleteFunc: func(obj any) { g.claimChanged(obj) },
	}); err != nil {
		return fmt.Errorf("node graph: %w", err)
	}
	synced := func() bool { return pods.HasSynced() && claims.HasSynced() }
	g.synced.Store(&synced)
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	return nil
}

// HasSynced reports whether the graph reflects the API (always true for a
// graph fed by hand).
func (g *Graph) HasSynced() bool {
	f := g.synced.Load()
	return f == nil || (*f)()
}

func (g *Graph) podChanged(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok {
		g.SetPod(pod)
	}
}

func (g *Graph) podDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		g.DeletePod(d.Key)
		return
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		g.DeletePod(pod.Namespace + "/" + pod.Name)
	}
}

func (g *Graph) claimChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	key := pvc.Namespace + "/" + pvc.Name
	g.mu.Lock()
	defer g.mu.Unlock()
	if pvc.DeletionTimestamp != nil || pvc.Spec.VolumeName == "" {
		delete(g.claims, key)
		return
	}
	g.claims[key] = pvc.Spec.VolumeName
}

// SetPod records pod (replacing what was known of it). A pod not bound to
// a node yet uses nothing of any node's.
func (g *Graph) SetPod(pod *corev1.Pod) {
	key := pod.Namespace + "/" + pod.Name
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removeLocked(key)
	if pod.Spec.NodeName == "" {
		return
	}
	e := podEntry{node: pod.Spec.NodeName, refs: podRefs(pod)}
	g.pods[key] = e
	m := g.uses[e.node]
	if m == nil {
		m = map[ref]int{}
		g.uses[e.node] = m
	}
	for _, r := range e.refs {
		m[r]++
	}
}

// DeletePod forgets the pod namespace/name.
func (g *Graph) DeletePod(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removeLocked(key)
}

func (g *Graph) removeLocked(key string) {
	e, ok := g.pods[key]
	if !ok {
		return
	}
	delete(g.pods, key)
	m := g.uses[e.node]
	for _, r := range e.refs {
		if m[r]--; m[r] <= 0 {
			delete(m, r)
		}
	}
	if len(m) == 0 {
		delete(g.uses, e.node)
	}
}

// uses reports whether a pod bound to node uses the object.
func (g *Graph) nodeUses(node, kind, namespace, name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.uses[node][ref{kind, namespace, name}] > 0
}

// nodeUsesVolume reports whether a pod bound to node uses a claim bound
// to the persistent volume pv.
func (g *Graph) nodeUsesVolume(node, pv string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for r := range g.uses[node] {
		if r.kind == kindPVC && g.claims[r.namespace+"/"+r.name] == pv {
			return true
		}
	}
	return false
}

// podOnNode reports whether the pod namespace/name is bound to node.
func (g *Graph) podOnNode(node, namespace, name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	e, ok := g.pods[namespace+"/"+name]
	return ok && e.node == node
}

// podRefs lists the objects a pod's agent needs to run it: its service
// account, image pull secrets, and the Secrets, ConfigMaps and claims of
// its volumes (projected ones included) and environment.
func podRefs(pod *corev1.Pod) []ref {
	ns := pod.Namespace
	seen := map[ref]bool{}
	var out []ref
	add := func(kind, name string) {
		r := ref{kind, ns, name}
		if name != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	add(kindServiceAccount, sa)
	for _, s := range pod.Spec.ImagePullSecrets {
		add(kindSecret, s.Name)
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil:
			add(kindSecret, v.Secret.SecretName)
		case v.ConfigMap != nil:
			add(kindConfigMap, v.ConfigMap.Name)
		case v.PersistentVolumeClaim != nil:
			add(kindPVC, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			add(kindPVC, pod.Name+"-"+v.Name)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(kindSecret, src.Secret.Name)
				}
				if src.ConfigMap != nil {
					add(kindConfigMap, src.ConfigMap.Name)
				}
			}
		}
		for _, s := range volumeSecretRefs(v) {
			add(kindSecret, s)
		}
	}
	eachContainer(pod, func(c *corev1.Container) {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				add(kindSecret, e.SecretRef.Name)
			}
			if e.ConfigMapRef != nil {
				add(kindConfigMap, e.ConfigMapRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if e.ValueFrom.SecretKeyRef != nil {
				add(kindSecret, e.ValueFrom.SecretKeyRef.Name)
			}
			if e.ValueFrom.ConfigMapKeyRef != nil {
				add(kindConfigMap, e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
	})
	return out
}

// volumeSecretRefs are the secret references of volume plugins that take
// credentials (CSI node publish, flex, iSCSI, RBD, ...).
func volumeSecretRefs(v corev1.Volume) []string {
	var out []string
	if v.CSI != nil && v.CSI.NodePublishSecretRef != nil {
		out = append(out, v.CSI.NodePublishSecretRef.Name)
	}
	if v.FlexVolume != nil && v.FlexVolume.SecretRef != nil {
		out = append(out, v.FlexVolume.SecretRef.Name)
	}
	if v.ISCSI != nil && v.ISCSI.SecretRef != nil {
		out = append(out, v.ISCSI.SecretRef.Name)
	}
	if v.RBD != nil && v.RBD.SecretRef != nil {
		out = append(out, v.RBD.SecretRef.Name)
	}
	if v.CephFS != nil && v.CephFS.SecretRef != nil {
		out = append(out, v.CephFS.SecretRef.Name)
	}
	return out
}

func eachContainer(pod *corev1.Pod, f func(*corev1.Container)) {
	for i := range pod.Spec.InitContainers {
		f(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		f(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.EphemeralContainers {
		c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		f(&c)
	}
}
