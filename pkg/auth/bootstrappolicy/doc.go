// Package bootstrappolicy holds the RBAC roles and bindings every cluster
// starts with, as upstream's bootstrap policy defines them: the roles
// users are given (cluster-admin, admin, edit, view and what aggregates
// into them) and the roles of the system's own parts (scheduler,
// controllers, nodes). The server reconciles them on start.
package bootstrappolicy
