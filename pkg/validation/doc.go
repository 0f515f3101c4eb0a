// Package validation checks API objects before the server stores them, the
// way upstream Kubernetes' registry strategies do.
//
// ValidateCreate, ValidateUpdate and ValidateStatusUpdate receive typed
// k8s.io/api objects after defaulting and return a field.ErrorList that the
// API server wraps in an Invalid status. Field paths, error types and
// messages deliberately follow upstream (pkg/apis/*/validation) so that
// clients such as kubectl print the same errors they would against a real
// cluster; the code itself is written independently.
//
// Where upstream relies on defaulting to fill a field before validation
// (restartPolicy, dnsPolicy, protocols, ...), an empty value is accepted here
// so that objects are not rejected merely because defaulting did not run.
package validation
