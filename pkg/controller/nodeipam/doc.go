// Package nodeipam gives every Node a pod address range of its own, as
// upstream's node IPAM controller does with its range allocator: each
// Node without spec.podCIDR gets the next free block of --cluster-cidr
// (a /24 by default), written to spec.podCIDR and spec.podCIDRs; the
// block returns to the pool when the Node is deleted.
//
// The Nodes themselves are the record of what is taken: on start the
// controller reads every Node's range before it hands out any, so a
// restarted server (or a new leader) never gives one twice. Ranges set by
// others (an agent given --pod-cidr, simulated nodes) are respected; one
// claimed by two Nodes is reported with a warning Event on the later one.
package nodeipam
