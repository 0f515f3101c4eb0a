package scheduler

import (
	"math"
	"slices"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// hardPodAffinityWeight is what an existing pod's required affinity to
// the incoming pod counts for in scoring, as upstream's default.
const hardPodAffinityWeight = 1

type topologyPair struct{ key, value string }

// podTerm is a PodAffinityTerm resolved against the pod that owns it.
type podTerm struct {
	selector    labels.Selector
	namespaces  []string
	nsSelector  labels.Selector // nil: only the listed namespaces
	topologyKey string
	weight      int64
	// nothing: the selector matches no pod; memoKey names what the term
	// matches for NodeInfo.memo ("" when it depends on namespace labels).
	nothing bool
	memoKey string
	memoID  uint64
}

func newPodTerm(owner *v1.Pod, t *v1.PodAffinityTerm, weight int32) podTerm {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	nothing := err != nil || t.LabelSelector == nil
	if err != nil {
		sel = labels.Nothing()
	}
	if t.LabelSelector != nil {
		// matchLabelKeys and mismatchLabelKeys pin the owner's own values.
		for _, k := range t.MatchLabelKeys {
			if v, ok := owner.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, selection.In, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		for _, k := range t.MismatchLabelKeys {
			if v, ok := owner.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, selection.NotIn, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
	}
	pt := podTerm{selector: sel, namespaces: t.Namespaces, topologyKey: t.TopologyKey, weight: int64(weight), nothing: nothing}
	if t.NamespaceSelector != nil {
		if ns, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector); err == nil {
			pt.nsSelector = ns
		}
	} else if len(t.Namespaces) == 0 {
		pt.namespaces = []string{owner.Namespace}
	}
	if pt.nsSelector == nil && !nothing {
		pt.memoKey = "T" + strings.Join(pt.namespaces, "\x01") + "\x00" + sel.String()
		pt.memoID = internMemoKey(pt.memoKey)
	}
	return pt
}

// countOn counts the pods on ni the term matches.
func (t *podTerm) countOn(ni *NodeInfo, s *Snapshot) int64 {
	if t.nothing {
		return 0
	}
	return ni.countMatching(t.memoID, func(p *v1.Pod) bool { return t.matches(p, s) })
}

// countMatching counts the pods on ni that match, remembering the count
// under id (unless id is 0) for as long as the NodeInfo lives.
func (ni *NodeInfo) countMatching(id uint64, match func(*v1.Pod) bool) int64 {
	if id != 0 {
		for _, e := range ni.memo {
			if e.id == id {
				return e.n
			}
		}
	}
	var n int64
	for _, p := range ni.Pods {
		if match(p) {
			n++
		}
	}
	if id != 0 && len(ni.memo) < maxMemo {
		ni.memo = append(ni.memo, memoEntry{id: id, n: n})
	}
	return n
}

// maxMemo bounds the counts a NodeInfo remembers.
const maxMemo = 32

type memoEntry struct {
	id uint64
	n  int64
}

// memoKeys interns the descriptions of what a count counts (a selector
// and its namespaces) as small numbers, so NodeInfo.memo compares
// numbers. Numbers are never reused: when the table grows too big it
// starts afresh and old counts simply stop matching.
var memoKeys = struct {
	sync.Mutex
	ids  map[string]uint64
	next uint64
}{ids: map[string]uint64{}}

func internMemoKey(key string) uint64 {
	memoKeys.Lock()
	defer memoKeys.Unlock()
	if id, ok := memoKeys.ids[key]; ok {
		return id
	}
	if len(memoKeys.ids) >= 1<<16 {
		memoKeys.ids = map[string]uint64{}
	}
	memoKeys.next++
	memoKeys.ids[key] = memoKeys.next
	return memoKeys.next
}

// matches: pod is in one of the term's namespaces and carries its labels.
func (t *podTerm) matches(pod *v1.Pod, s *Snapshot) bool {
	inNS := slices.Contains(t.namespaces, pod.Namespace) ||
		(t.nsSelector != nil && t.nsSelector.Matches(labels.Set(s.namespaceLabels(pod.Namespace))))
	return inNS && t.selector.Matches(labels.Set(pod.Labels))
}

// podAffinityTerms are a pod's inter-pod terms, by kind.
type podAffinityTerms struct {
	affinity, antiAffinity                   []podTerm // required
	preferredAffinity, preferredAntiAffinity []podTerm
}

// hasInterPodTerms: the pod has some inter-pod (anti-)affinity term.
func hasInterPodTerms(pod *v1.Pod) bool {
	a := pod.Spec.Affinity
	return a != nil && (a.PodAffinity != nil && (len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 || len(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0) ||
		a.PodAntiAffinity != nil && (len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0))
}

func termsOf(pod *v1.Pod) podAffinityTerms {
	var out podAffinityTerms
	a := pod.Spec.Affinity
	if a == nil {
		return out
	}
	if pa := a.PodAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			out.affinity = append(out.affinity, newPodTerm(pod, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], hardPodAffinityWeight))
		}
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			out.preferredAffinity = append(out.preferredAffinity, newPodTerm(pod, &w.PodAffinityTerm, w.Weight))
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			out.antiAffinity = append(out.antiAffinity, newPodTerm(pod, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 0))
		}
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			out.preferredAntiAffinity = append(out.preferredAntiAffinity, newPodTerm(pod, &w.PodAffinityTerm, w.Weight))
		}
	}
	return out
}

// interPodState is the cluster-wide counting the InterPodAffinity filter
// needs for one incoming pod.
type interPodState struct {
	terms podAffinityTerms
	// existingAnti: topology pairs where an existing pod's required
	// anti-affinity rejects the incoming pod.
	existingAnti map[topologyPair]int
	// anti: pairs holding pods the incoming pod's anti-affinity rejects.
	anti map[topologyPair]int
	// affinity: pairs holding pods matching all its affinity terms.
	affinity map[topologyPair]int
}

func newInterPodState(pod *v1.Pod, s *Snapshot) *interPodState {
	st := &interPodState{terms: termsOf(pod), existingAnti: map[topologyPair]int{}, anti: map[topologyPair]int{}, affinity: map[topologyPair]int{}}
	allKey, allID := "", uint64(0)
	if len(st.terms.affinity) > 0 {
		allKey = "A"
		for i := range st.terms.affinity {
			if st.terms.affinity[i].memoKey == "" {
				allKey = ""
				break
			}
			allKey += st.terms.affinity[i].memoKey + "\x02"
		}
		if allKey != "" {
			allID = internMemoKey(allKey)
		}
	}
	matched := matchCache{}
	for _, ni := range s.Nodes {
		nodeLabels := ni.Node.Labels
		// Only pods with terms can reject the incoming pod.
		for _, g := range ni.termGroups() {
			if g.kind != kindRequiredAnti {
				continue
			}
			if v, ok := nodeLabels[g.term.topologyKey]; ok && matched.matches(g.term, pod, s) {
				st.existingAnti[topologyPair{g.term.topologyKey, v}] += int(g.weight)
			}
		}
		for i := range st.terms.antiAffinity {
			t := &st.terms.antiAffinity[i]
			if v, ok := nodeLabels[t.topologyKey]; ok {
				if n := t.countOn(ni, s); n > 0 {
					st.anti[topologyPair{t.topologyKey, v}] += int(n)
				}
			}
		}
		if len(st.terms.affinity) > 0 {
			n := ni.countMatching(allID, func(p *v1.Pod) bool { return matchesAll(st.terms.affinity, p, s) })
			if n > 0 {
				for _, t := range st.terms.affinity {
					if v, ok := nodeLabels[t.topologyKey]; ok {
						st.affinity[topologyPair{t.topologyKey, v}] += int(n)
					}
				}
			}
		}
	}
	return st
}

func matchesAll(terms []podTerm, pod *v1.Pod, s *Snapshot) bool {
	for i := range terms {
		if !terms[i].matches(pod, s) {
			return false
		}
	}
	return true
}

// filterInterPod is the InterPodAffinity filter.
func filterInterPod(pod *v1.Pod, st *interPodState, s *Snapshot, ni *NodeInfo) *Status {
	nodeLabels := ni.Node.Labels
	for pair, n := range st.existingAnti {
		if v, ok := nodeLabels[pair.key]; ok && v == pair.value && n > 0 {
			return fail(msgExistingAnti)
		}
	}
	for _, t := range st.terms.antiAffinity {
		if v, ok := nodeLabels[t.topologyKey]; ok && st.anti[topologyPair{t.topologyKey, v}] > 0 {
			return fail(msgAntiAffinity)
		}
	}
	if len(st.terms.affinity) == 0 {
		return nil
	}
	found := true
	for _, t := range st.terms.affinity {
		v, ok := nodeLabels[t.topologyKey]
		if !ok {
			return unresolvable(msgAffinity) // every topology key must be there
		}
		if st.affinity[topologyPair{t.topologyKey, v}] <= 0 {
			found = false
		}
	}
	// The first pod of a group with affinity to itself may go anywhere
	// its topology keys exist, as long as no pod matches yet.
	if !found && !(len(st.affinity) == 0 && matchesAll(st.terms.affinity, pod, s)) {
		return unresolvable(msgAffinity)
	}
	return nil
}

// interPodScores weighs, per topology pair, the incoming pod's preferred
// (anti-)affinity to the existing pods and theirs to it; a node scores
// the sum over its labels, normalised to 0..100 across nodes.
func interPodScores(pod *v1.Pod, s *Snapshot, nodes []*NodeInfo) []int64 {
	mine := termsOf(pod)
	// Per topology key, what the terms give each of its domains.
	type keyWeights struct {
		domains *topologyDomains
		w       []int64
	}
	var weights []*keyWeights
	keys := map[string]*keyWeights{}
	weightsOf := func(key string) *keyWeights {
		kw := keys[key]
		if kw == nil {
			d := s.domainsOf(key)
			kw = &keyWeights{domains: d, w: make([]int64, d.count)}
			keys[key] = kw
			weights = append(weights, kw)
		}
		return kw
	}
	// The incoming pod's preferences, counted per node.
	mineCount := func(terms []podTerm, i int, ni *NodeInfo, sign int64) {
		for j := range terms {
			t := &terms[j]
			kw := weightsOf(t.topologyKey)
			if d := kw.domains.ofNode[i]; d >= 0 {
				if n := t.countOn(ni, s); n > 0 {
					kw.w[d] += sign * t.weight * n
				}
			}
		}
	}
	matched := matchCache{}
	for i, ni := range s.Nodes {
		mineCount(mine.preferredAffinity, i, ni, 1)
		mineCount(mine.preferredAntiAffinity, i, ni, -1)
		// The existing pods' terms, applied to the incoming pod.
		for _, g := range ni.termGroups() {
			if g.kind == kindRequiredAnti {
				continue
			}
			kw := weightsOf(g.term.topologyKey)
			if d := kw.domains.ofNode[i]; d >= 0 && matched.matches(g.term, pod, s) {
				w := g.weight
				if g.kind == kindPreferredAnti {
					w = -w
				}
				kw.w[d] += w
			}
		}
	}
	raw := make([]int64, len(nodes))
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i, ni := range nodes {
		if len(weights) > 0 {
			pos, ok := s.index[ni.Node.Name]
			for _, kw := range weights {
				if d := kw.domains.ofNode[pos]; ok && d >= 0 {
					raw[i] += kw.w[d]
				}
			}
		}
		lo, hi = min(lo, raw[i]), max(hi, raw[i])
	}
	out := make([]int64, len(nodes))
	if hi > lo {
		for i := range raw {
			out[i] = 100 * (raw[i] - lo) / (hi - lo)
		}
	}
	return out
}

// Kinds of the existing pods' terms, as termGroups groups them.
const (
	kindRequiredAffinity = iota
	kindPreferredAffinity
	kindPreferredAnti
	kindRequiredAnti
)

// termGroup is one distinct term of the pods on a node, with the sum of
// its weights (for required anti-affinity, the number of pods holding it).
type termGroup struct {
	term   *podTerm
	kind   int
	weight int64
}

// termGroups sums up the inter-pod terms of the node's pods: pods of one
// workload share their terms, so a cycle judges each once per node. It
// is computed on first use, by the scheduling goroutine.
func (ni *NodeInfo) termGroups() []termGroup {
	if ni.groups != nil || len(ni.affinityPods) == 0 {
		return ni.groups
	}
	groups := []termGroup{}
	index := map[string]int{}
	add := func(terms []podTerm, kind int, weight func(*podTerm) int64) {
		for i := range terms {
			t := &terms[i]
			key := ""
			if t.memoKey != "" {
				key = string(rune('0'+kind)) + t.topologyKey + "\x03" + t.memoKey
				if j, ok := index[key]; ok {
					groups[j].weight += weight(t)
					continue
				}
				index[key] = len(groups)
			}
			groups = append(groups, termGroup{term: t, kind: kind, weight: weight(t)})
		}
	}
	byWeight := func(t *podTerm) int64 { return t.weight }
	one := func(*podTerm) int64 { return 1 }
	for _, ap := range ni.affinityPods {
		add(ap.terms.affinity, kindRequiredAffinity, byWeight)
		add(ap.terms.preferredAffinity, kindPreferredAffinity, byWeight)
		add(ap.terms.preferredAntiAffinity, kindPreferredAnti, byWeight)
		add(ap.terms.antiAffinity, kindRequiredAnti, one)
	}
	ni.groups = groups
	return groups
}

// matchCache remembers, for one incoming pod, which terms match it.
type matchCache map[uint64]bool

func (m matchCache) matches(t *podTerm, pod *v1.Pod, s *Snapshot) bool {
	if t.memoKey == "" {
		return t.matches(pod, s)
	}
	ok, seen := m[t.memoID]
	if !seen {
		ok = t.matches(pod, s)
		m[t.memoID] = ok
	}
	return ok
}
