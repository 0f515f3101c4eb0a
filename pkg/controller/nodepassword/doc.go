// Package nodepassword deletes a node's join password Secret
// (kube-system/NAME.node-password.flotilla, see pkg/join) once its Node
// is deleted, as k3s does with its node-password Secrets: the name is
// then free to be joined again by another machine.
//
// A machine records its password when it joins, moments before its Node
// exists, so a password Secret without a Node is freed only when the
// controller saw that Node deleted, or when the Secret is older than a
// registration grace period: the second case catches Nodes deleted while
// no controller was watching, found by a sweep when the controller starts.
package nodepassword
