package endpointutil

import (
	"bytes"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Repack regroups subsets as upstream's RepackSubsets does: every address
// (by IP and target UID) is collected per port, ports whose addresses are
// the same (readiness included) share one subset, and an address that is
// not ready for a port anywhere is not ready for it. Port-less subsets (a
// headless Service without ports) keep their addresses without ports.
// Addresses are sorted by IP then UID; ports and subsets come in a fixed
// order (upstream orders them by a hash, which no client relies on).
func Repack(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	type addrKey struct {
		ip  string
		uid types.UID
	}
	type portID struct {
		name, app string
		hasApp    bool
		port      int32
		protocol  corev1.Protocol
	}
	sentinel := portID{port: -1}
	addrs := map[addrKey]*corev1.EndpointAddress{}
	byPort := map[portID]map[addrKey]bool{}
	ports := map[portID]corev1.EndpointPort{}
	mark := func(p portID, a *corev1.EndpointAddress, ready bool) {
		k := addrKey{ip: a.IP}
		if a.TargetRef != nil {
			k.uid = a.TargetRef.UID
		}
		if addrs[k] == nil {
			c := *a
			addrs[k] = &c
		}
		m := byPort[p]
		if m == nil {
			m = map[addrKey]bool{}
			byPort[p] = m
		}
		if was, found := m[k]; !found || was {
			m[k] = ready
		}
	}
	for i := range subsets {
		ss := &subsets[i]
		ids := []portID{sentinel}
		if len(ss.Ports) > 0 {
			ids = ids[:0]
			for _, p := range ss.Ports {
				id := portID{name: p.Name, port: p.Port, protocol: p.Protocol}
				if p.AppProtocol != nil {
					id.app, id.hasApp = *p.AppProtocol, true
				}
				ids = append(ids, id)
				ports[id] = p
			}
		}
		for _, id := range ids {
			for j := range ss.Addresses {
				mark(id, &ss.Addresses[j], true)
			}
			for j := range ss.NotReadyAddresses {
				mark(id, &ss.NotReadyAddresses[j], false)
			}
		}
	}
	type group struct {
		set   map[addrKey]bool
		ports []corev1.EndpointPort
	}
	groups := map[string]*group{}
	for id, set := range byPort {
		keys := make([]string, 0, len(set))
		for k, ready := range set {
			keys = append(keys, k.ip+"\x00"+string(k.uid)+"\x00"+strconv.FormatBool(ready))
		}
		sort.Strings(keys)
		sig := strings.Join(keys, "\x01")
		g := groups[sig]
		if g == nil {
			g = &group{set: set}
			groups[sig] = g
		}
		if id != sentinel {
			g.ports = append(g.ports, ports[id])
		}
	}
	out := make([]corev1.EndpointSubset, 0, len(groups))
	for _, g := range groups {
		var ss corev1.EndpointSubset
		for k, ready := range g.set {
			if ready {
				ss.Addresses = append(ss.Addresses, *addrs[k])
			} else {
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, *addrs[k])
			}
		}
		sortAddresses(ss.Addresses)
		sortAddresses(ss.NotReadyAddresses)
		sort.Slice(g.ports, func(i, j int) bool { return lessPort(&g.ports[i], &g.ports[j]) })
		ss.Ports = g.ports
		out = append(out, ss)
	}
	sort.Slice(out, func(i, j int) bool { return subsetOrder(&out[i]) < subsetOrder(&out[j]) })
	return out
}

// LessAddress orders addresses by IP, then target UID (one without a
// target first), as upstream.
func LessAddress(a, b *corev1.EndpointAddress) bool {
	if c := bytes.Compare([]byte(a.IP), []byte(b.IP)); c != 0 {
		return c < 0
	}
	if b.TargetRef == nil {
		return false
	}
	if a.TargetRef == nil {
		return true
	}
	return a.TargetRef.UID < b.TargetRef.UID
}

func sortAddresses(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool { return LessAddress(&a[i], &a[j]) })
}

func lessPort(a, b *corev1.EndpointPort) bool {
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if a.Port != b.Port {
		return a.Port < b.Port
	}
	return a.Protocol < b.Protocol
}

// subsetOrder sorts subsets by their first port, then first address.
func subsetOrder(ss *corev1.EndpointSubset) string {
	var b strings.Builder
	for _, p := range ss.Ports {
		b.WriteString(p.Name + "/" + strconv.Itoa(int(p.Port)) + "/" + string(p.Protocol) + ",")
	}
	b.WriteByte('#')
	for _, a := range append(append([]corev1.EndpointAddress(nil), ss.Addresses...), ss.NotReadyAddresses...) {
		b.WriteString(a.IP + ",")
	}
	return b.String()
}
