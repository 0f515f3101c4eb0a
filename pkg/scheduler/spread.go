package scheduler

import (
	"math"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// spreadConstraint is a TopologySpreadConstraint resolved for its pod.
type spreadConstraint struct {
	maxSkew       int64
	key           string
	minDomains    int
	selector      labels.Selector
	honorAffinity bool // nodeAffinityPolicy, default Honor
	honorTaints   bool // nodeTaintsPolicy, default Ignore
	// nothing: the selector matches no pod; memoKey names what the
	// constraint counts, for NodeInfo.memo.
	nothing bool
	memoKey string
	memoID  uint64
}

// spreadConstraints returns the pod's constraints with the given
// whenUnsatisfiable.
func spreadConstraints(pod *v1.Pod, when v1.UnsatisfiableConstraintAction) []spreadConstraint {
	var out []spreadConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != when {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		nothing := err != nil || c.LabelSelector == nil
		if err != nil {
			sel = labels.Nothing()
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, selection.In, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		sc := spreadConstraint{
			maxSkew: int64(c.MaxSkew), key: c.TopologyKey, minDomains: 1, selector: sel,
			honorAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor,
			honorTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor,
			nothing:       nothing,
			memoKey:       "S" + pod.Namespace + "\x00" + sel.String(),
		}
		if c.MinDomains != nil {
			sc.minDomains = int(*c.MinDomains)
		}
		sc.memoID = internMemoKey(sc.memoKey)
		out = append(out, sc)
	}
	return out
}

// includes: the constraint's node inclusion policies admit node.
func (c *spreadConstraint) includes(pod *v1.Pod, req *nodeRequirements, node *v1.Node) bool {
	if c.honorAffinity && !req.matches(node) {
		return false
	}
	if c.honorTaints {
		if _, bad := UntoleratedTaint(node.Spec.Taints, pod.Spec.Tolerations, v1.TaintEffectNoSchedule, v1.TaintEffectNoExecute); bad {
			return false
		}
	}
	return true
}

func hasKeys(node *v1.Node, cs []spreadConstraint) bool {
	for i := range cs {
		if _, ok := node.Labels[cs[i].key]; !ok {
			return false
		}
	}
	return true
}

// matchingPods counts the pods on ni that constraint c counts: same
// namespace as the incoming pod, matching the selector, not going away.
func (c *spreadConstraint) matchingPods(pod *v1.Pod, ni *NodeInfo) int64 {
	if c.nothing {
		return 0
	}
	return ni.countMatching(c.memoID, func(p *v1.Pod) bool {
		return p.Namespace == pod.Namespace && p.DeletionTimestamp == nil && c.selector.Matches(labels.Set(p.Labels))
	})
}

// domainCounts counts matching pods per topology value over the nodes
// eligible for the constraints: carrying all their keys and admitted by
// the inclusion policies.
func domainCounts(pod *v1.Pod, req *nodeRequirements, cs []spreadConstraint, nodes []*NodeInfo) []map[string]int64 {
	counts := make([]map[string]int64, len(cs))
	for i := range counts {
		counts[i] = map[string]int64{}
	}
	for _, ni := range nodes {
		if !hasKeys(ni.Node, cs) {
			continue
		}
		for i := range cs {
			if !cs[i].includes(pod, req, ni.Node) {
				continue
			}
			counts[i][ni.Node.Labels[cs[i].key]] += cs[i].matchingPods(pod, ni)
		}
	}
	return counts
}

// spreadState is the DoNotSchedule constraints of one pod with their
// per-domain counts and global minima.
type spreadState struct {
	constraints []spreadConstraint
	counts      []map[string]int64
	minimum     []int64
	self        []int64 // 1 where the incoming pod matches the constraint's selector
}

func newSpreadState(pod *v1.Pod, req *nodeRequirements, s *Snapshot) *spreadState {
	cs := spreadConstraints(pod, v1.DoNotSchedule)
	if len(cs) == 0 {
		return nil
	}
	st := &spreadState{constraints: cs, counts: domainCounts(pod, req, cs, s.Nodes), minimum: make([]int64, len(cs)), self: make([]int64, len(cs))}
	for i, c := range cs {
		if c.selector.Matches(labels.Set(pod.Labels)) {
			st.self[i] = 1
		}
		if len(st.counts[i]) < c.minDomains {
			continue // too few domains: the minimum counts as 0
		}
		low := int64(math.MaxInt64)
		for _, n := range st.counts[i] {
			low = min(low, n)
		}
		if low != math.MaxInt64 {
			st.minimum[i] = low
		}
	}
	return st
}

// filterSpread is the PodTopologySpread filter: placing the pod on ni
// must not raise any domain's skew over maxSkew.
func filterSpread(pod *v1.Pod, st *spreadState, ni *NodeInfo) *Status {
	if st == nil {
		return nil
	}
	for i := range st.constraints {
		c := &st.constraints[i]
		v, ok := ni.Node.Labels[c.key]
		if !ok {
			return unresolvable(msgSpreadLabel)
		}
		if st.counts[i][v]+st.self[i]-st.minimum[i] > c.maxSkew {
			return fail(msgSpread)
		}
	}
	return nil
}

// spreadScores favours, for ScheduleAnyway constraints, the feasible
// nodes whose domains hold fewest matching pods; each constraint weighs
// log(domains+2). Nodes missing a topology key score 0.
func spreadScores(pod *v1.Pod, s *Snapshot, feasible []*NodeInfo) []int64 {
	out := make([]int64, len(feasible))
	cs := spreadConstraints(pod, v1.ScheduleAnyway)
	if len(cs) == 0 {
		return out
	}
	req := newNodeRequirements(pod)
	counts := domainCounts(pod, &req, cs, s.Nodes)
	weights := make([]float64, len(cs))
	for i := range cs {
		domains := map[string]bool{}
		for _, ni := range feasible {
			if v, ok := ni.Node.Labels[cs[i].key]; ok {
				domains[v] = true
			}
		}
		weights[i] = math.Log(float64(len(domains) + 2))
	}
	raw := make([]float64, len(feasible))
	ignored := make([]bool, len(feasible))
	lo, hi := math.MaxFloat64, 0.0
	for j, ni := range feasible {
		if !hasKeys(ni.Node, cs) {
			ignored[j] = true
			continue
		}
		for i := range cs {
			raw[j] += float64(counts[i][ni.Node.Labels[cs[i].key]])*weights[i] + float64(cs[i].maxSkew-1)
		}
		lo, hi = min(lo, raw[j]), max(hi, raw[j])
	}
	for j := range feasible {
		switch {
		case ignored[j]:
		case hi == 0:
			out[j] = 100
		default:
			out[j] = int64(100 * (hi + lo - raw[j]) / hi)
		}
	}
	return out
}
