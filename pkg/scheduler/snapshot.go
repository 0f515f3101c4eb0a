package scheduler

import (
	"sort"

	v1 "k8s.io/api/core/v1"
)

// NodeInfo is one node and the pods assigned to it.
type NodeInfo struct {
	Node *v1.Node
	Pods []*v1.Pod
	// Requested sums the requests of the non-terminal pods; NonZero does
	// the same with the scoring defaults.
	Requested Resources
	NonZero   Resources
}

// NewNodeInfo builds a NodeInfo, skipping terminal pods.
func NewNodeInfo(node *v1.Node, pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{Node: node, Requested: Resources{}, NonZero: Resources{}}
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// AddPod counts pod on the node unless it has finished.
func (ni *NodeInfo) AddPod(pod *v1.Pod) {
	if terminal(pod) {
		return
	}
	ni.Pods = append(ni.Pods, pod)
	ni.Requested.add(PodRequests(pod))
	ni.NonZero.add(nonZeroRequests(pod))
}

// without is a copy of ni lacking the pods drop reports true for.
func (ni *NodeInfo) without(drop func(*v1.Pod) bool) *NodeInfo {
	out := NewNodeInfo(ni.Node)
	for _, p := range ni.Pods {
		if !drop(p) {
			out.AddPod(p)
		}
	}
	return out
}

// with is a copy of ni with extra pods.
func (ni *NodeInfo) with(extra ...*v1.Pod) *NodeInfo {
	out := NewNodeInfo(ni.Node, ni.Pods...)
	for _, p := range extra {
		out.AddPod(p)
	}
	return out
}

// Snapshot is the cluster as one scheduling cycle sees it.
type Snapshot struct {
	Nodes []*NodeInfo
	// NamespaceLabels gives a namespace's labels, for namespaceSelector;
	// nil means namespaces have no labels.
	NamespaceLabels func(ns string) map[string]string
	byName          map[string]*NodeInfo
}

// NewSnapshot groups the assigned pods by node; pods on unknown nodes are
// ignored. Nodes are kept in name order.
func NewSnapshot(nodes []*v1.Node, pods []*v1.Pod) *Snapshot {
	s := &Snapshot{byName: map[string]*NodeInfo{}}
	for _, n := range nodes {
		ni := NewNodeInfo(n)
		s.Nodes = append(s.Nodes, ni)
		s.byName[n.Name] = ni
	}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Node.Name < s.Nodes[j].Node.Name })
	for _, p := range pods {
		if ni := s.byName[p.Spec.NodeName]; ni != nil {
			ni.AddPod(p)
		}
	}
	return s
}

// Node looks a node up by name.
func (s *Snapshot) Node(name string) *NodeInfo { return s.byName[name] }

// replace is a shallow copy of s with one node's info swapped.
func (s *Snapshot) replace(ni *NodeInfo) *Snapshot {
	out := &Snapshot{NamespaceLabels: s.NamespaceLabels, byName: make(map[string]*NodeInfo, len(s.byName)), Nodes: make([]*NodeInfo, len(s.Nodes))}
	for i, n := range s.Nodes {
		if n.Node.Name == ni.Node.Name {
			n = ni
		}
		out.Nodes[i] = n
		out.byName[n.Node.Name] = n
	}
	return out
}

func (s *Snapshot) namespaceLabels(ns string) map[string]string {
	if s.NamespaceLabels == nil {
		return nil
	}
	return s.NamespaceLabels(ns)
}
