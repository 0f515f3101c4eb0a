package scheduler

import (
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// assumeTTL bounds how long a bound pod is counted on its node without
// the informer confirming it (counted from the end of its binding).
const assumeTTL = 30 * time.Second

// podState is where the cache counts one pod.
type podState struct {
	pod  *v1.Pod
	node string
	// assumed: placed by this scheduler, not yet confirmed by the
	// informer; binding: its binding is still in flight (it cannot
	// expire); deadline: when it expires otherwise.
	assumed, binding bool
	deadline         time.Time
}

// schedulerCache keeps the NodeInfos up to date from informer events and
// this scheduler's assumptions, so a scheduling cycle costs no more than
// the nodes that changed since the last one.
//
// The NodeInfos it holds are immutable: every change replaces the node's
// info with a changed copy and marks the node dirty; updateSnapshot then
// swaps the new infos into the scheduling goroutine's Snapshot.
type schedulerCache struct {
	mu    sync.Mutex
	nodes map[string]*NodeInfo // Node nil: pods seen before their node (or after it went)
	pods  map[types.UID]*podState
	// assumed indexes the assumed pods among pods, for expiry.
	assumed map[types.UID]*podState
	// nominated are the pending pods with a nominated node.
	nominated map[types.UID]*v1.Pod
	dirty     map[string]struct{}
	// nodeSetChanged: nodes came or went since the last snapshot update;
	// imagesChanged: a node's images changed.
	nodeSetChanged, imagesChanged bool
	labelsChanged                 bool
	now                           func() time.Time
}

func newSchedulerCache(now func() time.Time) *schedulerCache {
	return &schedulerCache{
		nodes: map[string]*NodeInfo{}, pods: map[types.UID]*podState{}, assumed: map[types.UID]*podState{},
		nominated: map[types.UID]*v1.Pod{}, dirty: map[string]struct{}{}, now: now, nodeSetChanged: true,
	}
}

// setNodeLocked publishes ni as the node's info.
func (c *schedulerCache) setNodeLocked(name string, ni *NodeInfo) {
	if ni == nil {
		delete(c.nodes, name)
	} else {
		c.nodes[name] = ni
	}
	c.dirty[name] = struct{}{}
}

// AddNode records a new or changed node.
func (c *schedulerCache) AddNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.nodes[node.Name]
	var ni *NodeInfo
	if old == nil {
		ni = NewNodeInfo(node)
	} else {
		ni = old.clone()
		if old.Node != nil && sameImages(old.Node.Status.Images, node.Status.Images) {
			ni.setNode(node, old.images)
		} else {
			ni.setNode(node, nil)
			c.imagesChanged = true
		}
	}
	if old == nil || old.Node == nil {
		c.nodeSetChanged = true
	} else if !labels.Equals(old.Node.Labels, node.Labels) {
		c.labelsChanged = true
	}
	c.setNodeLocked(node.Name, ni)
}

// RemoveNode forgets a node; its pods stay counted until they go.
func (c *schedulerCache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.nodes[name]
	if old == nil {
		return
	}
	if len(old.Pods) == 0 {
		c.setNodeLocked(name, nil)
	} else {
		ni := old.clone()
		ni.setNode(nil, nil)
		c.setNodeLocked(name, ni)
	}
	c.nodeSetChanged, c.imagesChanged = true, true
}

// nodeForChangeLocked is a changeable copy of the node's info (a
// placeholder if the node is unknown).
func (c *schedulerCache) nodeForChangeLocked(name string) *NodeInfo {
	if old := c.nodes[name]; old != nil {
		return old.clone()
	}
	return NewNodeInfo(nil)
}

// removeLocked takes a pod's state off its node.
func (c *schedulerCache) removeLocked(st *podState, uid types.UID) {
	delete(c.pods, uid)
	delete(c.assumed, uid)
	old := c.nodes[st.node]
	if old == nil {
		return
	}
	ni := old.clone()
	ni.removePod(uid)
	if ni.Node == nil && len(ni.Pods) == 0 {
		ni = nil
	}
	c.setNodeLocked(st.node, ni)
}

// putLocked places pod on its node (replacing any earlier state) and
// returns its new state; terminal pods are only taken off.
func (c *schedulerCache) putLocked(pod *v1.Pod) *podState {
	uid := pod.UID
	if st := c.pods[uid]; st != nil {
		if st.node == pod.Spec.NodeName && !podutil.IsPodTerminal(pod) {
			// In place: one copy of the node's info.
			ni := c.nodeForChangeLocked(st.node)
			ni.removePod(uid)
			ni.AddPod(pod)
			c.setNodeLocked(st.node, ni)
			st.pod = pod
			return st
		}
		c.removeLocked(st, uid)
	}
	if podutil.IsPodTerminal(pod) {
		return nil
	}
	ni := c.nodeForChangeLocked(pod.Spec.NodeName)
	ni.AddPod(pod)
	c.setNodeLocked(pod.Spec.NodeName, ni)
	st := &podState{pod: pod, node: pod.Spec.NodeName}
	c.pods[uid] = st
	return st
}

// AddPod records an assigned pod as the informer shows it (added or
// updated); it confirms an assumption.
func (c *schedulerCache) AddPod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.putLocked(pod); st != nil {
		st.assumed, st.binding = false, false
		delete(c.assumed, pod.UID)
	}
}

// RemovePod forgets a pod, assigned or assumed; it reports whether the
// pod was assumed.
func (c *schedulerCache) RemovePod(pod *v1.Pod) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nominated, pod.UID)
	st := c.pods[pod.UID]
	if st == nil {
		return false
	}
	c.removeLocked(st, pod.UID)
	return st.assumed
}

// Assume counts pod (with spec.nodeName set) on its node while its
// binding is in flight.
func (c *schedulerCache) Assume(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.putLocked(pod); st != nil {
		st.assumed, st.binding = true, true
		c.assumed[pod.UID] = st
	}
}

// FinishBinding starts the expiry clock of an assumed pod whose binding
// succeeded.
func (c *schedulerCache) FinishBinding(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.assumed[uid]; st != nil {
		st.binding = false
		st.deadline = c.now().Add(assumeTTL)
	}
}

// Forget drops an assumption whose binding failed.
func (c *schedulerCache) Forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.assumed[uid]; st != nil {
		c.removeLocked(st, uid)
	}
}

// IsAssumed reports whether the pod is placed by this scheduler but not
// confirmed yet.
func (c *schedulerCache) IsAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.assumed[uid] != nil
}

// CleanupExpired drops the assumptions the informer never confirmed in
// time; it reports whether there were any.
func (c *schedulerCache) CleanupExpired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	expired := false
	for uid, st := range c.assumed {
		if !st.binding && now.After(st.deadline) {
			c.removeLocked(st, uid)
			expired = true
		}
	}
	return expired
}

// TrackNominated keeps the index of pending pods with a nominated node.
func (c *schedulerCache) TrackNominated(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pod.Status.NominatedNodeName != "" && responsible(pod) {
		c.nominated[pod.UID] = pod
	} else {
		delete(c.nominated, pod.UID)
	}
}

// Nominated lists the pending pods with a nominated node that are not
// assumed.
func (c *schedulerCache) Nominated() []*v1.Pod {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.nominated) == 0 {
		return nil
	}
	out := make([]*v1.Pod, 0, len(c.nominated))
	for uid, p := range c.nominated {
		if c.assumed[uid] == nil {
			out = append(out, p)
		}
	}
	return out
}

// UpdateSnapshot brings s up to date: the infos of nodes that changed
// since the last call are swapped in, and the node list is rebuilt only
// when nodes came or went.
func (c *schedulerCache) UpdateSnapshot(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodeSetChanged || s.index == nil {
		nodes := make([]*NodeInfo, 0, len(c.nodes))
		for _, ni := range c.nodes {
			if ni.Node != nil {
				nodes = append(nodes, ni)
			}
		}
		s.setNodes(nodes)
	} else {
		for name := range c.dirty {
			if i, ok := s.index[name]; ok {
				s.Nodes[i] = c.nodes[name]
			}
		}
		if c.imagesChanged {
			s.images = nil
		}
		if c.labelsChanged {
			s.domains = nil
		}
	}
	clear(c.dirty)
	c.nodeSetChanged, c.imagesChanged, c.labelsChanged = false, false, false
}

// sameImages: the two image lists are equal (names and sizes).
func sameImages(a, b []v1.ContainerImage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].SizeBytes != b[i].SizeBytes || len(a[i].Names) != len(b[i].Names) {
			return false
		}
		for j := range a[i].Names {
			if a[i].Names[j] != b[i].Names[j] {
				return false
			}
		}
	}
	return true
}
