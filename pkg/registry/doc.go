// Package registry describes every resource the API server serves: its
// names, scope, subresources and storage, and the per-kind rules the
// generic REST handlers apply (field selectors, how spec and status are
// kept apart, when metadata.generation moves, how deletion is delayed).
package registry
