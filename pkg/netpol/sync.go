package netpol

import (
	nft "github.com/flotilla-io/flotilla/pkg/nftutil"

	"fmt"
	"net/netip"
	"reflect"

	"github.com/google/nftables"
)

// podElem is one pod map element: the pod's address in a direction's map.
type podElem struct {
	ip netip.Addr
	d  dir
}

// tableState is what our table holds (after the last successful
// transaction) or should hold: the chains that are not base chains with
// their rules, the sets, and the pod map elements. Set elements are the
// tracker's.
type tableState struct {
	chains map[string]chainDef
	sets   map[string]setDef
	pods   map[podElem]string // chain
}

// desired is the table the tracker's model asks for.
func (t *tracker) desired() *tableState {
	s := &tableState{chains: map[string]chainDef{}, sets: map[string]setDef{}, pods: map[podElem]string{}}
	for _, ch := range fixedChains() {
		if ch.name == chainReject {
			s.chains[ch.name] = ch
		}
	}
	for _, set := range fixedSets {
		s.sets[set.name] = set
	}
	for _, prog := range t.programs {
		for _, ch := range prog.chains {
			s.chains[ch.name] = ch
		}
		for _, set := range prog.sets {
			s.sets[set.name] = set
		}
	}
	for ip, byDir := range t.isolated() {
		for _, d := range dirs {
			if len(byDir[d]) == 0 {
				continue
			}
			ch := podChainDef(ip, d, byDir[d])
			s.chains[ch.name] = ch
			s.pods[podElem{ip, d}] = ch.name
		}
	}
	return s
}

// elemsBySet groups elements for the sets that want them.
func elemsBySet(ids []elemID, sets map[string]setDef) map[string][]nftables.SetElement {
	out := map[string][]nftables.SetElement{}
	for _, id := range ids {
		if _, ok := sets[id.set]; ok {
			out[id.set] = append(out[id.set], nftables.SetElement{Key: []byte(id.key)})
		}
	}
	return out
}

// fullSync replaces the whole table, in one transaction, by the one the
// model asks for: the table is deleted (when there is one) and built
// anew, so whatever a previous run or anyone else left in it is gone,
// and packets see the old table until the new one is complete.
func (c *Controller) fullSync() (int, error) {
	exists, err := c.nft.tableExists()
	if err != nil {
		return 0, err
	}
	want := c.tr.desired()
	t := newTx(c.nft)
	if exists {
		t.Setup = append(t.Setup, func(cc *nftables.Conn) { cc.DelTable(c.nft.table) })
	}
	t.Setup = append(t.Setup, func(cc *nftables.Conn) { cc.AddTable(c.nft.table) })
	for _, bc := range baseChains {
		t.addBaseChain(bc)
	}
	for _, ch := range fixedChains() {
		if ch.name != chainReject {
			t.addRules(ch) // base chains, created in setup
		}
	}
	for _, ch := range want.chains {
		t.AddChain(ch.name)
		t.addRules(ch)
	}
	for _, s := range want.sets {
		t.addSet(s)
	}
	all := make([]elemID, 0, len(c.tr.elems))
	for id := range c.tr.elems {
		all = append(all, id)
	}
	c.tr.takeFlipped() // the table is rebuilt from the counts
	for set, els := range elemsBySet(all, want.sets) {
		t.setElems(want.sets[set], els, false)
	}
	for set, els := range podMapElems(want.pods) {
		t.setElems(want.sets[set], els, false)
	}
	n := t.Ops()
	if err := t.commit(); err != nil {
		return n, fmt.Errorf("full sync: %w", err)
	}
	c.applied = want
	return n, nil
}

func podMapElems(pods map[podElem]string) map[string][]nftables.SetElement {
	out := map[string][]nftables.SetElement{}
	for pe, chain := range pods {
		out[podMap(pe.d)] = append(out[podMap(pe.d)], podMapElem(nft.AddrKey(pe.ip), chain))
	}
	return out
}

// partialSync sends what changed since the last transaction: the set
// elements whose presence flipped, chains whose rules changed, sets and
// chains that come and go, and the pod map elements with them.
func (c *Controller) partialSync() (int, error) {
	have, want := c.applied, c.tr.desired()
	t := newTx(c.nft)
	for name, ch := range have.chains {
		w, keep := want.chains[name]
		switch {
		case !keep:
			t.FlushChain(name)
			t.DeleteChain(name)
		case !reflect.DeepEqual(w.rules, ch.rules):
			t.FlushChain(name)
			t.addRules(w)
		}
	}
	for name, ch := range want.chains {
		if _, ok := have.chains[name]; !ok {
			t.AddChain(name)
			t.addRules(ch)
		}
	}
	gone, come := map[podElem]string{}, map[podElem]string{}
	for pe, chain := range have.pods {
		if want.pods[pe] != chain {
			gone[pe] = chain
		}
	}
	for pe, chain := range want.pods {
		if have.pods[pe] != chain {
			come[pe] = chain
		}
	}
	for set, els := range podMapElems(gone) {
		t.setElems(have.sets[set], stripVerdicts(els), true)
	}
	for set, els := range podMapElems(come) {
		t.setElems(want.sets[set], els, false)
	}
	for name, s := range have.sets {
		if _, keep := want.sets[name]; !keep {
			t.deleteSet(s)
		}
	}
	for name, s := range want.sets {
		if _, ok := have.sets[name]; !ok {
			t.addSet(s)
		}
	}
	// Elements of sets that go are not removed one by one, and sets that
	// come hold nothing yet.
	add, del := c.tr.takeFlipped()
	kept := map[string]setDef{}
	for name, s := range have.sets {
		if _, ok := want.sets[name]; ok {
			kept[name] = s
		}
	}
	for set, els := range elemsBySet(del, kept) {
		t.setElems(kept[set], els, true)
	}
	for set, els := range elemsBySet(add, want.sets) {
		t.setElems(want.sets[set], els, false)
	}
	if t.Empty() {
		return 0, nil
	}
	n := t.Ops()
	if err := t.commit(); err != nil {
		return n, fmt.Errorf("apply changes: %w", err)
	}
	c.applied = want
	return n, nil
}

// stripVerdicts: a map element is deleted by its key alone.
func stripVerdicts(els []nftables.SetElement) []nftables.SetElement {
	out := make([]nftables.SetElement, len(els))
	for i, e := range els {
		out[i] = nftables.SetElement{Key: e.Key}
	}
	return out
}
