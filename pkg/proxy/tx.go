package proxy

import (
	"encoding/binary"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// tx collects one transaction's operations in phases, so that whatever
// order the sync discovers them in, the kernel sees references go before
// what they point to is deleted, and objects exist before anything
// points to them:
//
//	setup    the table and its base chains (full syncs)
//	flush    chains whose rules are rewritten or that go away
//	unlink   map elements that are removed or change value
//	remove   sets, then chains, nobody references any more (a map's
//	         elements reference chains)
//	create   chains and sets
//	rules    the rules of the chains flushed or created
//	link     map elements that are added or change value
type tx struct {
	c                                                             *nftConn
	setup, flush, unlink, removeSets, remove, create, rules, link []func(*nftables.Conn)
}

// elemChunk bounds the elements of one message: a message's element list
// is one netlink attribute, whose length is 16 bits.
const elemChunk = 256

func newTx(c *nftConn) *tx { return &tx{c: c} }

func (t *tx) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: t.c.table}
}

func (t *tx) flushChain(name string) {
	t.flush = append(t.flush, func(c *nftables.Conn) { c.FlushChain(t.chain(name)) })
}

func (t *tx) deleteChain(name string) {
	t.remove = append(t.remove, func(c *nftables.Conn) { c.DelChain(t.chain(name)) })
}

func (t *tx) addChain(name string) {
	t.create = append(t.create, func(c *nftables.Conn) { c.AddChain(t.chain(name)) })
}

func (t *tx) deleteSet(name string) {
	t.removeSets = append(t.removeSets, func(c *nftables.Conn) { c.DelSet(&nftables.Set{Name: name, Table: t.c.table}) })
}

// addAffinitySet: a set of client addresses that forget a client once it
// has not connected for timeout (`flags dynamic,timeout; timeout T`).
func (t *tx) addAffinitySet(name string, timeout time.Duration) {
	t.create = append(t.create, func(c *nftables.Conn) {
		_ = c.AddSet(&nftables.Set{
			Table: t.c.table, Name: name, ID: nextSetID(), KeyType: nftables.TypeIPAddr,
			Dynamic: true, HasTimeout: true, Timeout: timeout,
		}, nil)
	})
}

// addRule appends a rule; with numgen targets the rule ends in
// `numgen random mod N vmap { 0 : goto T0, ... }`.
func (t *tx) addRule(chain string, r rule) {
	t.rules = append(t.rules, func(c *nftables.Conn) {
		exprs := r.exprs
		if len(r.numgen) > 0 {
			set := &nftables.Set{
				Table: t.c.table, Name: "__map%d", ID: nextSetID(), Anonymous: true, Constant: true, IsMap: true,
				KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict,
			}
			elems := make([]nftables.SetElement, len(r.numgen))
			for i, target := range r.numgen {
				// numgen writes host byte order, so keys are stored so;
				// the library marks anonymous sets big-endian, so `nft
				// list` shows 1 as 16777216 on x86 (display only).
				k := make([]byte, 4)
				binary.NativeEndian.PutUint32(k, uint32(i))
				elems[i] = nftables.SetElement{Key: k, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: target}}
			}
			_ = c.AddSet(set, elems)
			exprs = append(append([]expr.Any{}, exprs...),
				&expr.Numgen{Register: reg1, Modulus: uint32(len(r.numgen)), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: set.Name, SetID: set.ID},
			)
		}
		c.AddRule(&nftables.Rule{Table: t.c.table, Chain: t.chain(chain), Exprs: exprs})
	})
}

// setElems adds (or with del, removes) elements of a map or set.
func (t *tx) setElems(s *nftables.Set, elems []nftables.SetElement, del bool) {
	for len(elems) > 0 {
		n := min(len(elems), elemChunk)
		chunk := elems[:n]
		elems = elems[n:]
		if del {
			t.unlink = append(t.unlink, func(c *nftables.Conn) { _ = c.SetDeleteElements(s, chunk) })
		} else {
			t.link = append(t.link, func(c *nftables.Conn) { _ = c.SetAddElements(s, chunk) })
		}
	}
}

// empty reports whether the transaction would change nothing.
func (t *tx) empty() bool {
	return len(t.setup)+len(t.flush)+len(t.unlink)+len(t.removeSets)+len(t.remove)+len(t.create)+len(t.rules)+len(t.link) == 0
}

// commit sends the transaction; it returns the number of messages sent.
func (t *tx) commit() (int, error) {
	enc := t.c.enc
	for _, phase := range [][]func(*nftables.Conn){t.setup, t.flush, t.unlink, t.removeSets, t.remove, t.create, t.rules, t.link} {
		for _, op := range phase {
			op(enc)
		}
	}
	return t.c.commit()
}

// rule is one rule's expressions, optionally ending in a random choice
// among chains.
type rule struct {
	exprs  []expr.Any
	numgen []string
}

func r(parts ...[]expr.Any) rule {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return rule{exprs: out}
}

func e(x ...expr.Any) []expr.Any { return x }
