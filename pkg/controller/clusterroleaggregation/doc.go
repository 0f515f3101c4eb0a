// Package clusterroleaggregation keeps the rules of every ClusterRole
// with an aggregationRule equal to the union of the rules of the
// ClusterRoles its selectors match, as upstream's controller does: this
// is how admin, edit and view gain the rules of system:aggregate-to-*
// and of any role an operator labels to extend them.
package clusterroleaggregation
