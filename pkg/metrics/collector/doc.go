// Package collector scrapes every node's resource metrics once per
// resolution period and hands each round to storage. Nodes come from a
// Node informer; each is reached at its flotilla.io/stats-endpoint
// annotation (simulated nodes) or at https://InternalIP:kubeletPort (node
// agents), with the API server's client certificate, at most Concurrency
// at once and each within Timeout. Nodes that do not answer are logged
// (at most once per node every few minutes) and left out of the round, as
// metrics-server leaves them out; nodes that announce no endpoint at all
// (simulated nodes whose sim has no join token) are counted in one line.
// A simulated node's made-up address is never dialled.
package collector
