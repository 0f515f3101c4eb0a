package netpol

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"
)

// Object names in our table. A policy's chains and sets carry a short
// hash of namespace/name (so names stay unique however long they are,
// and once the readable part is cut) and the readable namespace/name, so
// that `nft list table inet flotilla-netpol` reads like the policies.
const (
	tableName = "flotilla-netpol"

	chainEgress  = "egress"  // base chain, forward hook: the sending pod's policies
	chainIngress = "ingress" // base chain, forward hook: the receiving pod's policies
	chainReject  = "reject"

	mapEgressPods  = "egress-pods"  // ipv4_addr : verdict (goto pod-eg-IP)
	mapIngressPods = "ingress-pods" // ipv4_addr : verdict (goto pod-in-IP)
)

// maxReadable bounds the readable part of a name: the kernel takes 255
// bytes, and the kinds and hashes around it need some.
const maxReadable = 200

func hashName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:8]
}

func policyBase(k types.NamespacedName) string {
	readable := k.Namespace + "/" + k.Name
	if len(readable) > maxReadable {
		readable = readable[:maxReadable]
	}
	return hashName(k.Namespace+"/"+k.Name) + "-" + readable
}

// policyChain is the chain of one policy's rules in one direction.
func policyChain(k types.NamespacedName, d dir) string {
	return "pol-" + d.short() + "-" + policyBase(k)
}

// podChain is the chain of the policies isolating one pod of this node.
func podChain(ip netip.Addr, d dir) string {
	return "pod-" + d.short() + "-" + ip.String()
}

// peerSetName is the set of the addresses a rule's pod peers select.
func peerSetName(k types.NamespacedName, d dir, rule int) string {
	return fmt.Sprintf("peers-%s-%s-r%d", d.short(), policyBase(k), rule)
}

// namedPortSetName is the set of address . protocol . port a rule's named
// port resolves to.
func namedPortSetName(k types.NamespacedName, d dir, rule, port int) string {
	return fmt.Sprintf("ports-%s-%s-r%d-p%d", d.short(), policyBase(k), rule, port)
}

func podMap(d dir) string {
	if d == ingress {
		return mapIngressPods
	}
	return mapEgressPods
}
