package podnet

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

type fakeHost map[netip.Addr]reach

func (f fakeHost) reach(a netip.Addr) (reach, error) { return f[a], nil }

func node(name, cidr, ip, mac string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	if mac != "" {
		n.Annotations = map[string]string{AnnotationVTEPMAC: mac}
	}
	return n
}

func TestMakePlan(t *testing.T) {
	const (
		macB = "02:00:00:00:00:0b"
		macC = "02:00:00:00:00:0c"
	)
	host := fakeHost{
		netip.MustParseAddr("10.0.0.1"): reachLocal,
		netip.MustParseAddr("10.0.0.2"): reachConnected,
		netip.MustParseAddr("10.9.0.3"): reachRouted,
	}
	nodes := []*corev1.Node{
		node("c", "10.42.3.0/24", "10.9.0.3", macC),
		node("a", "10.42.1.0/24", "10.0.0.1", ""), // this node
		node("b", "10.42.2.0/24", "10.0.0.2", macB),
		node("no-range", "", "10.0.0.7", ""),
		node("no-ip", "10.42.7.0/24", "", ""),
		node("same-host", "10.42.8.0/24", "10.0.0.1", ""),
		node("loop", "10.42.9.0/24", "127.0.0.1", ""),
		node("zz-dup", "10.42.2.0/24", "10.0.0.2", ""),
		node("overlap", "10.42.1.128/25", "10.0.0.2", ""),
		node("outside", "10.99.0.0/24", "10.0.0.2", ""),
	}
	direct := func(gw string) route { return route{gw: netip.MustParseAddr(gw)} }
	overlay := func(gw string) route { return route{gw: netip.MustParseAddr(gw), overlay: true} }
	type want struct {
		routes  map[string]route
		neigh   map[string]string
		fdb     map[string]string
		skipped []string // names; the reasons are checked to be set
	}
	always := []string{"no-range", "no-ip", "same-host", "loop", "zz-dup", "overlap", "outside"}
	for _, tc := range []struct {
		name   string
		cfg    Config
		want   want
		reason map[string]string // substrings of some skip reasons
	}{{
		name: "vxlan: every peer with a MAC through the overlay",
		cfg:  Config{Backend: BackendVXLAN},
		want: want{
			routes: map[string]route{"10.42.2.0/24": overlay("10.42.2.0"), "10.42.3.0/24": overlay("10.42.3.0")},
			neigh:  map[string]string{"10.42.2.0": macB, "10.42.3.0": macC},
			fdb:    map[string]string{macB: "10.0.0.2", macC: "10.9.0.3"},
		},
		reason: map[string]string{"same-host": "this host's", "zz-dup": "already claims", "overlap": "overlaps", "outside": "outside the cluster range", "no-ip": "InternalIP", "no-range": "spec.podCIDR"},
	}, {
		name: "vxlan with direct routing: the connected peer directly",
		cfg:  Config{Backend: BackendVXLAN, DirectRouting: true},
		want: want{
			routes: map[string]route{"10.42.2.0/24": direct("10.0.0.2"), "10.42.3.0/24": overlay("10.42.3.0")},
			neigh:  map[string]string{"10.42.3.0": macC},
			fdb:    map[string]string{macC: "10.9.0.3"},
		},
	}, {
		name: "host-gw: the routed peer is left out",
		cfg:  Config{Backend: BackendHostGW},
		want: want{
			routes:  map[string]route{"10.42.2.0/24": direct("10.0.0.2")},
			skipped: []string{"c"},
		},
		reason: map[string]string{"c": "directly connected"},
	}, {
		name: "none",
		cfg:  Config{Backend: BackendNone},
		want: want{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.NodeName = "a"
			cfg.NodeIP = netip.MustParseAddr("10.0.0.1")
			cfg.PodCIDR = netip.MustParsePrefix("10.42.1.0/24")
			cfg.ClusterCIDR = netip.MustParsePrefix("10.42.0.0/16")
			p, err := makePlan(&cfg, nodes, host)
			if err != nil {
				t.Fatal(err)
			}
			routes := map[string]route{}
			for k, v := range p.routes {
				routes[k.String()] = v
			}
			neigh := map[string]string{}
			for k, v := range p.neigh {
				neigh[k.String()] = v
			}
			fdb := map[string]string{}
			for k, v := range p.fdb {
				fdb[k] = v.String()
			}
			w := tc.want
			for _, m := range []*map[string]string{&w.neigh, &w.fdb} {
				if *m == nil {
					*m = map[string]string{}
				}
			}
			if w.routes == nil {
				w.routes = map[string]route{}
			}
			if !reflect.DeepEqual(routes, w.routes) || !reflect.DeepEqual(neigh, w.neigh) || !reflect.DeepEqual(fdb, w.fdb) {
				t.Fatalf("plan:\nroutes %v\nneigh %v\nfdb %v\nwant\nroutes %v\nneigh %v\nfdb %v", routes, neigh, fdb, w.routes, w.neigh, w.fdb)
			}
			wantSkipped := append([]string(nil), w.skipped...)
			if cfg.Backend != BackendNone {
				wantSkipped = append(wantSkipped, always...)
			}
			if len(p.skipped) != len(wantSkipped) {
				t.Fatalf("skipped %v, want %v", p.skipped, wantSkipped)
			}
			for _, name := range wantSkipped {
				if p.skipped[name] == "" {
					t.Errorf("%s not skipped with a reason: %v", name, p.skipped)
				}
			}
			for name, sub := range tc.reason {
				if !strings.Contains(p.skipped[name], sub) {
					t.Errorf("reason for %s = %q, want it to mention %q", name, p.skipped[name], sub)
				}
			}
		})
	}
}

func TestVTEPMACIsStableLocalUnicast(t *testing.T) {
	a, b := vtepMAC("node-a"), vtepMAC("node-a")
	if a.String() != b.String() {
		t.Fatalf("MAC of one name differs: %s %s", a, b)
	}
	if a.String() == vtepMAC("node-b").String() {
		t.Fatalf("two names, one MAC %s", a)
	}
	if a[0]&1 != 0 || a[0]&2 == 0 {
		t.Fatalf("%s is not a locally administered unicast address", a)
	}
}

func TestParseBackendAndCheck(t *testing.T) {
	for _, s := range []string{"vxlan", "host-gw", "none"} {
		if _, err := ParseBackend(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseBackend("wireguard-native"); err == nil || !strings.Contains(err.Error(), "want vxlan, host-gw or none") {
		t.Errorf("wireguard-native accepted: %v", err)
	}
	base := func() Config {
		return Config{NodeName: "a", NodeIP: netip.MustParseAddr("10.0.0.1"), PodCIDR: netip.MustParsePrefix("10.42.1.0/24"),
			ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.43.0.0/16"), Client: fake.NewClientset()}
	}
	bad := map[string]func(*Config){
		"client is required":       func(c *Config) { c.Client = nil },
		"not inside the cluster":   func(c *Config) { c.PodCIDR = netip.MustParsePrefix("10.50.1.0/24") },
		"option of the vxlan":      func(c *Config) { c.Backend, c.DirectRouting = BackendHostGW, true },
		"not an IPv4 address":      func(c *Config) { c.NodeIP = netip.MustParseAddr("fd00::1") },
		"the node name is require": func(c *Config) { c.NodeName = "" },
	}
	good := base()
	if err := good.check(); err != nil || good.Backend != BackendVXLAN {
		t.Fatalf("valid config: %v, backend %q", err, good.Backend)
	}
	for want, mutate := range bad {
		c := base()
		mutate(&c)
		if err := c.check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}
