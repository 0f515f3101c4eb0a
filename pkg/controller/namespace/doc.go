// Package namespace implements the namespace controller: when a namespace
// is deleted it removes everything inside it and then releases the
// namespace by clearing its "kubernetes" finalizer.
package namespace
