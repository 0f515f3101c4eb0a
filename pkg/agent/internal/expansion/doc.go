// Package expansion replaces $(NAME) references with variables as the
// Kubernetes API defines it for env values, command, args and
// subPathExpr: $$ escapes a dollar, unknown references stay as written.
package expansion
