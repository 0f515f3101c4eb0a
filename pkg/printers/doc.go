// Package printers builds the server-side meta.k8s.io/v1 Table for list
// objects, so that the stock `kubectl get` prints the same columns and cell
// values as it does against an upstream kube-apiserver.
//
// kubectl asks the server for a Table and prints it verbatim: the server
// decides the column set, the column order, which columns only appear with
// `-o wide` (Priority 1) and how every cell is rendered. Upstream always
// generates the wide cells on the server and lets kubectl hide the priority
// columns, so every row here carries one cell per column.
//
// Kinds with upstream-specific columns are listed in lookup (printers.go);
// everything else gets upstream's generic "Name, Created At" table.
package printers
