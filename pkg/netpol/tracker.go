package netpol

import (
	stdcmp "cmp"
	"net/netip"
	"reflect"
	"slices"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// tracker holds the model of the cluster as the informers last showed it
// and, per pod and policy, what the pod contributes to the policy. A
// change re-evaluates only the pairs it can affect: a pod against every
// policy, a policy against every pod, a namespace's labels for the pods
// in it. The set elements wanted are reference counted, and every element
// whose presence flips is remembered until the next sync takes it.
type tracker struct {
	policies map[types.NamespacedName]*policy
	programs map[types.NamespacedName]policyProgram
	pods     map[types.NamespacedName]*podInfo
	podsByNS map[string]map[types.NamespacedName]struct{}
	local    map[types.NamespacedName]struct{} // pods of this node
	nsLabels map[string]labels.Set
	contribs map[types.NamespacedName]map[types.NamespacedName]*contrib // pod → policy

	elems map[elemID]int
	// flipped: elements whose presence changed since the last sync,
	// with the presence they had then (what the kernel holds).
	flipped map[elemID]bool
}

func newTracker() *tracker {
	return &tracker{
		policies: map[types.NamespacedName]*policy{}, programs: map[types.NamespacedName]policyProgram{},
		pods: map[types.NamespacedName]*podInfo{}, podsByNS: map[string]map[types.NamespacedName]struct{}{}, local: map[types.NamespacedName]struct{}{},
		nsLabels: map[string]labels.Set{}, contribs: map[types.NamespacedName]map[types.NamespacedName]*contrib{},
		elems: map[elemID]int{}, flipped: map[elemID]bool{},
	}
}

// setNamespace records a namespace's labels (nil: gone, which matches as
// no labels do) and re-evaluates its pods when they changed.
func (t *tracker) setNamespace(name string, l labels.Set) {
	old := t.nsLabels[name]
	if len(l) == 0 {
		delete(t.nsLabels, name)
	} else {
		t.nsLabels[name] = l
	}
	if labels.Equals(old, l) {
		return
	}
	for pk := range t.podsByNS[name] {
		t.evalPod(pk)
	}
}

// setPolicy records a policy (nil: gone) and re-evaluates every pod for
// it. It reports whether anything changed.
func (t *tracker) setPolicy(k types.NamespacedName, p *policy) bool {
	old := t.policies[k]
	if old == nil && p == nil || old != nil && p != nil && reflect.DeepEqual(old.spec, p.spec) {
		return false
	}
	if p == nil {
		delete(t.policies, k)
		delete(t.programs, k)
	} else {
		t.policies[k] = p
		t.programs[k] = p.program()
	}
	for pk := range t.pods {
		t.eval(pk, k)
	}
	return true
}

// setPod records a pod (nil: gone or not taking part) and re-evaluates it
// against every policy. It reports whether anything changed.
func (t *tracker) setPod(k types.NamespacedName, p *podInfo) bool {
	old := t.pods[k]
	if old == nil && p == nil || old != nil && p != nil && reflect.DeepEqual(old, p) {
		return false
	}
	if p == nil {
		delete(t.pods, k)
		delete(t.podsByNS[k.Namespace], k)
		if len(t.podsByNS[k.Namespace]) == 0 {
			delete(t.podsByNS, k.Namespace)
		}
	} else {
		t.pods[k] = p
		if t.podsByNS[k.Namespace] == nil {
			t.podsByNS[k.Namespace] = map[types.NamespacedName]struct{}{}
		}
		t.podsByNS[k.Namespace][k] = struct{}{}
	}
	if p != nil && p.local {
		t.local[k] = struct{}{}
	} else {
		delete(t.local, k)
	}
	t.evalPod(k)
	return true
}

// evalPod re-evaluates a pod against every policy, and drops what it
// contributed to policies that are gone (or all of it, when it is gone).
func (t *tracker) evalPod(pk types.NamespacedName) {
	for polKey := range t.policies {
		t.eval(pk, polKey)
	}
	// Policies gone since: their contributions go too.
	for polKey := range t.contribs[pk] {
		if t.policies[polKey] == nil {
			t.eval(pk, polKey)
		}
	}
}

// eval recomputes what one pod contributes to one policy.
func (t *tracker) eval(pk, polKey types.NamespacedName) {
	var next *contrib
	if pod, pol := t.pods[pk], t.policies[polKey]; pod != nil && pol != nil {
		next = pol.contribution(pod, t.nsLabels[pk.Namespace])
	}
	prev := t.contribs[pk][polKey]
	if prev == nil && next == nil {
		return
	}
	if prev != nil {
		for _, e := range prev.elems {
			t.count(e, -1)
		}
	}
	if next != nil {
		for _, e := range next.elems {
			t.count(e, 1)
		}
		if t.contribs[pk] == nil {
			t.contribs[pk] = map[types.NamespacedName]*contrib{}
		}
		t.contribs[pk][polKey] = next
	} else {
		delete(t.contribs[pk], polKey)
		if len(t.contribs[pk]) == 0 {
			delete(t.contribs, pk)
		}
	}
}

func (t *tracker) count(e elemID, delta int) {
	before := t.elems[e] > 0
	n := t.elems[e] + delta
	if n <= 0 {
		delete(t.elems, e)
	} else {
		t.elems[e] = n
	}
	if after := n > 0; after != before {
		if was, seen := t.flipped[e]; !seen {
			t.flipped[e] = before
		} else if was == after {
			delete(t.flipped, e) // back to what the kernel holds
		}
	}
}

// takeFlipped returns the elements to add and to remove since the last
// call, and forgets them.
func (t *tracker) takeFlipped() (add, del []elemID) {
	for e, was := range t.flipped {
		if was {
			del = append(del, e)
		} else {
			add = append(add, e)
		}
	}
	clear(t.flipped)
	return add, del
}

// isolated returns, per pod address of this node that some policy
// isolates, the policies isolating it in each direction (sorted). Two
// pods claiming one address (a pod deleted while its address is handed
// on) get the policies of both.
func (t *tracker) isolated() map[netip.Addr]*[2][]types.NamespacedName {
	out := map[netip.Addr]*[2][]types.NamespacedName{}
	for pk := range t.local {
		pod := t.pods[pk]
		for polKey, c := range t.contribs[pk] {
			for _, d := range dirs {
				if !c.target[d] {
					continue
				}
				if out[pod.ip] == nil {
					out[pod.ip] = &[2][]types.NamespacedName{}
				}
				out[pod.ip][d] = append(out[pod.ip][d], polKey)
			}
		}
	}
	for _, v := range out {
		for d := range v {
			slices.SortFunc(v[d], compareNSN)
			v[d] = slices.Compact(v[d])
		}
	}
	return out
}

func compareNSN(a, b types.NamespacedName) int {
	return stdcmp.Or(stdcmp.Compare(a.Namespace, b.Namespace), stdcmp.Compare(a.Name, b.Name))
}
