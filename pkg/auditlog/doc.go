// Package auditlog is the API server's audit log in upstream's format:
// a policy file (audit.k8s.io/v1 Policy, --audit-policy-file) decides
// which requests are recorded at which level and stages, and the events
// are written as audit.k8s.io/v1 Event JSON lines to --audit-log-path,
// rotated by size and age. Policy loading and evaluation and the log
// backend are k8s.io/apiserver's; package apiserver builds the events.
package auditlog
