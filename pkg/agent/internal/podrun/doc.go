// Package podrun holds what the node agent's parts share about one pod:
// the labels that name its sandbox and containers in the CRI runtime, the
// directories that hold its files and logs on the node, and Run, what the
// runtime holds for the pod at one sync (its sandbox, address and
// container attempts) together with the reasons containers could not
// start.
//
// It is the agent's counterpart of the kubelet's kubecontainer types:
// the pod worker fills a Run, the status manager, the prober and the
// container config builder read it.
package podrun
