// Package containerd runs the node agent's own containerd, as k3s does:
// it renders a config with the CRI settings these machines need (runc v2
// with cgroupfs, restricted oom_score_adj, our CNI directories and sandbox
// image), keeps all of containerd's state under the agent's data dir,
// starts it as a child that dies with the agent, waits until its CRI
// answers, and restarts it whenever it exits. Pods keep running across
// those restarts: their shims are not containerd's children.
package containerd
