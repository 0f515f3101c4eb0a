package sim

import (
	"net/netip"
	"testing"
)

func TestBlocksFor(t *testing.T) {
	for _, tc := range []struct{ pods, want int }{
		{1, 1}, {110, 1}, {253, 1}, {254, 2}, {509, 2}, {510, 4}, {maxPodsPerNode, 16},
	} {
		if got := blocksFor(tc.pods); got != tc.want {
			t.Errorf("blocksFor(%d) = %d, want %d", tc.pods, got, tc.want)
		}
	}
}

func TestBlockMap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		taken []string
		n     int
		want  []string
	}{
		{"empty", nil, 1, []string{"10.128.0.0/24", "10.128.1.0/24", "10.128.2.0/24"}},
		{"skips taken", []string{"10.128.0.0/24", "10.128.2.0/25"}, 1, []string{"10.128.1.0/24", "10.128.3.0/24"}},
		{"aligned runs", []string{"10.128.1.0/24"}, 2, []string{"10.128.2.0/23", "10.128.4.0/23"}},
		{"large prefix taken", []string{"10.128.0.0/16"}, 1, []string{"10.129.0.0/24"}},
		{"outside range ignored", []string{"10.42.0.0/24", "10.0.0.0/8", "192.168.0.0/16"}, 1, nil},
		{"real agents' range", []string{"10.42.0.0/24"}, 1, []string{"10.128.0.0/24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m blockMap
			for _, p := range tc.taken {
				m.mark(netip.MustParsePrefix(p))
			}
			for _, want := range tc.want {
				got, ok := m.take(tc.n)
				if !ok || got.String() != want {
					t.Fatalf("take(%d) = %v %v, want %s", tc.n, got, ok, want)
				}
			}
		})
	}
}

func TestBlockMapExhausted(t *testing.T) {
	var m blockMap
	m.mark(podRange)
	if p, ok := m.take(1); ok {
		t.Fatalf("take from a full range = %v", p)
	}
}

func TestNodeIP(t *testing.T) {
	for _, tc := range []struct{ cidr, want string }{
		{"10.128.0.0/24", "10.200.0.1"},
		{"10.128.1.0/24", "10.200.0.2"},
		{"10.129.0.0/23", "10.200.1.1"},
		{"10.191.255.0/24", "10.200.64.0"},
	} {
		if got := nodeIP(netip.MustParsePrefix(tc.cidr)); got.String() != tc.want {
			t.Errorf("nodeIP(%s) = %s, want %s", tc.cidr, got, tc.want)
		}
	}
}
