package scheduler

import "testing"

func TestFitErrorMessage(t *testing.T) {
	cases := []struct {
		name string
		err  FitError
		want string
	}{
		{"histogram sorted as text", FitError{NumAllNodes: 5, NodeStatus: map[string]*Status{
			"a": fail("Insufficient cpu"), "b": fail("Insufficient cpu"),
			"c": unresolvable(msgNodeAffinity), "d": unresolvable(msgNodeAffinity), "e": unresolvable(msgNodeAffinity),
		}, PostFilterMsg: "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."},
			"0/5 nodes are available: 2 Insufficient cpu, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."},
		{"several reasons on one node", FitError{NumAllNodes: 1, NodeStatus: map[string]*Status{"a": fail("Insufficient cpu", "Insufficient memory")}},
			"0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."},
		{"counts sort first, as upstream", FitError{NumAllNodes: 3, NodeStatus: map[string]*Status{
			"a": unresolvable(msgPreemptNotHelpful), "b": unresolvable(msgNoVictims), "c": unresolvable(msgNoVictims)}},
			"0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."},
		{"no nodes", FitError{NumAllNodes: 0}, "0/0 nodes are available:"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
