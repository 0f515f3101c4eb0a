// Package nodepassword deletes a node's join password Secret
// (kube-system/NAME.node-password.flotilla, see pkg/join) once its Node
// is deleted, as k3s does with its node-password Secrets: the name is
// then free to be joined again by another machine. Only a Node deletion
// frees a name; a password Secret without a Node is left alone, since a
// machine records its password when it joins, before its Node exists.
package nodepassword
