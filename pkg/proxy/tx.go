package proxy

import (
	"encoding/binary"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	nft "github.com/flotilla-io/flotilla/pkg/nftutil"
)

// tx is one transaction (see nftutil.Tx for its phases) with our kinds
// of sets and rules, sent through our own connection.
type tx struct {
	*nft.Tx
	c *nftConn
}

func newTx(c *nftConn) *tx { return &tx{Tx: nft.NewTx(c.table), c: c} }

func (t *tx) deleteSet(name string) { t.DeleteSet(&nftables.Set{Name: name, Table: t.c.table}) }

// addAffinitySet: a set of client addresses that forget a client once it
// has not connected for timeout (`flags dynamic,timeout; timeout T`).
func (t *tx) addAffinitySet(name string, timeout time.Duration) {
	t.Create = append(t.Create, func(c *nftables.Conn) {
		_ = c.AddSet(&nftables.Set{
			Table: t.c.table, Name: name, ID: nft.NextSetID(), KeyType: nftables.TypeIPAddr,
			Dynamic: true, HasTimeout: true, Timeout: timeout,
		}, nil)
	})
}

// addRule appends a rule; with numgen targets the rule ends in
// `numgen random mod N vmap { 0 : goto T0, ... }`.
func (t *tx) addRule(chain string, r rule) {
	t.Rules = append(t.Rules, func(c *nftables.Conn) {
		exprs := r.exprs
		if len(r.numgen) > 0 {
			set := &nftables.Set{
				Table: t.c.table, Name: "__map%d", ID: nft.NextSetID(), Anonymous: true, Constant: true, IsMap: true,
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
				&expr.Numgen{Register: nft.Reg1, Modulus: uint32(len(r.numgen)), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: nft.Reg1, DestRegister: 0, IsDestRegSet: true, SetName: set.Name, SetID: set.ID},
			)
		}
		c.AddRule(&nftables.Rule{Table: t.c.table, Chain: t.Chain(chain), Exprs: exprs})
	})
}

// commit sends the transaction; it returns the number of messages sent.
func (t *tx) commit() (int, error) {
	t.Apply(t.c.enc)
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
