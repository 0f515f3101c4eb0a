// Package encryption keeps Secrets encrypted at rest, as k3s's
// --secrets-encryption: an EncryptionConfiguration (upstream's
// apiserver.config.k8s.io/v1 format) in the data directory names the
// keys, the storage layer passes every value of a configured resource
// through the transformer built from it (upstream's aescbc, aesgcm,
// secretbox and identity transformers, so values carry upstream's
// k8s:enc:aescbc:v1:KEYNAME: prefix), and key rotation adds a new key
// first, rewrites every Secret with it and then drops the old keys.
package encryption
