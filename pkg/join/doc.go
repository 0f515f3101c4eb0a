// Package join lets a machine join the cluster as a node, as k3s does: the
// server keeps a join token (K10<sha256 of the cluster CA>::node:<secret>)
// in its data dir; an agent given that token fetches the CA, checks it
// against the hash it carries (so it cannot be fooled by another server),
// and exchanges a certificate request, authenticated by the secret, for a
// client certificate of system:node:<name>. Its private key never leaves
// the agent.
package join
