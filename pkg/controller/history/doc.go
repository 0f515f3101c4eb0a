// Package history encodes the data of the ControllerRevisions that
// DaemonSets and StatefulSets keep: a strategic merge patch
// {"spec":{"template":{...,"$patch":"replace"}}} that restores a template.
//
// Clients find the current revision by computing that patch from the
// object they read and comparing bytes (kubectl rollout undo, upstream's
// e2e suite through daemon.Match), so the bytes must be the ones a client
// of the Kubernetes version the server reports (v1.32) computes. The API
// types this module builds with are newer and leave out a zero
// metadata.creationTimestamp that v1.32 writes as null; TemplatePatch puts
// it back. Same compares data semantically, so revisions written in
// either form are recognised.
package history
