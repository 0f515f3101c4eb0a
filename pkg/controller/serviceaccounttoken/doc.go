// Package serviceaccounttoken is upstream's tokens controller for legacy
// service account tokens: a Secret of type
// kubernetes.io/service-account-token annotated with
// kubernetes.io/service-account.name gets a never-expiring token of that
// account, the cluster CA (ca.crt) and its namespace filled in, and the
// account's UID annotated; such a Secret whose account is missing or was
// recreated is deleted, as are an account's token Secrets when the
// account goes. No Secret is created for an account on its own
// (LegacyServiceAccountTokenNoAutoGeneration).
package serviceaccounttoken
