package scheduler

import (
	"slices"
	"sort"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// NodeInfo is one node and the pods assigned to it. Once published by
// the scheduler cache a NodeInfo is never changed (a change makes a new
// copy), so a snapshot can hold it without locking; only memo, which
// the scheduling goroutine alone uses, is filled in later.
type NodeInfo struct {
	Node *v1.Node
	Pods []*v1.Pod
	// Requested sums the requests of the non-terminal pods; NonZero does
	// the same with the scoring defaults.
	Requested Resources
	NonZero   Resources

	allocatable  Resources // of Node, shared between copies
	alloc        scalars   // allocatable, Requested and NonZero out of their maps
	allocPods    int64
	used         scalars
	nonZero      scalars
	images       map[string]int64 // normalised image name → size, shared between copies
	ports        []hostPort       // host ports the pods claim
	affinityPods []affinityPod    // the pods with inter-pod (anti-)affinity terms
	// memo caches counts of pods matching a selector (see countMatching);
	// written by the scheduling goroutine only.
	memo []memoEntry
	// groups sums up the terms of affinityPods (see termGroups); filled
	// in by the scheduling goroutine only.
	groups []termGroup
}

// affinityPod is a pod with its inter-pod terms resolved once.
type affinityPod struct {
	pod   *v1.Pod
	terms *podAffinityTerms
}

// NewNodeInfo builds a NodeInfo, skipping terminal pods.
func NewNodeInfo(node *v1.Node, pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{Requested: Resources{}, NonZero: Resources{}}
	ni.setNode(node, nil)
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// setNode (re)computes what is derived from the node object alone;
// images, if not nil, are the node's images already normalised.
func (ni *NodeInfo) setNode(node *v1.Node, images map[string]int64) {
	ni.Node = node
	ni.allocatable, ni.images = nil, nil
	if node != nil {
		ni.allocatable = allocatable(node)
		ni.images = images
		if images == nil {
			ni.images = nodeImages(node)
		}
	}
	ni.alloc, ni.allocPods = scalarsOf(ni.allocatable), ni.allocatable[v1.ResourcePods]
}

// AddPod counts pod on the node unless it has finished.
func (ni *NodeInfo) AddPod(pod *v1.Pod) {
	if podutil.IsPodTerminal(pod) {
		return
	}
	ni.Pods = append(ni.Pods, pod)
	ni.Requested.add(PodRequests(pod))
	ni.NonZero.add(nonZeroRequests(pod))
	ni.used, ni.nonZero = scalarsOf(ni.Requested), scalarsOf(ni.NonZero)
	ni.ports = append(ni.ports, hostPorts(pod)...)
	if hasInterPodTerms(pod) {
		terms := termsOf(pod)
		ni.affinityPods = append(ni.affinityPods, affinityPod{pod: pod, terms: &terms})
	}
	ni.memo, ni.groups = nil, nil
}

// removePod takes the pod with uid off a NodeInfo not yet published;
// false if it is not there.
func (ni *NodeInfo) removePod(uid types.UID) bool {
	i := slices.IndexFunc(ni.Pods, func(p *v1.Pod) bool { return p.UID == uid })
	if i < 0 {
		return false
	}
	p := ni.Pods[i]
	ni.Pods = slices.Delete(ni.Pods, i, i+1)
	ni.Requested.sub(PodRequests(p))
	ni.NonZero.sub(nonZeroRequests(p))
	ni.used, ni.nonZero = scalarsOf(ni.Requested), scalarsOf(ni.NonZero)
	if len(hostPorts(p)) > 0 {
		ni.ports = nil
		for _, o := range ni.Pods {
			ni.ports = append(ni.ports, hostPorts(o)...)
		}
	}
	if hasInterPodTerms(p) {
		ni.affinityPods = slices.DeleteFunc(ni.affinityPods, func(a affinityPod) bool { return a.pod.UID == uid })
	}
	ni.memo, ni.groups = nil, nil
	return true
}

// clone is a copy that can be changed without touching ni (the memo
// stays behind).
func (ni *NodeInfo) clone() *NodeInfo {
	return &NodeInfo{
		Node: ni.Node, Pods: slices.Clip(slices.Clone(ni.Pods)), Requested: ni.Requested.clone(), NonZero: ni.NonZero.clone(),
		allocatable: ni.allocatable, images: ni.images, alloc: ni.alloc, allocPods: ni.allocPods, used: ni.used, nonZero: ni.nonZero,
		ports: slices.Clip(slices.Clone(ni.ports)), affinityPods: slices.Clip(slices.Clone(ni.affinityPods)),
	}
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
	out := ni.clone()
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
	// Volumes resolves a pod's persistent volume claims; nil means pods
	// have none to check.
	Volumes func(pod *v1.Pod) *volumeConstraint
	// index maps node names to positions in Nodes; it is replaced, never
	// changed, when the set of nodes changes, so copies may share it.
	index  map[string]int
	images *imageIndex // built on first use
	// domains caches, per topology key, the domain of every node (see
	// domainsOf); dropped when nodes or their labels change.
	domains map[string]*topologyDomains
}

// topologyDomains numbers the values of one topology key: ofNode[i] is
// the domain of Nodes[i], -1 where the node lacks the key.
type topologyDomains struct {
	ofNode []int32
	count  int
}

// domainsOf numbers the domains of key, once per set of node labels.
func (s *Snapshot) domainsOf(key string) *topologyDomains {
	if d := s.domains[key]; d != nil {
		return d
	}
	d := &topologyDomains{ofNode: make([]int32, len(s.Nodes))}
	ids := map[string]int32{}
	for i, ni := range s.Nodes {
		v, ok := ni.Node.Labels[key]
		if !ok {
			d.ofNode[i] = -1
			continue
		}
		id, seen := ids[v]
		if !seen {
			id = int32(len(ids))
			ids[v] = id
		}
		d.ofNode[i] = id
	}
	d.count = len(ids)
	if s.domains == nil {
		s.domains = map[string]*topologyDomains{}
	}
	s.domains[key] = d
	return d
}

// NewSnapshot groups the assigned pods by node; pods on unknown nodes are
// ignored. Nodes are kept in name order.
func NewSnapshot(nodes []*v1.Node, pods []*v1.Pod) *Snapshot {
	s := &Snapshot{}
	byName := map[string]*NodeInfo{}
	for _, n := range nodes {
		ni := NewNodeInfo(n)
		s.Nodes = append(s.Nodes, ni)
		byName[n.Name] = ni
	}
	for _, p := range pods {
		if ni := byName[p.Spec.NodeName]; ni != nil {
			ni.AddPod(p)
		}
	}
	s.setNodes(s.Nodes)
	return s
}

// setNodes installs a new set of nodes, sorting them by name.
func (s *Snapshot) setNodes(nodes []*NodeInfo) {
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Node.Name < nodes[j].Node.Name })
	s.Nodes = nodes
	s.index = make(map[string]int, len(nodes))
	for i, ni := range nodes {
		s.index[ni.Node.Name] = i
	}
	s.images, s.domains = nil, nil
}

// Node looks a node up by name.
func (s *Snapshot) Node(name string) *NodeInfo {
	if i, ok := s.index[name]; ok {
		return s.Nodes[i]
	}
	return nil
}

// replace is a shallow copy of s with some nodes' infos swapped.
func (s *Snapshot) replace(nis ...*NodeInfo) *Snapshot {
	out := &Snapshot{NamespaceLabels: s.NamespaceLabels, Volumes: s.Volumes, index: s.index, Nodes: slices.Clone(s.Nodes), images: s.images, domains: s.domains}
	for _, ni := range nis {
		if i, ok := s.index[ni.Node.Name]; ok {
			out.Nodes[i] = ni
		}
	}
	return out
}

func (s *Snapshot) namespaceLabels(ns string) map[string]string {
	if s.NamespaceLabels == nil {
		return nil
	}
	return s.NamespaceLabels(ns)
}

// imageIndex is built once per set of nodes and their images.
func (s *Snapshot) imageIndex() *imageIndex {
	if s.images == nil {
		s.images = newImageIndex(s)
	}
	return s.images
}
