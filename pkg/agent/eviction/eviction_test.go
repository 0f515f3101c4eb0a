package eviction

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func TestParseThresholds(t *testing.T) {
	got, err := ParseThresholds(DefaultHard)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, th := range got {
		s = append(s, th.String())
	}
	if want := "imagefs.available<15%,memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%"; strings.Join(s, ",") != want {
		t.Fatalf("parsed %s, want %s", strings.Join(s, ","), want)
	}
	if got[1].Value(1<<30) != 100<<20 || got[2].Value(1000) != 100 {
		t.Fatalf("values %d %d", got[1].Value(1<<30), got[2].Value(1000))
	}
	if th, err := ParseThresholds("nodefs.available<0%,pid.available<100%,memory.available<1Gi"); err != nil || len(th) != 1 || th[0].Signal != MemoryAvailable {
		t.Fatalf("0%% and 100%% set no threshold: %v %v", th, err)
	}
	for in, want := range map[string]string{
		"memory.free<1Gi":                           "unsupported eviction signal memory.free",
		"memory.available=1Gi":                      `malformed pair "memory.available=1Gi", expect string<string`,
		"memory.available<1Gi,memory.available<2Gi": "found duplicate eviction threshold for signal memory.available",
		"memory.available<-1Gi":                     "eviction threshold memory.available must be positive: -1Gi",
		"memory.available<0":                        "eviction threshold memory.available must be positive: 0",
		"nodefs.available<101%":                     "eviction percentage threshold nodefs.available must be <= 100%: 101%",
		"nodefs.available<-5%":                      "eviction percentage threshold nodefs.available must be >= 0%: -5%",
		"nodefs.available<ten%":                     `invalid percentage "ten%" for eviction signal nodefs.available`,
		"memory.available<lots":                     `invalid quantity "lots" for eviction signal memory.available`,
	} {
		_, err := ParseThresholds(in)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
}

func TestParseReserved(t *testing.T) {
	r, err := ParseReserved("cpu=500m,memory=1Gi,ephemeral-storage=2Gi,pid=1000")
	if err != nil {
		t.Fatal(err)
	}
	if q := r[corev1.ResourceCPU]; q.MilliValue() != 500 {
		t.Fatalf("cpu %s", q.String())
	}
	if q := r[ResourcePID]; q.Value() != 1000 {
		t.Fatalf("pid %s", q.String())
	}
	for in, want := range map[string]string{
		"gpu=1":       `cannot reserve "gpu" resource`,
		"memory":      `malformed pair "memory", expect string=string`,
		"memory=-1Gi": `resource quantity for "memory" cannot be negative: -1Gi`,
		"cpu=fast":    `failed to parse quantity "fast" for "cpu" resource`,
	} {
		if _, err := ParseReserved(in); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
}

func TestAllocatable(t *testing.T) {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
	}
	sys, _ := ParseReserved("cpu=500m,memory=1Gi")
	kube, _ := ParseReserved("cpu=250m,memory=512Mi,ephemeral-storage=5Gi")
	hard, _ := ParseThresholds(DefaultHard)
	a := Allocatable(capacity, sys, kube, hard)
	want := map[corev1.ResourceName]int64{
		corev1.ResourceCPU:              3250, // millicores
		corev1.ResourceMemory:           8<<30 - 1<<30 - 512<<20 - 100<<20,
		corev1.ResourceEphemeralStorage: 100<<30 - 5<<30 - 10<<30, // less 10% of the capacity
		corev1.ResourcePods:             110,
	}
	for name, v := range want {
		q := a[name]
		got := q.Value()
		if name == corev1.ResourceCPU {
			got = q.MilliValue()
		}
		if got != v {
			t.Errorf("%s = %d, want %d", name, got, v)
		}
	}
	// More reserved than there is: zero, not negative.
	big, _ := ParseReserved("memory=16Gi")
	if q := Allocatable(capacity, big, nil, nil)[corev1.ResourceMemory]; q.Sign() != 0 {
		t.Errorf("over-reserved memory %s, want 0", q.String())
	}
	// The capacity itself is untouched.
	if q := capacity[corev1.ResourceMemory]; q.Value() != 8<<30 {
		t.Errorf("capacity changed to %s", q.String())
	}
}

// feed is a Reader returning what the test sets.
type feed struct{ r Readings }

func (f *feed) Read(context.Context) (Readings, error) { return f.r, nil }

func plenty() Readings {
	return Readings{
		MemoryCapacity: 8 << 30, MemoryAvailable: 4 << 30,
		NodeFs:  FsReading{Capacity: 100 << 30, Available: 50 << 30, Inodes: 1000, InodesFree: 500},
		ImageFs: FsReading{Capacity: 100 << 30, Available: 50 << 30, Inodes: 1000, InodesFree: 500},
		PIDMax:  4096, PIDRunning: 100,
	}
}

func conditionStatus(m *Manager, typ corev1.NodeConditionType) (corev1.ConditionStatus, string) {
	for _, c := range m.Conditions() {
		if c.Type == typ {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

// Conditions turn True when a threshold is met and back to False only
// once it has not been met for the transition period.
func TestConditionTransitions(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	hard, _ := ParseThresholds(DefaultHard + ",pid.available<10%")
	in := &feed{r: plenty()}
	changes := 0
	m := New(Config{Hard: hard, TransitionPeriod: 5 * time.Minute, Reader: in, Clock: clk,
		Pods:    func(context.Context) ([]*corev1.Pod, error) { return nil, nil },
		Changed: func() { changes++ }})
	m.Synchronize(context.Background())
	for _, c := range m.Conditions() {
		if c.Status != corev1.ConditionFalse {
			t.Fatalf("with plenty: %+v", c)
		}
	}
	if changes != 0 {
		t.Fatalf("%d changes with nothing changed", changes)
	}
	in.r.MemoryAvailable = 80 << 20
	in.r.NodeFs.InodesFree = 10 // 1% < 5%
	in.r.PIDRunning = 4000
	m.Synchronize(context.Background())
	for typ, reason := range map[corev1.NodeConditionType]string{
		corev1.NodeMemoryPressure: "KubeletHasInsufficientMemory", corev1.NodeDiskPressure: "KubeletHasDiskPressure", corev1.NodePIDPressure: "KubeletHasInsufficientPID",
	} {
		if st, r := conditionStatus(m, typ); st != corev1.ConditionTrue || r != reason {
			t.Errorf("%s = %s/%s, want True/%s", typ, st, r, reason)
		}
	}
	if changes != 1 {
		t.Fatalf("%d change notices, want 1", changes)
	}
	// Relieved: still True within the period.
	in.r = plenty()
	clk.Step(4*time.Minute + 59*time.Second)
	m.Synchronize(context.Background())
	if st, _ := conditionStatus(m, corev1.NodeMemoryPressure); st != corev1.ConditionTrue {
		t.Fatalf("memory pressure %s 4m59s after the last crossing, want True", st)
	}
	clk.Step(time.Second)
	m.Synchronize(context.Background())
	if st, r := conditionStatus(m, corev1.NodeMemoryPressure); st != corev1.ConditionFalse || r != "KubeletHasSufficientMemory" {
		t.Fatalf("memory pressure %s/%s after the period, want False/KubeletHasSufficientMemory", st, r)
	}
	if changes != 2 {
		t.Fatalf("%d change notices, want 2", changes)
	}
}

func pod(name string, prio int32, memReq string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{Priority: ptr.To(prio), Containers: []corev1.Container{{Name: "c"}}}}
	if memReq != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memReq)}
	}
	return p
}

// Upstream's order: over requests first, then lower priority, then the
// larger usage over the request.
func TestRank(t *testing.T) {
	mi := int64(1 << 20)
	cands := []Candidate{
		{Pod: pod("within-low-prio", 0, "500Mi"), Usage: 100 * mi},
		{Pod: pod("over-high-prio", 1000, "100Mi"), Usage: 900 * mi},
		{Pod: pod("over-small", 0, "100Mi"), Usage: 150 * mi},
		{Pod: pod("besteffort-big", 0, ""), Usage: 300 * mi},
		{Pod: pod("within-lowest", -5, "1Gi"), Usage: 10 * mi},
	}
	Rank(cands, corev1.ResourceMemory)
	var got []string
	for _, c := range cands {
		got = append(got, c.Pod.Name)
	}
	want := "besteffort-big,over-small,over-high-prio,within-lowest,within-low-prio"
	if strings.Join(got, ",") != want {
		t.Fatalf("order %s, want %s", strings.Join(got, ","), want)
	}
}

// Under memory pressure the manager evicts the first pod in order, with
// upstream's message; critical pods are never chosen.
func TestEvictsUnderMemoryPressure(t *testing.T) {
	hard, _ := ParseThresholds(DefaultHard)
	in := &feed{r: plenty()}
	in.r.MemoryAvailable = 80 << 20
	static := pod("static", 0, "")
	static.Annotations = map[string]string{"kubernetes.io/config.source": "file"}
	critical := pod("critical", 2_000_001_000, "")
	victim := pod("hog", 0, "")
	guaranteed := pod("guaranteed", 0, "1Gi")
	var evicted []string
	var msg string
	var events []string
	m := New(Config{Hard: hard, Reader: in,
		Pods: func(context.Context) ([]*corev1.Pod, error) {
			return []*corev1.Pod{static, critical, guaranteed, victim}, nil
		},
		Usage: func(_ context.Context, pods []*corev1.Pod, res corev1.ResourceName) ([]Candidate, error) {
			if res != corev1.ResourceMemory {
				t.Errorf("measured %s", res)
			}
			var out []Candidate
			for _, p := range pods {
				if IsCritical(p) {
					t.Errorf("critical pod %s offered for eviction", p.Name)
				}
				out = append(out, Candidate{Pod: p, Usage: 300 << 20, Containers: map[string]int64{"c": 300 << 20}})
			}
			return out, nil
		},
		Evict: func(_ context.Context, p *corev1.Pod, m string) error {
			evicted, msg = append(evicted, p.Name), m
			return nil
		},
		NodeEvent: func(reason, message string) { events = append(events, reason+": "+message) },
	})
	if got := m.Synchronize(context.Background()); got == nil || got.Name != "hog" {
		t.Fatalf("evicted %v, want hog", evicted)
	}
	want := "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container c was using 300Mi, request is 0, has larger consumption of memory. "
	if msg != want {
		t.Fatalf("message\n%q, want\n%q", msg, want)
	}
	if len(events) != 1 || events[0] != "EvictionThresholdMet: Attempting to reclaim memory" {
		t.Fatalf("node events %v", events)
	}
}

// imagesFreeing is an ImageCollector that frees the feed's image space.
type imagesFreeing struct {
	in    *feed
	freed int64
	asked int64
}

func (g *imagesFreeing) FreeSpace(_ context.Context, want int64) error {
	g.asked = want
	g.in.r.ImageFs.Available += g.freed
	return nil
}

// For disk pressure, unused images go first; a pod is evicted only when
// that did not free enough.
func TestDiskPressureCollectsImagesFirst(t *testing.T) {
	hard, _ := ParseThresholds(DefaultHard)
	for _, tc := range []struct {
		freed     int64
		wantEvict bool
	}{{freed: 20 << 30, wantEvict: false}, {freed: 1 << 30, wantEvict: true}} {
		in := &feed{r: plenty()}
		in.r.ImageFs.Available = 10 << 30 // 10% < 15%
		gc := &imagesFreeing{in: in, freed: tc.freed}
		evicted := false
		m := New(Config{Hard: hard, Reader: in, Images: gc,
			Pods: func(context.Context) ([]*corev1.Pod, error) { return []*corev1.Pod{pod("p", 0, "")}, nil },
			Usage: func(_ context.Context, pods []*corev1.Pod, res corev1.ResourceName) ([]Candidate, error) {
				return []Candidate{{Pod: pods[0], Usage: 1 << 30}}, nil
			},
			Evict: func(context.Context, *corev1.Pod, string) error { evicted = true; return nil },
		})
		m.Synchronize(context.Background())
		if gc.asked != 15<<30 {
			t.Errorf("asked images for %d bytes available, want 15Gi", gc.asked)
		}
		if evicted != tc.wantEvict {
			t.Errorf("images freed %d: evicted %v, want %v", tc.freed, evicted, tc.wantEvict)
		}
		if st, _ := conditionStatus(m, corev1.NodeDiskPressure); st != corev1.ConditionTrue {
			t.Errorf("disk pressure %s, want True (the threshold was met)", st)
		}
	}
}

// After an eviction the manager waits until the pod has given back what
// it held (polling each second), and no longer than the cleanup timeout.
func TestWaitsForEvictedPodCleanup(t *testing.T) {
	hard, _ := ParseThresholds(DefaultHard)
	for _, tc := range []struct {
		name      string
		cleanedAt int // the poll at which Reclaimed turns true; 0: never
		wantPolls int
	}{
		{name: "cleaned up at the third poll", cleanedAt: 3, wantPolls: 3},
		{name: "never cleaned up", wantPolls: int(podCleanupTimeout/podCleanupPoll) + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &feed{r: plenty()}
			in.r.MemoryAvailable = 80 << 20
			hog := pod("hog", 0, "")
			clk := clocktesting.NewFakeClock(time.Now())
			polls := 0
			m := New(Config{Hard: hard, Reader: in, Clock: clk,
				Pods: func(context.Context) ([]*corev1.Pod, error) { return []*corev1.Pod{hog}, nil },
				Usage: func(_ context.Context, pods []*corev1.Pod, _ corev1.ResourceName) ([]Candidate, error) {
					return []Candidate{{Pod: pods[0], Usage: 300 << 20}}, nil
				},
				Evict: func(context.Context, *corev1.Pod, string) error { return nil },
				Reclaimed: func(_ context.Context, p *corev1.Pod) bool {
					if p.Name != "hog" {
						t.Errorf("asked about %s", p.Name)
					}
					polls++
					return polls == tc.cleanedAt
				},
			})
			done := make(chan *corev1.Pod)
			go func() { done <- m.Synchronize(context.Background()) }()
			for {
				select {
				case got := <-done:
					if got == nil || got.Name != "hog" {
						t.Fatalf("evicted %v, want hog", got)
					}
					if polls != tc.wantPolls {
						t.Fatalf("Reclaimed asked %d times, want %d", polls, tc.wantPolls)
					}
					return
				default:
				}
				if clk.HasWaiters() {
					clk.Step(podCleanupPoll)
				} else {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
}
