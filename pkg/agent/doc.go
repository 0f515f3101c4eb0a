// Package agent is Flotilla's node agent (the kubelet's role): it
// registers its Node and renews its Lease, and runs the pods bound to it
// through a CRI runtime — by default a containerd it supervises itself,
// with pod networks from the standard CNI plugins.
//
// This package is the wiring: Config and its defaults, New, the start-up
// order of Run (runtime, node registration, streaming endpoint, log
// rotation, node status and lease loop, then the pods), the node's
// status and Lease (node.go), and the small services the parts share
// (events, ConfigMap and Secret reads, the node's allocatable as the
// node status last measured it). Each job is a package of its own:
//
//   - podworker: the level-triggered sync loop — a workqueue of pod keys
//     fed by an informer on the node's pods, a relist of the runtime every
//     second, the static pod sources and probe results; a sync moves one
//     pod one step towards its spec. It owns restart back-off, the active
//     deadline and admission (package admission) and drives the parts
//     below through small interfaces it declares (deps.go).
//   - containers: sandbox and container configs (env, /etc/hosts,
//     termination message files, runtime class, resources, security
//     context, ephemeral containers' targets).
//   - images: pulls as the pull policy asks, with the pod's pull secrets.
//   - volumes: the pods' volumes and directories, refreshed while they run.
//   - prober: liveness, readiness and startup probes; postStart and
//     preStop hooks.
//   - status: the pod's status computed from the runtime and written to
//     the pod (or a static pod's mirror).
//   - staticpods: the manifest directory and URL (config sources), the
//     static pod table and mirror pods.
//   - stream: logs, exec, attach and port-forward for the API server, and
//     log rotation.
//
// The path of one pod: the informer queues its key; the podworker syncs
// it — admission before its first sandbox, then the sandbox from the
// containers builder's config; for each container, images.Ensure, the
// builder's config (its mounts from volumes), create and start in the
// runtime, prober.PostStart; then prober.Sync follows the running
// containers, volumes.Refresh rewrites API-backed volumes, and
// status.Write reports the pod, reading ready and started from the
// prober. A container exit shows in the next relist, which queues the pod
// again; stream serves its logs and exec meanwhile. On deletion the
// podworker stops the containers (prober.StopContainer runs preStop
// hooks), writes the terminal phase, removes the sandbox and the pod's
// directory and logs (volumes.Cleanup) and lets the API forget the pod.
// Whatever else ends a pod, the podworker's housekeeping finds what it
// left (sandboxes, in-memory state, directories, mounts, address leases)
// and removes it; the agent's /metrics (metrics.go) counts what it keeps
// per pod.
//
// The static pods, the volumes (with their service account tokens) and
// the streaming endpoint outlive a run; the runtime and what is built on
// it (the podworker, prober, status manager and image puller) are made
// again by every Run.
package agent
