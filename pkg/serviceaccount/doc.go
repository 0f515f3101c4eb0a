// Package serviceaccount issues and checks service account tokens: JWTs
// signed with the cluster's service-account key (ES256). Bound tokens
// carry upstream's claims (iss, sub, aud, exp, iat, nbf, jti and the
// kubernetes.io namespace / serviceaccount / pod / secret / node
// binding); legacy tokens, kept in Secrets of type
// kubernetes.io/service-account-token, carry the flat
// kubernetes.io/serviceaccount/* claims and never expire. Whether the
// objects a token names still exist is checked by package authenticator.
//
// Signing and parsing go through github.com/golang-jwt/jwt/v5; the
// header and claims are those Flotilla wrote before it did, so tokens
// issued earlier keep verifying.
package serviceaccount
