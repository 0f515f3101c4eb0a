// Package serviceaccount issues and checks service account tokens: JWTs
// signed with the cluster's service-account key (ES256), carrying the
// upstream claims (issuer, subject system:serviceaccount:NS:NAME,
// audiences, expiry, and the kubernetes.io namespace / serviceaccount /
// pod binding), so client-go running in a pod talks to the API as its
// service account.
package serviceaccount
