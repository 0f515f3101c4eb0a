package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"net/netip"
	"strconv"
	"strings"
)

// Object names in our table. Fixed objects have fixed names; a service
// port's chains and sets carry a kind prefix, a short hash (so names stay
// unique however namespaces and names combine) and the readable port name
// (so `nft list table ip flotilla` can be read by a human). Everything
// with one of the per-service prefixes is ours to delete when unwanted.
const (
	tableName = "flotilla"

	// Base chains, one per hook we use.
	chainNatPrerouting     = "nat-prerouting"
	chainNatOutput         = "nat-output"
	chainNatPostrouting    = "nat-postrouting"
	chainFilterInput       = "filter-input"
	chainFilterForward     = "filter-forward"
	chainFilterOutput      = "filter-output"
	chainFilterOutputPost  = "filter-output-post-dnat"
	chainServices          = "services"
	chainMasquerading      = "masquerading"
	chainMarkForMasquerade = "mark-for-masquerade"
	chainEndpointsCheck    = "service-endpoints-check"
	chainNodePortsCheck    = "nodeport-endpoints-check"
	chainClusterIPsCheck   = "cluster-ips-check"
	chainReject            = "reject-chain"

	// Maps and sets.
	mapServiceIPs         = "service-ips"           // ip . proto . port : verdict
	mapServiceNodePorts   = "service-nodeports"     // proto . port : verdict
	mapNoEndpointServices = "no-endpoint-services"  // ip . proto . port : verdict
	mapNoEndpointNodePort = "no-endpoint-nodeports" // proto . port : verdict
	setClusterIPs         = "cluster-ips"           // ip
	setNodePortIPs        = "nodeport-ips"          // ip

	// Per service port.
	prefixService  = "service-"  // Cluster traffic policy: all usable endpoints
	prefixLocal    = "local-"    // Local traffic policy: this node's endpoints
	prefixExternal = "external-" // NodePort, external and load-balancer IPs
	prefixEndpoint = "endpoint-" // DNAT to one endpoint
	prefixAffinity = "affinity-" // sessionAffinity ClientIP: clients of one endpoint
)

var servicePrefixes = []string{prefixService, prefixLocal, prefixExternal, prefixEndpoint}

// isServiceChain reports whether a chain belongs to some service port.
func isServiceChain(name string) bool {
	for _, p := range servicePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func hashName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:8]
}

// portNames are the object names of one service port.
type portNames struct {
	service, local, external string
}

func namesFor(k portKey) portNames {
	base := k.String()
	h := hashName(base) + "-" + base
	return portNames{service: prefixService + h, local: prefixLocal + h, external: prefixExternal + h}
}

// endpointChain and affinitySet are per endpoint of a service port.
func endpointChain(k portKey, ep netip.AddrPort) string {
	base := k.String() + "__" + ep.Addr().String() + "/" + strconv.Itoa(int(ep.Port()))
	return prefixEndpoint + hashName(base) + "-" + base
}

func affinitySet(k portKey, ep netip.AddrPort) string {
	base := k.String() + "__" + ep.Addr().String() + "/" + strconv.Itoa(int(ep.Port()))
	return prefixAffinity + hashName(base) + "-" + base
}
