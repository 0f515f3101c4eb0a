// Package sim runs simulated nodes: Node objects that register, renew
// their Leases and report Ready, and that move the pods bound to them
// through their lifecycle (Running, optional exit, graceful deletion)
// by writing pod status only. Nothing is ever executed.
//
// It exists to exercise the scheduler and the controllers at scale; real
// nodes are served by pkg/agent and never take this path. Several Sim
// instances (in one process or many) may share a cluster as long as their
// node names differ.
package sim
