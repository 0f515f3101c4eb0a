package scheduler

import (
	"math"
	"slices"

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
}

func newPodTerm(owner *v1.Pod, t *v1.PodAffinityTerm, weight int32) podTerm {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
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
	pt := podTerm{selector: sel, namespaces: t.Namespaces, topologyKey: t.TopologyKey, weight: int64(weight)}
	if t.NamespaceSelector != nil {
		if ns, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector); err == nil {
			pt.nsSelector = ns
		}
	} else if len(t.Namespaces) == 0 {
		pt.namespaces = []string{owner.Namespace}
	}
	return pt
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
	for _, ni := range s.Nodes {
		nodeLabels := ni.Node.Labels
		for _, existing := range ni.Pods {
			for _, t := range termsOf(existing).antiAffinity {
				if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(pod, s) {
					st.existingAnti[topologyPair{t.topologyKey, v}]++
				}
			}
			for _, t := range st.terms.antiAffinity {
				if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(existing, s) {
					st.anti[topologyPair{t.topologyKey, v}]++
				}
			}
			if len(st.terms.affinity) > 0 && matchesAll(st.terms.affinity, existing, s) {
				for _, t := range st.terms.affinity {
					if v, ok := nodeLabels[t.topologyKey]; ok {
						st.affinity[topologyPair{t.topologyKey, v}]++
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
	weights := map[topologyPair]int64{}
	add := func(t *podTerm, other *v1.Pod, nodeLabels map[string]string, sign int64, otherIsIncoming bool) {
		v, ok := nodeLabels[t.topologyKey]
		if !ok {
			return
		}
		target := other
		if otherIsIncoming {
			target = pod
		}
		if t.matches(target, s) {
			weights[topologyPair{t.topologyKey, v}] += sign * t.weight
		}
	}
	for _, ni := range s.Nodes {
		nl := ni.Node.Labels
		for _, existing := range ni.Pods {
			for i := range mine.preferredAffinity {
				add(&mine.preferredAffinity[i], existing, nl, 1, false)
			}
			for i := range mine.preferredAntiAffinity {
				add(&mine.preferredAntiAffinity[i], existing, nl, -1, false)
			}
			theirs := termsOf(existing)
			for i := range theirs.affinity {
				add(&theirs.affinity[i], existing, nl, 1, true)
			}
			for i := range theirs.preferredAffinity {
				add(&theirs.preferredAffinity[i], existing, nl, 1, true)
			}
			for i := range theirs.preferredAntiAffinity {
				add(&theirs.preferredAntiAffinity[i], existing, nl, -1, true)
			}
		}
	}
	raw := make([]int64, len(nodes))
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i, ni := range nodes {
		for pair, w := range weights {
			if v, ok := ni.Node.Labels[pair.key]; ok && v == pair.value {
				raw[i] += w
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
