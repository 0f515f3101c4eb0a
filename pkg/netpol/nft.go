package netpol

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"

	"github.com/flotilla-io/flotilla/pkg/nftutil"
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
	return nftutil.TableExists(c, n.table)
}

// tx is one transaction (see nftutil.Tx for its phases) with our kinds
// of base chains, rules and sets.
type tx struct {
	*nftutil.Tx
	n *nftConn
}

func newTx(n *nftConn) *tx { return &tx{Tx: nftutil.NewTx(n.table), n: n} }

func (t *tx) addBaseChain(bc baseChain) {
	prio := nftables.ChainPriority(bc.prio)
	ch := &nftables.Chain{Name: bc.name, Table: t.n.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: &prio}
	t.Setup = append(t.Setup, func(c *nftables.Conn) { c.AddChain(ch) })
}

func (t *tx) addRules(ch chainDef) {
	t.Rules = append(t.Rules, func(c *nftables.Conn) {
		for _, r := range ch.rules {
			c.AddRule(&nftables.Rule{Table: t.n.table, Chain: t.Chain(ch.name), Exprs: r})
		}
	})
}

func (t *tx) addSet(s setDef) {
	t.Create = append(t.Create, func(c *nftables.Conn) {
		set := nftSet(t.n.table, s)
		set.ID = nftutil.NextSetID()
		_ = c.AddSet(set, nil) // encoding errors surface at Flush
	})
}

func (t *tx) deleteSet(s setDef) { t.DeleteSet(nftSet(t.n.table, s)) }

// setElems adds (or with del, removes) elements of a set.
func (t *tx) setElems(s setDef, elems []nftables.SetElement, del bool) {
	t.SetElems(nftSet(t.n.table, s), elems, del)
}

// podMapElem is the element sending a pod's traffic to its chain.
func podMapElem(key []byte, chain string) nftables.SetElement {
	return nftables.SetElement{Key: key, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}}
}

// commit sends the transaction: the kernel applies all of it or nothing.
func (t *tx) commit() error {
	c, err := t.n.conn()
	if err != nil {
		return err
	}
	t.Apply(c)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables transaction: %w", err)
	}
	return nil
}
