package scheduler

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func benchNodes(n int) []*v1.Node {
	nodes := make([]*v1.Node, n)
	for i := range nodes {
		name := fmt.Sprintf("node-%05d", i)
		nodes[i] = node(name, labelsOf("kubernetes.io/hostname", name, "topology.kubernetes.io/zone", fmt.Sprintf("zone-%d", i%4)), "64", "256Gi")
	}
	return nodes
}

func benchPod(i int, spread bool) *v1.Pod {
	lbl := map[string]string{"app": "sched"}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "sched", UID: types.UID(fmt.Sprintf("uid-%d", i)), Labels: lbl},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "app", Image: "registry.local/app:1.0",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("128Mi")}}}}},
	}
	if spread {
		sel := &metav1.LabelSelector{MatchLabels: lbl}
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: v1.DoNotSchedule, LabelSelector: sel}}
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{
			Weight: 100, PodAffinityTerm: v1.PodAffinityTerm{LabelSelector: sel, TopologyKey: "kubernetes.io/hostname"}}}}}
	}
	return p
}

// BenchmarkSchedule measures one scheduling cycle (view of the cluster,
// filters, scores, assumption) with ~10 assigned pods per node; each
// placed pod stays for the next 1000 cycles.
func BenchmarkSchedule(b *testing.B) {
	for _, spread := range []bool{false, true} {
		for _, n := range []int{100, 1000, 5000} {
			name := fmt.Sprintf("plain/nodes=%d", n)
			if spread {
				name = fmt.Sprintf("spread/nodes=%d", n)
			}
			b.Run(name, func(b *testing.B) {
				benchSchedule(b, n, spread)
			})
		}
	}
}

// cpuTime is the process's user+system CPU time: the machine is shared,
// so CPU per op is steadier than wall time per op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchSchedule(b *testing.B, n int, spread bool) {
	c := newSchedulerCache(time.Now)
	nodes := benchNodes(n)
	for _, nd := range nodes {
		c.AddNode(nd)
	}
	for i := range n * 10 {
		c.AddPod(on(benchPod(i, spread), nodes[i%n].Name))
	}
	algo := &algorithm{rnd: rand.New(rand.NewPCG(1, 2))}
	snap := &Snapshot{}
	var placed []*v1.Pod
	b.ResetTimer()
	cpu0, n0 := cpuTime(), 0
	for i := 0; b.Loop(); i++ {
		n0++
		p := benchPod(1_000_000+i, spread)
		c.UpdateSnapshot(snap)
		host, err := algo.schedule(p, snap)
		if err != nil {
			b.Fatal(err)
		}
		p.Spec.NodeName = host
		c.Assume(p)
		placed = append(placed, p)
		if len(placed) > 1000 {
			c.Forget(placed[0].UID)
			placed = placed[1:]
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n0), "cpu-ns/op")
}
