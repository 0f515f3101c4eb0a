package scheduler

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestAdmissionCheck(t *testing.T) {
	withPort := func(p *v1.Pod, port int32) *v1.Pod {
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: port, HostPort: port}}
		return p
	}
	withExtended := func(p *v1.Pod, name v1.ResourceName) *v1.Pod {
		p.Spec.Containers[0].Resources.Requests[name] = resource.MustParse("1")
		return p
	}
	finished := func(p *v1.Pod) *v1.Pod {
		p.Status.Phase = v1.PodSucceeded
		return p
	}
	onePod := node("n", nil, "2", "4Gi")
	onePod.Status.Allocatable[v1.ResourcePods] = resource.MustParse("1")
	selecting := on(pod("p", "", ""), "n")
	selecting.Spec.NodeSelector = map[string]string{"disk": "ssd"}

	cases := []struct {
		name   string
		node   *v1.Node
		others []*v1.Pod
		pod    *v1.Pod
		want   []AdmissionFailure
	}{
		{name: "fits", node: node("n", nil, "2", "4Gi"), others: []*v1.Pod{on(pod("a", "1", "1Gi"), "n")}, pod: on(pod("p", "1", "1Gi"), "n")},
		{name: "cpu then ports", node: node("n", nil, "2", "4Gi"), others: []*v1.Pod{withPort(on(pod("a", "1500m", ""), "n"), 80)}, pod: withPort(on(pod("p", "1", ""), "n"), 80),
			want: []AdmissionFailure{
				{Insufficient: &InsufficientResource{Name: v1.ResourceCPU, Requested: 1000, Used: 1500, Capacity: 2000}},
				{Filter: FilterNodePorts, Reason: MsgNodePorts},
			}},
		{name: "finished pods hold nothing", node: node("n", nil, "2", "4Gi"), others: []*v1.Pod{finished(withPort(on(pod("a", "2", ""), "n"), 80))}, pod: withPort(on(pod("p", "2", ""), "n"), 80)},
		{name: "pod count", node: onePod, others: []*v1.Pod{on(pod("a", "", ""), "n")}, pod: on(pod("p", "", ""), "n"),
			want: []AdmissionFailure{{Insufficient: &InsufficientResource{Name: v1.ResourcePods, Requested: 1, Used: 1, Capacity: 1}}}},
		{name: "selector", node: node("n", map[string]string{"disk": "hdd"}, "2", "4Gi"), pod: selecting,
			want: []AdmissionFailure{{Filter: FilterNodeAffinity, Reason: MsgNodeAffinity}}},
		{name: "other node", node: node("n", nil, "2", "4Gi"), pod: on(pod("p", "", ""), "m"),
			want: []AdmissionFailure{{Filter: FilterNodeName, Reason: MsgNodeName}}},
		{name: "unknown extended resource ignored", node: node("n", nil, "2", "4Gi"), pod: withExtended(on(pod("p", "", ""), "n"), "example.com/licence")},
		{name: "hugepages are not extended", node: node("n", nil, "2", "4Gi"), pod: withExtended(on(pod("p", "", ""), "n"), "hugepages-2Mi"),
			want: []AdmissionFailure{{Insufficient: &InsufficientResource{Name: "hugepages-2Mi", Requested: 1, Capacity: 0}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := AdmissionCheck(tc.pod, NewNodeInfo(tc.node, tc.others...))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", describe(got), describe(tc.want))
			}
		})
	}
}

func describe(fs []AdmissionFailure) []string {
	var out []string
	for _, f := range fs {
		if f.Insufficient != nil {
			out = append(out, string(f.Insufficient.Name)+" "+f.Insufficient.reason())
			continue
		}
		out = append(out, f.Filter+": "+f.Reason)
	}
	return out
}

func TestUntoleratedTaint(t *testing.T) {
	taints := []v1.Taint{{Key: "a", Effect: v1.TaintEffectNoSchedule}, {Key: "b", Value: "x", Effect: v1.TaintEffectNoExecute}}
	if _, bad := UntoleratedTaint(taints, nil, v1.TaintEffectNoExecute); !bad {
		t.Fatal("NoExecute taint b not found")
	}
	tol := []v1.Toleration{{Key: "b", Operator: v1.TolerationOpEqual, Value: "x", Effect: v1.TaintEffectNoExecute}}
	if tt, bad := UntoleratedTaint(taints, tol, v1.TaintEffectNoExecute); bad {
		t.Fatalf("tolerated taint reported: %+v", tt)
	}
}
