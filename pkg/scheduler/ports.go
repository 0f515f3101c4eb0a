package scheduler

import (
	v1 "k8s.io/api/core/v1"
)

type hostPort struct {
	ip       string
	protocol v1.Protocol
	port     int32
}

// hostPorts lists the host ports the pod's containers and sidecars claim.
func hostPorts(pod *v1.Pod) []hostPort {
	var out []hostPort
	collect := func(cs []v1.Container, sidecarsOnly bool) {
		for i := range cs {
			if sidecarsOnly && !isSidecar(&cs[i]) {
				continue
			}
			for _, p := range cs[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
				if hp.ip == "" {
					hp.ip = "0.0.0.0"
				}
				if hp.protocol == "" {
					hp.protocol = v1.ProtocolTCP
				}
				out = append(out, hp)
			}
		}
	}
	collect(pod.Spec.InitContainers, true)
	collect(pod.Spec.Containers, false)
	return out
}

// conflicts: same port and protocol on the same address, the wildcard
// address overlapping every other.
func (a hostPort) conflicts(b hostPort) bool {
	if a.port != b.port || a.protocol != b.protocol {
		return false
	}
	return a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0"
}

// filterPorts is the NodePorts filter.
func filterPorts(pod *v1.Pod, ni *NodeInfo) *Status { return filterHostPorts(hostPorts(pod), ni) }

// filterHostPorts is filterPorts with the pod's ports listed.
func filterHostPorts(want []hostPort, ni *NodeInfo) *Status {
	if len(want) == 0 {
		return nil
	}
	for _, used := range ni.ports {
		for _, w := range want {
			if w.conflicts(used) {
				return fail(msgPorts)
			}
		}
	}
	return nil
}
