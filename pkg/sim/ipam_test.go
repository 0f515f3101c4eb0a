package sim

import (
	"log/slog"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestIPPool(t *testing.T) {
	p := newIPPool(netip.MustParsePrefix("10.128.5.0/29")) // .2 to .6 usable
	got := map[types.UID]string{}
	for _, uid := range []types.UID{"a", "b", "c", "d", "e"} {
		ip, err := p.allocate(uid)
		if err != nil {
			t.Fatalf("allocate %s: %v", uid, err)
		}
		got[uid] = ip.String()
	}
	want := map[types.UID]string{"a": "10.128.5.2", "b": "10.128.5.3", "c": "10.128.5.4", "d": "10.128.5.5", "e": "10.128.5.6"}
	for uid, ip := range want {
		if got[uid] != ip {
			t.Errorf("%s got %s, want %s", uid, got[uid], ip)
		}
	}
	if ip, _ := p.allocate("a"); ip.String() != "10.128.5.2" {
		t.Errorf("allocate is not idempotent: %s", ip)
	}
	if _, err := p.allocate("f"); err == nil {
		t.Error("allocate from a full pool succeeded")
	}
	p.release("c")
	p.release("c") // twice is harmless
	if ip, err := p.allocate("f"); err != nil || ip.String() != "10.128.5.4" {
		t.Errorf("after release: %s %v", ip, err)
	}
}

func TestIPPoolRoundRobin(t *testing.T) {
	p := newIPPool(netip.MustParsePrefix("10.128.0.0/24"))
	a, _ := p.allocate("a")
	p.release("a")
	b, _ := p.allocate("b")
	if a == b {
		t.Errorf("freed address %s reused at once", a)
	}
}

func TestIPPoolReserve(t *testing.T) {
	for _, tc := range []struct {
		name string
		uid  types.UID
		ip   string
		want bool
	}{
		{"free address", "x", "10.128.0.9", true},
		{"same pod again", "a", "10.128.0.7", true},
		{"held by another pod", "x", "10.128.0.7", false},
		{"network address", "x", "10.128.0.0", false},
		{"gateway", "x", "10.128.0.1", false},
		{"broadcast", "x", "10.128.0.255", false},
		{"outside", "x", "10.129.0.9", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newIPPool(netip.MustParsePrefix("10.128.0.0/24"))
			if !p.reserve("a", netip.MustParseAddr("10.128.0.7")) {
				t.Fatal("reserve in an empty pool failed")
			}
			if got := p.reserve(tc.uid, netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Errorf("reserve(%s, %s) = %v, want %v", tc.uid, tc.ip, got, tc.want)
			}
			if tc.want {
				if ip, _ := p.allocate(tc.uid); ip.String() != tc.ip {
					t.Errorf("allocate after reserve = %s", ip)
				}
			}
		})
	}
}

// A restarted sim reserves the addresses of the running pods it takes
// over before handing out any: a new pod synced first must not get one.
func TestReserveAdoptedAddresses(t *testing.T) {
	n := &simNode{name: "simre-0", pods: newIPPool(netip.MustParsePrefix("10.128.5.0/24"))}
	s := &Sim{log: slog.New(slog.DiscardHandler), byName: map[string]*simNode{n.name: n}}
	running := func(uid, node, ip string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)},
			Spec:       corev1.PodSpec{NodeName: node},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, StartTime: &metav1.Time{},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "c"}}},
		}
	}
	s.reserveAdoptedAddresses([]any{
		running("adopted", "simre-0", "10.128.5.2"),
		running("elsewhere", "other-node", "10.128.5.3"), // not this sim's node
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "pending"}, Spec: corev1.PodSpec{NodeName: "simre-0"}},
	})
	ip, err := n.pods.allocate("newcomer")
	if err != nil {
		t.Fatal(err)
	}
	if ip.String() != "10.128.5.3" {
		t.Errorf("newcomer got %s, want 10.128.5.3 (.2 is the adopted pod's)", ip)
	}
	st := &podState{uid: "adopted", node: n}
	if !st.adoptStatus(running("adopted", "simre-0", "10.128.5.2")) || st.ip.String() != "10.128.5.2" {
		t.Errorf("the adopted pod did not keep its address: %s", st.ip)
	}
}
