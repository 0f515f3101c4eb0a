// Package statefulset implements the apps/v1 StatefulSet controller: pods
// with stable names and storage, created, scaled and updated in ordinal
// order, as upstream's statefulset controller does.
//
// A StatefulSet of N replicas owns pods NAME-s … NAME-(s+N-1), s being
// spec.ordinals.start (0 by default). Each pod carries the labels
// statefulset.kubernetes.io/pod-name and apps.kubernetes.io/pod-index,
// hostname = its name and subdomain = spec.serviceName, and, for every
// volumeClaimTemplate T, a volume T bound to the PersistentVolumeClaim
// T-NAME-ORDINAL, which is created (labelled with the template's labels
// and the selector's matchLabels) before the pod and outlives it.
//
// With podManagementPolicy OrderedReady a pod is created only when every
// lower ordinal is Running and Ready (for spec.minReadySeconds), and pods beyond the replica count
// are deleted from the highest ordinal down, one at a time, each after
// the previous one is gone. Parallel creates and deletes without waiting.
// Failed or succeeded pods are deleted and recreated under the same name:
// at once the first time, then, while the pods of that ordinal keep
// finishing without ever running (a node rejecting them), after a
// back-off doubling from 1 s to 30 s, instead of upstream's tight loop.
//
// Every distinct pod template is recorded as a ControllerRevision named
// NAME-HASH whose data is the upstream-shaped patch
// {"spec":{"template":{…,"$patch":"replace"}}}, so kubectl rollout
// history and undo work; pods carry the name of their revision in the
// label controller-revision-hash. status.updateRevision is the revision
// of the current template, status.currentRevision the one the set is
// rolling from; they meet when a rolling update completes. Unused
// revisions beyond spec.revisionHistoryLimit (default 10) are deleted,
// oldest first.
//
// updateStrategy RollingUpdate deletes pods not at the update revision
// from the highest ordinal down to rollingUpdate.partition, at most
// rollingUpdate.maxUnavailable (default 1) unavailable at a time, and the
// replacements are created at the update revision; pods below the
// partition are (re)created at the current revision. OnDelete replaces a
// pod only when something else deletes it.
//
// persistentVolumeClaimRetentionPolicy whenDeleted: Delete gives the
// claims an owner reference to the StatefulSet and whenScaled: Delete an
// owner reference to the condemned pod before it is deleted, so that the
// garbage collector removes them; Retain (the default) never touches
// existing claims.
//
// Pods that have no controller, match the selector and whose name makes
// them members (NAME-ORDINAL) are adopted, and so are revisions without a
// controller that match the selector; owned pods that no longer match are
// released (pkg/controller/refmanager).
package statefulset
