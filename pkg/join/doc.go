// Package join lets a machine join the cluster as a node, as k3s does: the
// server keeps a join token (K10<sha256 of the cluster CA>::node:<secret>)
// in its data dir; an agent given that token fetches the CA, checks it
// against the hash it carries (so it cannot be fooled by another server),
// and exchanges a certificate request, authenticated by the secret, for a
// client certificate of system:node:<name> (client use only) and a serving
// certificate for its own addresses (server use only, never the API
// server's names). Its private keys never leave the agent. The first join
// of a name records a hash of a per-node password the agent keeps in its
// data dir (Secret kube-system/<name>.node-password.flotilla); later joins
// of that name must present it, so another machine holding the shared
// token cannot take the name over. `flotilla token rotate` replaces the
// token; joined agents keep their certificates.
package join
