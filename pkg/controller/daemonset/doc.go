// Package daemonset implements the apps/v1 DaemonSet controller: it keeps
// one pod of each DaemonSet on every node the pod may run on, rolls out
// template changes, records template history in ControllerRevisions and
// reports status, as upstream's daemon controller does.
//
// A node is eligible when it matches the template's nodeSelector and
// required node affinity, carries no NoSchedule or NoExecute taint the pod
// does not tolerate, and (if the template names a node) is that node. A
// daemon pod already on a node whose taints stopped being tolerated stays
// unless the untolerated taint is NoExecute. Pods carry upstream's default
// DaemonSet tolerations (not-ready and unreachable NoExecute without
// tolerationSeconds; disk-, memory- and pid-pressure and unschedulable
// NoSchedule; network-unavailable NoSchedule for hostNetwork pods) and a
// required node affinity term whose matchFields pins metadata.name to
// their node: binding is the scheduler's job, as upstream since 1.12.
//
// Pods follow nodes: a node that becomes eligible gets a pod, a node that
// stops being eligible or is deleted loses it. Failed daemon pods are
// deleted, with a per-node exponential back-off, and replaced.
//
// Every template version has one ControllerRevision named
// <daemonset>-<hash>, labelled controller-revision-hash=<hash> like the
// pods made from it, owned by the DaemonSet, with an increasing revision
// number and data holding the strategic merge patch
// {"spec":{"template":{...,"$patch":"replace"}}} that restores the
// template: the shape kubectl rollout history and undo read and apply.
// Old revisions no pod uses are pruned beyond spec.revisionHistoryLimit.
//
// RollingUpdate replaces pods whose hash differs from the current one
// while at most maxUnavailable eligible nodes lack an available pod, or,
// with maxSurge, starts the new pod beside the old one and deletes the old
// one when the new one is available. OnDelete only replaces pods the user
// deletes. Pods and revisions matching the selector without a controller
// are adopted, and owned ones that no longer match are released
// (pkg/controller/refmanager).
package daemonset
