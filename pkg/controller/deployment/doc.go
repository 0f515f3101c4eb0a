// Package deployment implements the apps/v1 Deployment controller: it
// rolls a Deployment's pod template out through ReplicaSets, as upstream's
// deployment controller does.
//
// Every distinct pod template gets its own ReplicaSet, named
// <deployment>-<pod-template-hash>, whose selector, template labels (and
// so pods) carry the pod-template-hash label, and whose controller
// reference points at the Deployment. The hash is FNV-32a over the
// template's deep-printed form plus status.collisionCount, rendered with
// rand.SafeEncodeString; a name clash with a foreign ReplicaSet bumps
// collisionCount and the next sync tries another name.
//
// The ReplicaSet whose template equals the Deployment's (ignoring the hash
// label) is the new one; all others are old. A template change (kubectl
// set image, apply, rollout restart) creates a new ReplicaSet or, for
// kubectl rollout undo, reuses the old one with the same template and
// gives it the next revision. The RollingUpdate strategy moves replicas
// from old to new within spec.replicas+maxSurge total and
// spec.replicas-maxUnavailable available; Recreate scales every old
// ReplicaSet to zero and waits for their pods to go before scaling the new
// one up. A change of spec.replicas while several ReplicaSets are active
// (mid-rollout or paused) is spread over them in proportion to their size.
// A paused Deployment is scaled and has its status kept, but makes no
// rollout progress.
//
// Annotations: deployment.kubernetes.io/revision on the Deployment and its
// ReplicaSets; desired-replicas and max-replicas on the ReplicaSets; other
// Deployment annotations (kubernetes.io/change-cause among them) are
// copied to the new ReplicaSet, so kubectl rollout history can show them.
// Old ReplicaSets scaled to zero beyond spec.revisionHistoryLimit are
// deleted, oldest revision first.
//
// Status reports replica counts summed over the ReplicaSets, the
// Available condition (MinimumReplicasAvailable/Unavailable) and, with a
// progress deadline, the Progressing condition (NewReplicaSetCreated,
// FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable,
// ProgressDeadlineExceeded, DeploymentPaused/Resumed), which is what
// kubectl rollout status reads.
//
// Deliberate differences from upstream: the deprecated rollback-to
// annotation (extensions/v1beta1 rollback) is ignored; status does not
// report terminatingReplicas; and when deciding how far old ReplicaSets
// may be scaled down a ReplicaSet counts at most spec.replicas available
// pods, so a status that lags a scale-down never lets availability drop
// below spec.replicas-maxUnavailable.
package deployment
