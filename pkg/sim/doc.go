// Package sim runs simulated nodes: Node objects that register, renew
// their Leases and report Ready, and that move the pods bound to them
// through their lifecycle (Running, optional exit, graceful deletion)
// by writing pod status only. Nothing is ever executed.
//
// Given the server's join token (Config.Stats) the nodes also report
// resource usage as agents do: the pods' flotilla.io/sim-cpu and
// flotilla.io/sim-memory annotations (a quantity or a ramp), served by
// one HTTPS listener of the process at /nodes/NODE/metrics/resource and
// /nodes/NODE/stats/summary, which each Node announces in its
// flotilla.io/stats-endpoint annotation.
//
// It exists to exercise the scheduler and the controllers at scale; real
// nodes are served by pkg/agent and never take this path. Several Sim
// instances (in one process or many) may share a cluster as long as their
// node names differ.
package sim
