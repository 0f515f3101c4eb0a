package netpol

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
)

// nftConn talks to one network namespace's nftables. Our transactions
// are small (a few set elements, a chain or two) but for full syncs, so
// the library's Flush, which waits for every message's acknowledgement,
// is fast enough. Each transaction gets a connection of its own: the
// library keeps an encoding error for good once it has one.
type nftConn struct {
	netnsFd int // 0: the caller's namespace
	table   *nftables.Table
}

func newNFTConn(netnsFd int) *nftConn {
	return &nftConn{netnsFd: netnsFd, table: &nftables.Table{Name: tableName, Family: nftables.TableFamilyINet}}
}

func (n *nftConn) conn() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		// Room for the replies to a full sync's thousands of messages.
		return c.SetReadBuffer(4 << 20)
	})}
	if n.netnsFd != 0 {
		opts = append(opts, nftables.WithNetNSFd(n.netnsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables netlink socket: %w", err)
	}
	return c, nil
}

// tableExists asks the kernel whether our table is there.
func (n *nftConn) tableExists() (bool, error) {
	c, err := n.conn()
	if err != nil {
		return false, err
	}
	if _, err := c.ListTableOfFamily(tableName, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "no such file") {
			return false, nil
		}
		return false, fmt.Errorf("look up table inet %s: %w", tableName, err)
	}
	return true, nil
}

// setIDs numbers the sets a batch creates, process-wide, so the library
// never falls back to its own unsynchronised counter.
var setIDs atomic.Uint32

// tx collects one transaction's operations in phases, so that whatever
// order a sync finds them in, references go before what they point to is
// deleted, and objects exist before anything points to them:
//
//	setup    the table and its base chains (full syncs)
//	flush    chains whose rules are rewritten or that go away
//	unlink   set and map elements that go
//	remove   sets, then chains, nothing references any more
//	create   chains and sets
//	rules    the rules of the chains flushed or created
//	link     set and map elements that come
type tx struct {
	n                                                             *nftConn
	setup, flush, unlink, removeSets, remove, create, rules, link []func(*nftables.Conn)
}

// elemChunk bounds the elements of one message: a message's element list
// is one netlink attribute, whose length is 16 bits.
const elemChunk = 256

func newTx(n *nftConn) *tx { return &tx{n: n} }

func (t *tx) chain(name string) *nftables.Chain { return &nftables.Chain{Name: name, Table: t.n.table} }

func (t *tx) addBaseChain(bc baseChain) {
	prio := nftables.ChainPriority(bc.prio)
	ch := &nftables.Chain{Name: bc.name, Table: t.n.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: &prio}
	t.setup = append(t.setup, func(c *nftables.Conn) { c.AddChain(ch) })
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

func (t *tx) addRules(ch chainDef) {
	t.rules = append(t.rules, func(c *nftables.Conn) {
		for _, r := range ch.rules {
			c.AddRule(&nftables.Rule{Table: t.n.table, Chain: t.chain(ch.name), Exprs: r})
		}
	})
}

func (t *tx) addSet(s setDef) {
	t.create = append(t.create, func(c *nftables.Conn) {
		set := nftSet(t.n.table, s)
		set.ID = setIDs.Add(1)
		_ = c.AddSet(set, nil) // encoding errors surface at Flush
	})
}

func (t *tx) deleteSet(s setDef) {
	t.removeSets = append(t.removeSets, func(c *nftables.Conn) { c.DelSet(nftSet(t.n.table, s)) })
}

// setElems adds (or with del, removes) elements of a set.
func (t *tx) setElems(s setDef, elems []nftables.SetElement, del bool) {
	set := nftSet(t.n.table, s)
	for len(elems) > 0 {
		chunk := elems[:min(len(elems), elemChunk)]
		elems = elems[len(chunk):]
		if del {
			t.unlink = append(t.unlink, func(c *nftables.Conn) { _ = c.SetDeleteElements(set, chunk) })
		} else {
			t.link = append(t.link, func(c *nftables.Conn) { _ = c.SetAddElements(set, chunk) })
		}
	}
}

// podMapElem is the element sending a pod's traffic to its chain.
func podMapElem(key []byte, chain string) nftables.SetElement {
	return nftables.SetElement{Key: key, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}}
}

func (t *tx) empty() bool {
	return len(t.setup)+len(t.flush)+len(t.unlink)+len(t.removeSets)+len(t.remove)+len(t.create)+len(t.rules)+len(t.link) == 0
}

// ops counts the queued operations (a rule batch or an element chunk is
// one), for logs and tests.
func (t *tx) ops() int {
	return len(t.setup) + len(t.flush) + len(t.unlink) + len(t.removeSets) + len(t.remove) + len(t.create) + len(t.rules) + len(t.link)
}

// commit sends the transaction: the kernel applies all of it or nothing.
func (t *tx) commit() error {
	c, err := t.n.conn()
	if err != nil {
		return err
	}
	for _, phase := range [][]func(*nftables.Conn){t.setup, t.flush, t.unlink, t.removeSets, t.remove, t.create, t.rules, t.link} {
		for _, op := range phase {
			op(c)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables transaction: %w", err)
	}
	return nil
}
