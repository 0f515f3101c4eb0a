package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func withPort(p *v1.Pod, ip string, proto v1.Protocol, port int32) *v1.Pod {
	p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, v1.ContainerPort{ContainerPort: 80, HostIP: ip, Protocol: proto, HostPort: port})
	return p
}

func TestFilterPorts(t *testing.T) {
	cases := []struct {
		name     string
		existing *v1.Pod
		incoming *v1.Pod
		ok       bool
	}{
		{"no host ports", withPort(pod("e", "", ""), "", "", 80), pod("p", "", ""), true},
		{"same port", withPort(pod("e", "", ""), "", "", 80), withPort(pod("p", "", ""), "", "", 80), false},
		{"other port", withPort(pod("e", "", ""), "", "", 80), withPort(pod("p", "", ""), "", "", 81), true},
		{"other protocol", withPort(pod("e", "", ""), "", v1.ProtocolTCP, 53), withPort(pod("p", "", ""), "", v1.ProtocolUDP, 53), true},
		{"TCP is the default", withPort(pod("e", "", ""), "", v1.ProtocolTCP, 80), withPort(pod("p", "", ""), "", "", 80), false},
		{"different IPs", withPort(pod("e", "", ""), "10.0.0.1", "", 80), withPort(pod("p", "", ""), "10.0.0.2", "", 80), true},
		{"wildcard against IP", withPort(pod("e", "", ""), "0.0.0.0", "", 80), withPort(pod("p", "", ""), "10.0.0.2", "", 80), false},
		{"IP against empty (wildcard)", withPort(pod("e", "", ""), "10.0.0.1", "", 80), withPort(pod("p", "", ""), "", "", 80), false},
	}
	for _, tc := range cases {
		st := filterPorts(tc.incoming, NewNodeInfo(node("n", nil, "1", "1Gi"), on(tc.existing, "n")))
		if st.OK() != tc.ok {
			t.Errorf("%s: ok=%v, want %v", tc.name, st.OK(), tc.ok)
		}
		if !st.OK() && st.Reasons[0] != "node(s) didn't have free ports for the requested pod ports" {
			t.Errorf("%s: %q", tc.name, st.Reasons)
		}
	}
}
