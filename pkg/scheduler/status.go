package scheduler

import (
	"fmt"
	"sort"
	"strings"
)

// Code says how a node failed a filter.
type Code int

const (
	// Success: the pod fits.
	Success Code = iota
	// Unschedulable: the pod does not fit, but evicting pods might help.
	Unschedulable
	// UnresolvableUnschedulable: preemption cannot help on this node.
	UnresolvableUnschedulable
)

// Status is the verdict of a filter on one node.
type Status struct {
	Code    Code
	Reasons []string
}

func fail(reasons ...string) *Status { return &Status{Code: Unschedulable, Reasons: reasons} }

func unresolvable(reasons ...string) *Status {
	return &Status{Code: UnresolvableUnschedulable, Reasons: reasons}
}

// OK reports a pass; a nil Status passes.
func (s *Status) OK() bool { return s == nil || s.Code == Success }

// Messages the filters give, worded as upstream's.
const (
	msgNodeAffinity      = "node(s) didn't match Pod's node affinity/selector"
	msgUnschedulable     = "node(s) were unschedulable"
	msgNotReady          = "node(s) were not ready"
	msgPorts             = "node(s) didn't have free ports for the requested pod ports"
	msgTooManyPods       = "Too many pods"
	msgAffinity          = "node(s) didn't match pod affinity rules"
	msgAntiAffinity      = "node(s) didn't match pod anti-affinity rules"
	msgExistingAnti      = "node(s) didn't satisfy existing pods anti-affinity rules"
	msgSpread            = "node(s) didn't match pod topology spread constraints"
	msgSpreadLabel       = msgSpread + " (missing required label)"
	msgPreemptNotHelpful = "Preemption is not helpful for scheduling"
	msgNoVictims         = "No preemption victims found for incoming pod"
	msgPreemptNever      = "not eligible due to preemptionPolicy=Never."
)

func msgInsufficient(resource string) string { return "Insufficient " + resource }

func msgTaint(key, value string) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", key, value)
}

// FitError explains why a pod fits no node.
type FitError struct {
	NumAllNodes int
	// NodeStatus holds the failing Status of every node.
	NodeStatus map[string]*Status
	// PostFilterMsg is what preemption had to say, if anything.
	PostFilterMsg string
}

// Error renders the upstream message: "0/N nodes are available: <count>
// <reason>, ... ." sorted as text (count first, as upstream), followed by the
// preemption verdict.
func (e *FitError) Error() string {
	msg := fmt.Sprintf("0/%d nodes are available:", e.NumAllNodes)
	if h := histogram(e.NodeStatus); h != "" {
		msg += " " + h + "."
	}
	if e.PostFilterMsg != "" {
		msg += " " + e.PostFilterMsg
	}
	return msg
}

func histogram(statuses map[string]*Status) string {
	counts := map[string]int{}
	for _, st := range statuses {
		if st == nil {
			continue
		}
		for _, r := range st.Reasons {
			counts[r]++
		}
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	// Upstream sorts the whole "<count> <reason>" strings.
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
