// Package status computes a pod's status from what the runtime holds for
// it and writes it to the API (the kubelet's status manager): phase from
// the containers' states and the restart policy, container statuses with
// restart counts, last terminations and termination messages, ready and
// started flags from the probe results, ephemeral container statuses, and
// the PodReadyToStartContainers, Initialized, Ready, ContainersReady and
// PodScheduled conditions, whose transition times move only when their
// status changes. Conditions set by others (readiness gates, disruption)
// are kept. A status is written only when it changed; a static pod's goes
// to its mirror pod.
//
// An exited container's termination message (its message file, or with
// FallbackToLogsOnError the end of its log) is read once per container and
// remembered until the runtime no longer has the container.
package status
