// Package node authorizes what node agents (user system:node:<name> in
// group system:nodes) may do, as upstream's Node authorizer: read the
// cluster's nodes, services and endpoints, write their own Node and Lease,
// report their pods, and read only the Secrets, ConfigMaps, volume claims,
// volumes and service account tokens that pods bound to them use (a graph
// of pods by node, fed by informers). It has no opinion on anything else,
// so RBAC decides; what a node may change inside the objects it may write
// is the NodeRestriction admission plugin's business.
package node
