package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// node is one object in the graph. An observed node was seen through a
// monitor; a virtual one is only known from the ownerReferences of its
// dependents (its owner has not been seen, or is gone) and exists to hold
// them.
type node struct {
	uid      types.UID
	observed bool
	// What an observed node is; a virtual node has kind and name from the
	// first reference to it.
	info      resourceInfo
	namespace string
	name      string

	owners     []metav1.OwnerReference
	dependents map[types.UID]*node

	beingDeleted bool
	finalizers   []string
}

// deletingDependents says the node waits for its dependents to go
// (Foreground).
func (n *node) deletingDependents() bool {
	return n.beingDeleted && slices.Contains(n.finalizers, metav1.FinalizerDeleteDependents)
}

func (n *node) orphaning() bool {
	return n.beingDeleted && slices.Contains(n.finalizers, metav1.FinalizerOrphanDependents)
}

// ownerRef is n's reference to owner, if any.
func (n *node) ownerRef(owner types.UID) (metav1.OwnerReference, bool) {
	for _, r := range n.owners {
		if r.UID == owner {
			return r, true
		}
	}
	return metav1.OwnerReference{}, false
}

// matches says whether the observed owner o is what ref, held by a
// dependent in namespace ns, names.
func (o *node) matches(ref metav1.OwnerReference, ns string) bool {
	if !o.observed {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || gv.Group != o.info.gvr.Group || ref.Kind != o.info.kind || ref.Name != o.name {
		return false
	}
	return o.namespace == "" || o.namespace == ns
}

// observe records an object added or updated in a monitor.
func (c *Controller) observe(info resourceInfo, obj any) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[m.UID]
	if n == nil {
		n = &node{uid: m.UID, dependents: map[types.UID]*node{}}
		c.nodes[m.UID] = n
	}
	n.observed = true
	n.info, n.namespace, n.name = info, m.Namespace, m.Name
	n.beingDeleted = m.DeletionTimestamp != nil
	n.finalizers = slices.Clone(m.Finalizers)
	old := n.owners
	n.owners = slices.Clone(m.OwnerReferences)

	check := false
	for _, r := range old {
		if _, still := n.ownerRef(r.UID); !still {
			c.unlinkLocked(n, r.UID)
		}
	}
	for _, r := range n.owners {
		prev, had := ownerRefIn(old, r.UID)
		o := c.nodes[r.UID]
		if o == nil {
			o = &node{uid: r.UID, info: resourceInfo{kind: r.Kind}, name: r.Name, dependents: map[types.UID]*node{}}
			c.nodes[r.UID] = o
		}
		o.dependents[n.uid] = n
		if !had && (!o.matches(r, n.namespace) || o.deletingDependents()) {
			// The owner is unknown, not what the reference says, or
			// waiting for its dependents: check this one.
			check = true
		}
		if o.deletingDependents() && (!had || blocks(prev) != blocks(r)) {
			c.deleteQueue.Add(o.uid)
		}
	}
	if check {
		c.deleteQueue.Add(n.uid)
	}
	if n.deletingDependents() {
		for d := range n.dependents {
			c.deleteQueue.Add(d)
		}
		c.deleteQueue.Add(n.uid)
	}
	if n.orphaning() {
		c.orphanQueue.Add(n.uid)
	}
}

// forget records an object deleted from a monitor.
func (c *Controller) forget(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(m.UID)
}

// forgetGone drops the observed node uid, whose object a live read found
// gone or replaced. Its deletion event normally follows, but need not: the
// monitor that watched it may have been stopped since. As upstream's
// virtual delete event does, this keeps an owner waiting for it in
// Foreground from waiting forever. A late event of the object only puts
// it back until its deletion event comes.
func (c *Controller) forgetGone(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(uid)
}

func (c *Controller) forgetLocked(uid types.UID) {
	n := c.nodes[uid]
	if n == nil || !n.observed {
		return
	}
	for _, r := range n.owners {
		c.unlinkLocked(n, r.UID)
	}
	n.owners, n.observed, n.beingDeleted, n.finalizers = nil, false, false, nil
	delete(c.unresolved, n.uid)
	if len(n.dependents) == 0 {
		delete(c.nodes, n.uid)
		return
	}
	// The dependents keep a virtual node and are checked: their owner is
	// gone.
	for d := range n.dependents {
		c.deleteQueue.Add(d)
	}
}

// unlinkLocked removes dependent n from owner's dependents.
func (c *Controller) unlinkLocked(n *node, owner types.UID) {
	o := c.nodes[owner]
	if o == nil {
		return
	}
	delete(o.dependents, n.uid)
	switch {
	case !o.observed && len(o.dependents) == 0:
		delete(c.nodes, owner)
	case o.deletingDependents():
		c.deleteQueue.Add(owner) // it may wait for nothing now
	}
}

func ownerRefIn(refs []metav1.OwnerReference, uid types.UID) (metav1.OwnerReference, bool) {
	for _, r := range refs {
		if r.UID == uid {
			return r, true
		}
	}
	return metav1.OwnerReference{}, false
}

func blocks(r metav1.OwnerReference) bool {
	return r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion
}

// nodeView is a copy of what a worker needs of a node.
type nodeView struct {
	info      resourceInfo
	namespace string
	name      string
	uid       types.UID
}

// view copies the observed node uid, if there is one.
func (c *Controller) view(uid types.UID) (nodeView, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[uid]
	if n == nil || !n.observed {
		return nodeView{}, false
	}
	return nodeView{info: n.info, namespace: n.namespace, name: n.name, uid: uid}, true
}

// dependents copies the observed dependents of uid; blocking limits them
// to those whose reference blocks the owner's deletion, and skips those
// waiting for their own dependents (they are in hand).
type dependentView struct {
	nodeView
	deletingDependents bool
}

func (c *Controller) dependentsOf(uid types.UID, blocking bool) []dependentView {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[uid]
	if n == nil {
		return nil
	}
	var out []dependentView
	for _, d := range n.dependents {
		if !d.observed {
			continue
		}
		if r, ok := d.ownerRef(uid); blocking && (!ok || !blocks(r)) {
			continue
		}
		out = append(out, dependentView{
			nodeView:           nodeView{info: d.info, namespace: d.namespace, name: d.name, uid: d.uid},
			deletingDependents: d.deletingDependents(),
		})
	}
	return out
}

// cachedOwner answers from the graph whether the owner ref of a dependent
// in namespace ns is live: known says the graph had an answer, waiting
// that the owner waits for its dependents. Only a positive answer is
// trusted: the owner's deletion event will bring the dependent back.
func (c *Controller) cachedOwner(ref metav1.OwnerReference, ns string) (known, waiting bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.nodes[ref.UID]
	if o == nil || !o.matches(ref, ns) {
		return false, false
	}
	return true, o.deletingDependents()
}

func (c *Controller) markUnresolved(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[uid]; n != nil && n.observed {
		c.unresolved[uid] = struct{}{}
	}
}

// absentCache remembers owners verified gone, by everything a reference
// says about them: a wrong name or namespace must not make a live UID
// look absent to a reference that gets them right.
type absentCache struct {
	mu  sync.Mutex
	max int
	m   map[absentKey]struct{}
}

type absentKey struct {
	uid       types.UID
	group     string
	kind      string
	namespace string
	name      string
}

func (a *absentCache) add(k absentKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil || len(a.m) >= a.max {
		a.m = map[absentKey]struct{}{} // crude bound; misses only cost a GET
	}
	a.m[k] = struct{}{}
}

func (a *absentCache) has(k absentKey) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.m[k]
	return ok
}
