package garbagecollector

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Linked reports whether the graph has dep observed as a dependent of an
// observed owner (for the external tests).
func (c *Controller) Linked(owner, dep types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.nodes[owner]
	return o != nil && o.observed && o.dependents[dep] != nil && o.dependents[dep].observed
}

// Resolves reports what a kind resolves to and whether it is watched.
func (c *Controller) Resolves(apiVersion, kind string) (gvr schema.GroupVersionResource, namespaced, watched, ok bool) {
	info, ok := c.mapper.Load().resolve(apiVersion, kind)
	if !ok {
		return gvr, false, false, false
	}
	c.monMu.Lock()
	_, watched = c.monitors[info.gvr]
	c.monMu.Unlock()
	return info.gvr, info.namespaced, watched, true
}
