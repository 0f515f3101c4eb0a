package nftutil

import (
	"github.com/google/nftables"
)

// Tx collects one transaction's operations in phases, so that whatever
// order a sync discovers them in, the kernel sees references go before
// what they point to is deleted, and objects exist before anything
// points to them:
//
//	Setup       the table and its base chains (full syncs)
//	Flush       chains whose rules are rewritten or that go away
//	Unlink      set and map elements that are removed or change value
//	RemoveSets  sets nobody references any more
//	Remove      then chains (a map's elements reference chains)
//	Create      chains and sets
//	Rules       the rules of the chains flushed or created
//	Link        set and map elements that are added or change value
//
// A package appends its own kinds of operations to the phase they belong
// to; Apply queues them all, in order, on a connection, whose owner then
// sends the batch its own way.
type Tx struct {
	Table *nftables.Table

	Setup, Flush, Unlink, RemoveSets, Remove, Create, Rules, Link []func(*nftables.Conn)
}

// ElemChunk bounds the elements of one message: a message's element list
// is one netlink attribute, whose length is 16 bits.
const ElemChunk = 256

// NewTx starts a transaction on table.
func NewTx(table *nftables.Table) *Tx { return &Tx{Table: table} }

// Chain names a chain of the table.
func (t *Tx) Chain(name string) *nftables.Chain { return &nftables.Chain{Name: name, Table: t.Table} }

// FlushChain empties a chain before its rules are rewritten or it goes.
func (t *Tx) FlushChain(name string) {
	t.Flush = append(t.Flush, func(c *nftables.Conn) { c.FlushChain(t.Chain(name)) })
}

// DeleteChain removes a chain once nothing references it.
func (t *Tx) DeleteChain(name string) {
	t.Remove = append(t.Remove, func(c *nftables.Conn) { c.DelChain(t.Chain(name)) })
}

// AddChain creates a regular (non-base) chain.
func (t *Tx) AddChain(name string) {
	t.Create = append(t.Create, func(c *nftables.Conn) { c.AddChain(t.Chain(name)) })
}

// DeleteSet removes a set or map after its referrers are gone.
func (t *Tx) DeleteSet(s *nftables.Set) {
	t.RemoveSets = append(t.RemoveSets, func(c *nftables.Conn) { c.DelSet(s) })
}

// SetElems adds (or with del, removes) elements of a set or map, at most
// ElemChunk a message.
func (t *Tx) SetElems(s *nftables.Set, elems []nftables.SetElement, del bool) {
	for len(elems) > 0 {
		chunk := elems[:min(len(elems), ElemChunk)]
		elems = elems[len(chunk):]
		if del {
			t.Unlink = append(t.Unlink, func(c *nftables.Conn) { _ = c.SetDeleteElements(s, chunk) })
		} else {
			t.Link = append(t.Link, func(c *nftables.Conn) { _ = c.SetAddElements(s, chunk) })
		}
	}
}

// Ops counts the queued operations (a chain's rules or a chunk of
// elements is usually one), for logs and tests.
func (t *Tx) Ops() int {
	return len(t.Setup) + len(t.Flush) + len(t.Unlink) + len(t.RemoveSets) + len(t.Remove) + len(t.Create) + len(t.Rules) + len(t.Link)
}

// Empty reports whether the transaction would change nothing.
func (t *Tx) Empty() bool { return t.Ops() == 0 }

// Apply queues every operation on c, phase by phase. Encoding errors
// surface when c's batch is flushed.
func (t *Tx) Apply(c *nftables.Conn) {
	for _, phase := range [][]func(*nftables.Conn){t.Setup, t.Flush, t.Unlink, t.RemoveSets, t.Remove, t.Create, t.Rules, t.Link} {
		for _, op := range phase {
			op(c)
		}
	}
}
