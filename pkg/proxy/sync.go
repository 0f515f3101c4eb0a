package proxy

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"k8s.io/apimachinery/pkg/types"
)

// state is what our table holds, as of the last successful transaction.
// Partial syncs diff against it instead of asking the kernel.
type state struct {
	ports map[portKey]*portState
	bySvc map[types.NamespacedName][]portKey
	// owners: the service ports that want each element and with which
	// value; kernel: the value the kernel holds. Two Services may want
	// the same element (say the same external IP and port); the first
	// port by name wins, deterministically.
	owners map[elemID]map[portKey]elemVal
	kernel map[elemID]elemVal
}

type portState struct {
	sp       *servicePort      // as programmed, to skip unchanged ports
	chains   map[string]string // name: chainProgram.stable
	affinity map[string]time.Duration
	elems    map[elemID]elemVal
}

func newState() *state {
	return &state{
		ports: map[portKey]*portState{}, bySvc: map[types.NamespacedName][]portKey{},
		owners: map[elemID]map[portKey]elemVal{}, kernel: map[elemID]elemVal{},
	}
}

// winner is the value an element should have given its owners.
func (s *state) winner(id elemID) (elemVal, bool) {
	owners := s.owners[id]
	if len(owners) == 0 {
		return elemVal{}, false
	}
	keys := slices.SortedFunc(maps.Keys(owners), func(a, b portKey) int { return strings.Compare(a.String(), b.String()) })
	return owners[keys[0]], true
}

// setPort records a port's program (nil: the port is gone) in the
// element ownership, returning the elements whose winner may change.
func (s *state) setPort(k portKey, ps *portState, touched map[elemID]struct{}) {
	if old := s.ports[k]; old != nil {
		for id := range old.elems {
			delete(s.owners[id], k)
			if len(s.owners[id]) == 0 {
				delete(s.owners, id)
			}
			touched[id] = struct{}{}
		}
	}
	if ps == nil {
		delete(s.ports, k)
		return
	}
	s.ports[k] = ps
	for id, v := range ps.elems {
		if s.owners[id] == nil {
			s.owners[id] = map[portKey]elemVal{}
		}
		s.owners[id][k] = v
		touched[id] = struct{}{}
	}
}

// setFor returns the map or set object an element belongs to.
func (c *nftConn) setFor(name string) *nftables.Set {
	for _, s := range fixedSets(c.table, true) {
		if s.Name == name {
			return s
		}
	}
	panic("proxy: unknown set " + name)
}

// toElement encodes an element; withValue (a map's element being added)
// sends its verdict, whatever it is: drop's code is 0, so the verdict's
// kind cannot tell a map's element from a set's.
func toElement(id elemID, v elemVal, withValue bool) nftables.SetElement {
	el := nftables.SetElement{Key: []byte(id.key)}
	if withValue {
		el.VerdictData = &expr.Verdict{Kind: v.kind, Chain: v.chain}
	}
	return el
}

// reconcileElems queues element changes for the touched elements, from
// what the kernel holds to the owners' winners, and updates s.kernel as
// if the transaction succeeded.
func (s *state) reconcileElems(t *tx, touched map[elemID]struct{}) {
	dels, adds := map[string][]nftables.SetElement{}, map[string][]nftables.SetElement{}
	for id := range touched {
		want, ok := s.winner(id)
		have, present := s.kernel[id]
		if ok && present && want == have {
			continue
		}
		if present {
			dels[id.set] = append(dels[id.set], toElement(id, have, false))
			delete(s.kernel, id)
		}
		if ok {
			adds[id.set] = append(adds[id.set], toElement(id, want, t.c.setFor(id.set).IsMap))
			s.kernel[id] = want
		}
	}
	for set, els := range dels {
		t.SetElems(t.c.setFor(set), els, true)
	}
	for set, els := range adds {
		t.SetElems(t.c.setFor(set), els, false)
	}
}

// emitProgram queues a port's chains and rules given the chains the
// Service had (name: stable), which the caller flushes unless this leaves
// them alone: a chain already there with the same non-empty stable key
// keeps its rules; another one there is rewritten; a new one is created.
// It returns the old chains it kept as they are.
func emitProgram(t *tx, prog *program, old map[string]string) map[string]bool {
	kept := map[string]bool{}
	for _, ch := range prog.chains {
		st, had := old[ch.name]
		switch {
		case had && st != "" && st == ch.stable:
			kept[ch.name] = true
			continue
		case !had:
			t.AddChain(ch.name)
		}
		for _, ru := range ch.rules {
			t.addRule(ch.name, ru)
		}
	}
	return kept
}

// syncServices applies the current desired state of the given Services
// as one transaction touching only their chains, sets and elements.
func (p *Proxier) syncServices(svcs []types.NamespacedName) (int, []types.NamespacedName, error) {
	s := p.state
	t := newTx(p.nft)
	touched := map[elemID]struct{}{}
	type change struct {
		k  portKey
		ps *portState // nil: removed
	}
	var changes []change
	var changed []types.NamespacedName
	for _, nsn := range svcs {
		desired := p.desiredPorts(nsn)
		oldKeys := s.bySvc[nsn]
		if p.unchanged(oldKeys, desired) {
			continue
		}
		changed = append(changed, nsn)
		// The chains this Service had are flushed (their rules are
		// rewritten, or they go away) unless they stay as they are.
		oldChains := map[string]string{}
		oldAffinity := map[string]time.Duration{}
		for _, k := range oldKeys {
			maps.Copy(oldChains, s.ports[k].chains)
			maps.Copy(oldAffinity, s.ports[k].affinity)
		}
		newChains := map[string]bool{}
		kept := map[string]bool{}
		newAffinity := map[string]time.Duration{}
		for _, sp := range desired {
			prog := buildProgram(sp, p.cfg.ClusterCIDR)
			ps := &portState{sp: sp, chains: map[string]string{}, affinity: prog.affinity, elems: prog.elems}
			for _, ch := range prog.chains {
				ps.chains[ch.name] = ch.stable
				newChains[ch.name] = true
			}
			maps.Copy(newAffinity, prog.affinity)
			maps.Copy(kept, emitProgram(t, prog, oldChains))
			changes = append(changes, change{sp.key, ps})
		}
		for c := range oldChains {
			if !kept[c] {
				t.FlushChain(c)
			}
			if !newChains[c] {
				t.DeleteChain(c)
			}
		}
		for name, timeout := range oldAffinity {
			if nt, keep := newAffinity[name]; !keep || nt != timeout {
				t.deleteSet(name)
			}
		}
		for name, timeout := range newAffinity {
			if ot, had := oldAffinity[name]; !had || ot != timeout {
				t.addAffinitySet(name, timeout)
			}
		}
		for _, k := range oldKeys {
			if !slices.ContainsFunc(desired, func(sp *servicePort) bool { return sp.key == k }) {
				changes = append(changes, change{k, nil})
			}
		}
	}
	if len(changed) == 0 {
		return 0, nil, nil
	}
	// Bookkeeping as if the transaction succeeds; a failure makes the
	// next sync a full one, which rebuilds all of it from the kernel.
	for _, c := range changes {
		s.setPort(c.k, c.ps, touched)
	}
	for _, nsn := range changed {
		var keys []portKey
		for _, c := range changes {
			if c.ps != nil && c.k.NamespacedName == nsn {
				keys = append(keys, c.k)
			}
		}
		if len(keys) == 0 {
			delete(s.bySvc, nsn)
		} else {
			s.bySvc[nsn] = keys
		}
	}
	s.reconcileElems(t, touched)
	n, err := t.commit()
	if err != nil {
		return n, changed, fmt.Errorf("apply %d changed services: %w", len(changed), err)
	}
	return n, changed, nil
}

// unchanged reports whether a Service's ports are programmed exactly as
// desired.
func (p *Proxier) unchanged(old []portKey, desired []*servicePort) bool {
	if len(old) != len(desired) {
		return false
	}
	for _, sp := range desired {
		ps := p.state.ports[sp.key]
		if ps == nil || !reflect.DeepEqual(ps.sp, sp) {
			return false
		}
	}
	return true
}
