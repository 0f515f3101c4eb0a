// Package reviews serves the create-only review APIs that ask the server
// about identities and permissions rather than store anything:
// authorization.k8s.io/v1 SelfSubjectAccessReview, SelfSubjectRulesReview,
// SubjectAccessReview and LocalSubjectAccessReview (`kubectl auth can-i`),
// and authentication.k8s.io/v1 SelfSubjectReview (`kubectl auth whoami`)
// and TokenReview. Each request is answered from the body it carries and
// the caller's identity; nothing is written.
package reviews
