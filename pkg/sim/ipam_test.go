package sim

import (
	"net/netip"
	"testing"

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
