// Package authenticator turns a service account bearer token into the
// user it stands for, as upstream's service account authenticator does:
// the signature, time window and audience are checked by the signer, and
// then every object the token is bound to (its ServiceAccount, and the
// Pod, Secret or Node it names) must still exist with the same UID and
// not have been deleted more than a minute ago. Legacy Secret-based
// tokens must still be the token of an existing Secret.
package authenticator
